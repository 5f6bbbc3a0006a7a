"""The typed values that ride on test reports (:mod:`.wire` carries them as plain data).

An item test's :class:`ItemReport` and a gate test's :class:`GateReport` are
attached to the test's call report by the process that ran the test and read back
by the reporting process, the same process in a serial run or the xdist
controller. A gate report carries its suite's summary row once per process (the
first gate of the suite that ran there), with a digest of the scores it was
computed on: the controller takes that row instead of computing it again when its
own scores for the suite have the same digest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from ..execution.run_stats import RunStats
from ..records import ItemScore
from ..report.facts import SuiteFacts
from ..report.summary import GateVerdict, ModelSummary, SuiteSummary
from .wire import GATE, ITEM, read


@dataclass(frozen=True)
class ItemReport:
    """What an item test found: its score and outcome (``passed``, ``improved``, ``regressed``, ...)."""

    suite: str
    score: ItemScore
    outcome: str

    def to_json(self) -> dict[str, Any]:
        return {"suite": self.suite, "score": self.score.to_json(), "outcome": self.outcome}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ItemReport:
        return cls(str(data["suite"]), ItemScore.from_json(data["score"]), str(data["outcome"]))


@dataclass(frozen=True)
class GateReport:
    """What a gate test decided, and (from the first gate of its suite in a process) the suite's summary row."""

    suite: str
    verdict: GateVerdict
    row: SuiteSummary | None = None
    digest: str | None = None
    """:func:`~pytest_medmodel.records.scores_digest` of the scores the row was computed on."""

    def to_json(self) -> dict[str, Any]:
        return {
            "suite": self.suite,
            "verdict": self.verdict.to_json(),
            "row": self.row.to_json() if self.row is not None else None,
            "digest": self.digest,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GateReport:
        row = data.get("row")
        return cls(
            str(data["suite"]),
            GateVerdict(**data["verdict"]),
            SuiteSummary.from_json(row) if row is not None else None,
            data.get("digest"),
        )


@dataclass(frozen=True)
class ProcessReport:
    """What one test process knew at its end: its model, its suites, its inference statistics.

    A serial run hands it to its own controller; an xdist worker sends it as plain
    data through ``workeroutput``.
    """

    model: ModelSummary | None = None
    stats: RunStats = field(default_factory=RunStats)
    model_seconds: float = 0.0
    suites: Mapping[str, SuiteFacts] = field(default_factory=dict)
    run_id: str | None = None
    """Set when the process scored anything (its run-scoped prediction store is removed at the end)."""
    metrics_known: tuple[str, ...] = ()
    """Every metric this process had registered (a conftest below the rootdir is not loaded elsewhere)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model.to_json() if self.model is not None else None,
            "stats": self.stats.to_json(),
            "model_seconds": self.model_seconds,
            "suites": {key: facts.to_json() for key, facts in self.suites.items()},
            "run_id": self.run_id,
            "metrics_known": list(self.metrics_known),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ProcessReport:
        model = data.get("model")
        return cls(
            model=ModelSummary(**model) if model else None,
            stats=RunStats.from_json(data.get("stats") or {}),
            model_seconds=float(data.get("model_seconds") or 0.0),
            suites={str(k): SuiteFacts.from_json(v) for k, v in (data.get("suites") or {}).items()},
            run_id=data.get("run_id"),
            metrics_known=tuple(data.get("metrics_known") or ()),
        )


def item_report(report: pytest.TestReport) -> ItemReport | None:
    data = read(report, ITEM)
    return ItemReport.from_json(data) if data is not None else None


def gate_report(report: pytest.TestReport) -> GateReport | None:
    data = read(report, GATE)
    return GateReport.from_json(data) if data is not None else None
