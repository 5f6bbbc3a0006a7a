"""A suite's calibration for the run summary: every metric with its interval, paired with the baseline if it can be."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..baselines.format import Baseline
from ..records import ItemScore
from .compare import bins_for, compare_calibration, small_suite_warning
from .metrics import fit_temperature, identity, reliability
from .pairs import paired_predictions


def calibration_summary(
    suite: str,
    answers: Mapping[str, int],
    scores: Mapping[str, ItemScore],
    baseline: Baseline | None,
    bins: int | None = None,
) -> dict[str, Any] | None:
    """Plain data: ``n``, ``paired``, ``bins``, ``temperature``, ``metrics`` ({name: MetricChange.to_json()}),
    ``reliability`` (``current`` and ``baseline``: :func:`.metrics.reliability` points, for the diagram).

    Paired with the baseline on the items both have vectors for; when the baseline
    has none (recorded before they were kept), this run's items alone. None when
    no item has a probability vector (generation scoring). ``bins``: the ECE gate's
    bins; None (no ECE gate) picks them from the suite's size (:func:`.compare.bins_for`).
    """
    paired = paired_predictions(answers, scores, baseline) if baseline is not None else None
    if paired is None or paired.baseline is None:
        paired = paired_predictions(answers, scores, None)
    if paired is None:
        return None
    chosen = bins or bins_for(len(paired.keys))
    changes = compare_calibration(paired.current, paired.baseline, suite=suite, settings={"bins": chosen})
    temperature = float(fit_temperature(paired.current, identity(paired.current.n))[0])
    then = paired.baseline
    before = None if then is None else round(float(fit_temperature(then, identity(then.n))[0]), 3)
    return {
        "n": len(paired.keys),
        "paired": paired.baseline is not None,
        "bins": chosen,
        "temperature": round(temperature, 3),
        "baseline_temperature": before,
        "warning": small_suite_warning(len(paired.keys), chosen) if bins else None,
        "metrics": {name: change.to_json() for name, change in changes.items()},
        "reliability": {
            "current": reliability(paired.current, chosen),
            "baseline": None if then is None else reliability(then, chosen),
        },
    }
