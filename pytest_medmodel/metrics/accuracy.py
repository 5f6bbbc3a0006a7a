"""The built-in metrics: counts, accuracy, confidence, lm-evaluation-harness acc/acc_norm, option mass."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .base import metric


def _count(values: Sequence[float]) -> int:
    return len(values)


def _total(values: Sequence[float]) -> int:
    return int(sum(values))


@metric("n", aggregate=_count, always=True, recorded=True, label="items", format="count")
def n(entry: Any) -> float:
    """Entries evaluated."""
    return 1.0


@metric("correct", aggregate=_total, always=True, recorded=True, format="count")
def correct(entry: Any) -> float:
    """Entries answered correctly."""
    return float(entry.correct)


@metric("accuracy", always=True, recorded=True, format="percent")
def accuracy(entry: Any) -> float:
    """Share answered correctly (invalid answers count as wrong)."""
    return float(entry.correct)


@metric("mean_confidence", recorded=True, label="mean confidence", format="percent")
def mean_confidence(entry: Any) -> float | None:
    """Mean probability of the chosen answer (entries with a probability)."""
    return entry.confidence


HARNESS = "lm-evaluation-harness definitions"


@metric("acc", require_all=True, recorded=True, format="percent", note=HARNESS)
def acc(entry: Any) -> float | None:
    """lm-evaluation-harness ``acc``: the highest summed log-likelihood is the key."""
    value = entry.values.get("acc")
    return None if value is None else float(value)


@metric("acc_norm", require_all=True, recorded=True, format="percent", note=HARNESS)
def acc_norm(entry: Any) -> float | None:
    """lm-evaluation-harness ``acc_norm``: the highest per-character log-likelihood is the key."""
    value = entry.values.get("acc_norm")
    return None if value is None else float(value)


@metric(
    "option_mass",
    label="option mass",
    format="percent",
    note="the probability the scored options hold, on average",
)
def option_mass(entry: Any) -> float | None:
    """Probability (over the whole vocabulary) the scored options hold: a prompt-format diagnostic."""
    return getattr(entry, "diagnostics", {}).get("option_mass")
