"""What travels from the processes that run tests to the one that reports.

Per test: an item test's :class:`~pytest_medmodel.records.ItemScore` and outcome,
and a gate test's verdict with its suite's statistics, ride on the test report as
plain-data attributes (``report.medmodel_item``, ``report.medmodel_gate``).
pytest serialises a report's attributes for xdist, so they reach the controller
unchanged; JUnit XML never sees them (it writes only ``user_properties``, which
stay for what a CI reader wants: per-suite metrics on gate tests).

Per worker: what only the worker knows (its model, its suites, its inference
statistics) goes through ``config.workeroutput`` at the end of its session.
"""

from __future__ import annotations

from typing import Any

import pytest

from ..records import BaselineEntry, ItemScore
from ..text_safety import inert

ITEM = "medmodel_item"
"""Report attribute: an item test's :class:`~.payloads.ItemReport`, as plain data."""
GATE = "medmodel_gate"
"""Report attribute: a gate test's :class:`~.payloads.GateReport`, as plain data."""
VERDICT = "medmodel_verdict"
"""Report attribute set when a test failed on purpose (a gate or a strict regression), not by error."""
STOP = "medmodel_stop"
"""Report attribute (any phase): why the model cannot be used; the run stopped after this test."""
WORKER_OUTPUT = "medmodel"
"""Key in xdist's ``workeroutput``."""

PAYLOAD = pytest.StashKey[dict[str, Any]]()
"""Per test item: the attributes to put on its call report."""


def attach(item: pytest.Item, **attributes: Any) -> None:
    """Remember attributes for this test's call report (see :func:`copy_to_report`)."""
    item.stash.setdefault(PAYLOAD, {}).update(attributes)


def copy_to_report(item: pytest.Item, report: pytest.TestReport, stop_reason: str | None = None) -> None:
    """The attributes :func:`attach` remembered, on the call report; the reason for a stop on the failed one."""
    if report.when == "call":
        for name, value in item.stash.get(PAYLOAD, {}).items():
            setattr(report, name, value)
    if stop_reason is not None and report.failed:
        setattr(report, STOP, stop_reason)


def read(report: pytest.TestReport, name: str) -> Any:
    return getattr(report, name, None)


def junit_item_properties(node: pytest.Item, outcome: str, score: ItemScore, then: BaselineEntry | None) -> None:
    """Plain-text JUnit properties, so a CI viewer shows a regression on what is a passing test case."""
    node.user_properties.extend(
        [
            ("medmodel.outcome", outcome),
            ("medmodel.answer", inert(score.shown)),  # the model's text and the baseline's: shown, never acting
            ("medmodel.key", inert(score.key)),
            ("medmodel.baseline_answer", inert(then.shown) if then is not None else ""),
        ]
    )
