"""A suite's metrics as sentences, rendered from what each metric registered (label, format, note).

Every report (the terminal summary, report.md, report.html) shows a suite's
metrics through this one function, so a metric a team registers is shown the way
it asked, next to the built-in ones, and none is described by hand in a report.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..metrics.base import METRICS


def metric_lines(metrics: Mapping[str, Any], n: int) -> list[str]:
    """One line per note: ``acc 48.2%, acc_norm 50.0% on 110 items (lm-evaluation-harness definitions)``.

    Metrics keep the order the summary computed them in; those sharing a note share
    a line. A metric this process does not know (a report re-rendered without the
    conftest that registered it) is shown by its name, its value as written.
    """
    by_note: dict[str, list[str]] = {}
    for name, value in metrics.items():
        if name in METRICS and (value is None or isinstance(value, (int, float))):
            entry = METRICS.get(name)
            by_note.setdefault(entry.note, []).append(f"{entry.label} {entry.shown(value)}")
        else:
            by_note.setdefault("", []).append(f"{name} {value}")
    return [f"{', '.join(shown)} on {n} items" + (f" ({note})" if note else "") for note, shown in by_note.items()]
