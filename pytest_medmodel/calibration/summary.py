"""A suite's calibration for the run summary: every metric with its interval, paired with the baseline if it can be."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..baseline import Baseline
from ..records import ItemScore
from .compare import compare_calibration, small_suite_warning
from .metrics import fit_temperature, identity
from .pairs import paired_predictions


def calibration_summary(
    suite: str, answers: Mapping[str, int], scores: Mapping[str, ItemScore], baseline: Baseline | None, bins: int
) -> dict[str, Any] | None:
    """Plain data: ``n``, ``paired``, ``bins``, ``temperature``, ``metrics`` ({name: MetricChange.to_json()}).

    Paired with the baseline on the items both have vectors for; when the baseline
    has none (recorded before they were kept), this run's items alone. None when
    no item has a probability vector (generation scoring).
    """
    paired = paired_predictions(answers, scores, baseline) if baseline is not None else None
    if paired is None or paired.baseline is None:
        paired = paired_predictions(answers, scores, None)
    if paired is None:
        return None
    changes = compare_calibration(paired.current, paired.baseline, suite=suite, settings={"bins": bins})
    temperature = float(fit_temperature(paired.current, identity(paired.current.n))[0])
    return {
        "n": len(paired.keys),
        "paired": paired.baseline is not None,
        "bins": bins,
        "temperature": round(temperature, 3),
        "warning": small_suite_warning(len(paired.keys), bins),
        "metrics": {name: change.to_json() for name, change in changes.items()},
    }
