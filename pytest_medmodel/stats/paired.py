"""The numbers of a paired comparison with a baseline, without item lists: plain data for summaries and reports.

Built by :func:`pytest_medmodel.gates.comparison.compare`; read by the gates, the
power figures and every report.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .significance import mcnemar_one_sided


@dataclass(frozen=True)
class PairedStats:
    """The numbers of a comparison, without item lists: plain data for summaries and reports."""

    n: int
    """Items evaluated in this run."""
    correct: int
    has_baseline: bool
    paired: int = 0
    baseline_correct: int = 0
    """Correct in the baseline, among paired items."""
    current_correct: int = 0
    """Correct now, among paired items."""
    regressed: int = 0
    improved: int = 0
    warnings: tuple[str, ...] = ()
    chance: float | None = None
    """Expected accuracy of random answers: mean of 1/(number of options) over the paired items
    (over the evaluated items when nothing is paired); None when the suite did not say."""
    regressed_ids: tuple[str, ...] = ()
    """The first few (:data:`~pytest_medmodel.gates.comparison.SHOWN`) regressed items as ``id baseline->current``."""
    improved_ids: tuple[str, ...] = ()
    cluster_p: float | None = None
    """The accuracy gate's test when items share clusters (McNemar over clusters); None: items alone."""

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.n if self.n else None

    @property
    def baseline_accuracy(self) -> float | None:
        return self.baseline_correct / self.paired if self.paired else None

    @property
    def paired_accuracy(self) -> float | None:
        return self.current_correct / self.paired if self.paired else None

    @property
    def delta(self) -> float | None:
        return (self.current_correct - self.baseline_correct) / self.paired if self.paired else None

    @property
    def p_value(self) -> float:
        """One-sided exact McNemar p-value that the model got worse (over clusters when items share them)."""
        return self.cluster_p if self.cluster_p is not None else mcnemar_one_sided(self.regressed, self.improved)

    def to_json(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        for name in ("warnings", "regressed_ids", "improved_ids"):
            data[name] = list(data[name])
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PairedStats:
        fields = dict(data)
        for name in ("warnings", "regressed_ids", "improved_ids"):
            fields[name] = tuple(fields.get(name, ()))
        return cls(**fields)
