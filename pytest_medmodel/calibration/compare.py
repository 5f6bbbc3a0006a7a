"""Calibration of one run, paired with its baseline by item, with seeded bootstrap intervals.

The same resamples of item positions are applied to the baseline and the current
run, so each interval of a *difference* is paired: an item that is hard for both
runs moves both numbers together and cancels. Resamples come from a seed derived
from the suite name, so a run gives the same intervals serially and under ``-n``.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import metrics as m

RESAMPLES = 2000
"""Resamples per interval and p-value: the smallest bootstrap p-value is 1/2001, below the level a
calibration gate gets in a suite of up to 20 tested gates at alpha 0.01."""
MIN_PER_BIN = 10
"""Fewer items than this per equal-mass bin, on average, draws a warning: ECE is biased upward there."""


@dataclass(frozen=True)
class MetricSpec:
    name: str
    label: str
    """What reports and gate messages call it; ``{bins}``-style fields are filled from the settings it was
    computed with (:meth:`title`)."""
    higher_is_worse: bool
    compute: Callable[[m.Predictions, np.ndarray, Mapping[str, Any]], np.ndarray] | None
    resamples: int | None = None
    """Fewer resamples for a costly metric (its interval is then coarser)."""
    maximum: float = 1.0
    """The largest value the metric can take (intervals are clipped to it)."""
    short: str = ""
    """Its name in a line of changes (default: the label)."""

    def title(self, values: Mapping[str, Any] | None = None) -> str:
        """The label with its settings filled in: ``ECE (10 equal-mass bins)``."""
        return self.label.format_map(
            {**DEFAULTS, "temperature": "T 1.00", "baseline_temperature": "T 1.00", **(values or {})}
        )

    @property
    def change_name(self) -> str:
        return self.short or self.label


SPECS = {
    spec.name: spec
    for spec in (
        MetricSpec("ece", "ECE ({bins} equal-mass bins)", True, lambda p, r, s: m.ece(p, r, s["bins"]), short="ECE"),
        MetricSpec(
            "ece_width",
            "ECE ({width_bins} equal-width bins)",
            True,
            lambda p, r, s: m.ece_width(p, r, s["width_bins"]),
            short="ECE (width)",
        ),
        MetricSpec("mce", "MCE", True, lambda p, r, s: m.mce(p, r, s["width_bins"])),
        MetricSpec("brier", "Brier score", True, lambda p, r, s: m.brier(p, r), maximum=2.0, short="Brier"),
        MetricSpec(
            "selective_accuracy",
            "selective accuracy (top {coverage:.0%})",
            False,
            lambda p, r, s: m.selective_accuracy(p, r, s["coverage"]),
            short="selective accuracy",
        ),
        MetricSpec(
            "aurc",
            "area under coverage-accuracy",
            False,
            lambda p, r, s: m.aurc(p, r),
            short="coverage-accuracy area",
        ),
        MetricSpec("auroc", "AUROC of confidence", False, lambda p, r, s: m.auroc(p, r), short="AUROC"),
        MetricSpec(
            "ece_scaled",
            "ECE after temperature scaling ({temperature})",
            True,
            lambda p, r, s: m.ece_scaled(p, r, s["bins"]),
            250,
            short="ECE after scaling",
        ),
        # Paired only: the temperature fitted on the baseline, applied to both runs (see compare_calibration).
        MetricSpec(
            "ece_baseline_t",
            "ECE at the baseline's temperature ({baseline_temperature})",
            True,
            None,
            250,
            short="ECE at the baseline's temperature",
        ),
    )
}
DEFAULTS: Mapping[str, Any] = {"bins": 10, "width_bins": 15, "coverage": 0.5}


@dataclass(frozen=True)
class MetricChange:
    """One calibration metric now, in the baseline, and their paired difference, with 95% intervals."""

    name: str
    current: float
    current_interval: tuple[float, float]
    baseline: float | None = None
    delta: float | None = None
    """current - baseline."""
    delta_interval: tuple[float, float] | None = None
    worse_p: float | None = None
    """Bootstrap one-sided p-value that the metric got worse by more than the threshold it was
    computed for (0 unless a tolerance was given): the share of resamples that are not, with +1."""

    @property
    def higher_is_worse(self) -> bool:
        return SPECS[self.name].higher_is_worse

    @property
    def worsening(self) -> float | None:
        """How much worse it got (positive = worse), whichever direction is bad for this metric."""
        if self.delta is None:
            return None
        return self.delta if self.higher_is_worse else -self.delta

    @property
    def significantly_worse(self) -> bool:
        """The paired 95% interval of the difference lies wholly on the worse side of zero."""
        if self.delta_interval is None:
            return False
        low, high = self.delta_interval
        return low > 0 if self.higher_is_worse else high < 0

    def to_json(self) -> dict[str, Any]:
        def r(x: float | None) -> float | None:
            return None if x is None or math.isnan(x) else round(float(x), 6)  # shown at 3: no double rounding

        data: dict[str, Any] = {"current": r(self.current), "interval": [r(x) for x in self.current_interval]}
        if self.baseline is not None:
            data.update(baseline=r(self.baseline), delta=r(self.delta))
            data["delta_interval"] = [r(x) for x in self.delta_interval or (math.nan, math.nan)]
        return data


def seed_for(suite: str) -> int:
    return int(hashlib.sha256(f"calibration:{suite}".encode()).hexdigest()[:12], 16)


def resample_rows(n: int, resamples: int, seed: int, clusters: Sequence[str] | None = None) -> np.ndarray:
    """Row 0 is the items as they are; the rest are bootstrap resamples of positions.

    With ``clusters`` (one name per position), whole clusters are resampled: items that
    succeed and fail together stay together, so an interval is not too sure of itself.
    Clusters are drawn until the row holds ``n`` positions, then cut to ``n`` (so rows
    stay one array; with equal cluster sizes that dividing ``n`` nothing is cut).
    """
    rng = np.random.default_rng(seed)
    if clusters is None or len(set(clusters)) == len(clusters):
        return np.vstack([np.arange(n)[None, :], rng.integers(0, n, size=(resamples, n))])
    members: dict[str, list[int]] = {}
    for position, name in enumerate(clusters):
        members.setdefault(name, []).append(position)
    groups = [np.array(v) for v in members.values()]
    smallest = min(len(g) for g in groups)
    draws = rng.integers(0, len(groups), size=(resamples, n // smallest + 1))
    rows = [np.concatenate([groups[k] for k in draw])[:n] for draw in draws]
    return np.vstack([np.arange(n)[None, :], np.array(rows)])


def _interval(values: np.ndarray) -> tuple[float, float]:
    """Percentile interval: for paired differences, where resampling bias cancels between the runs."""
    finite = values[~np.isnan(values)]
    if not len(finite):
        return (math.nan, math.nan)
    low, high = np.percentile(finite, [2.5, 97.5])
    return (float(low), float(high))


def _basic_interval(point: float, values: np.ndarray, maximum: float) -> tuple[float, float]:
    """Basic (reflected) interval for one run's value, clipped to [0, ``maximum``].

    Binned metrics are biased upward under resampling (duplicated items fill bins
    unevenly): a percentile interval of ECE can lie wholly above the estimate. The
    basic interval reflects the resampling distribution around the estimate, which
    removes that bias to first order.
    """
    low, high = _interval(values)
    return (float(np.clip(2 * point - high, 0.0, maximum)), float(np.clip(2 * point - low, 0.0, maximum)))


def compare_calibration(
    current: m.Predictions,
    baseline: m.Predictions | None = None,
    *,
    suite: str,
    settings: Mapping[str, Any] | None = None,
    names: tuple[str, ...] = tuple(SPECS),
    resamples: int = RESAMPLES,
    clusters: Sequence[str] | None = None,
    thresholds: Mapping[str, float] | None = None,
) -> dict[str, MetricChange]:
    """Every metric in ``names`` for ``current``, paired with ``baseline`` (same items, same order) when given.

    ``clusters``: each position's cluster (resampled whole). ``thresholds``: per metric, the
    worsening its p-value tests against (0 when absent: "did it get worse at all").
    """
    if baseline is not None and baseline.n != current.n:
        raise ValueError(f"paired predictions differ in length: {baseline.n} baseline, {current.n} current")
    config = {**DEFAULTS, **(settings or {})}
    rows = resample_rows(current.n, resamples, seed_for(suite), clusters)
    out = {}
    for name in names:
        spec = SPECS[name]
        mine = rows[: 1 + spec.resamples] if spec.resamples else rows
        if spec.compute is None:
            if baseline is not None:
                out[name] = _at_baseline_temperature(current, baseline, mine, config["bins"])
            continue
        now = spec.compute(current, mine, config)
        alone = _basic_interval(float(now[0]), now[1:], spec.maximum)
        change = MetricChange(name, float(now[0]), alone)
        if baseline is not None:
            then = spec.compute(baseline, mine, config)
            diff = now - then
            worse_p = _worse_p(diff[1:], spec.higher_is_worse, (thresholds or {}).get(name, 0.0))
            change = MetricChange(
                name, float(now[0]), alone, float(then[0]), float(diff[0]), _interval(diff[1:]), worse_p
            )
        out[name] = change
    return out


def _worse_p(differences: np.ndarray, higher_is_worse: bool, threshold: float) -> float:
    """Share of resamples whose worsening is at most ``threshold``, counting the estimate's own (+1 / +1):
    a one-sided percentile-bootstrap p-value, consistent with the interval (p < 0.025 exactly when
    the 95% interval lies wholly beyond the threshold)."""
    finite = differences[~np.isnan(differences)]
    worsening = finite if higher_is_worse else -finite
    return float((1 + np.count_nonzero(worsening <= threshold)) / (1 + len(worsening)))


def _at_baseline_temperature(
    current: m.Predictions, baseline: m.Predictions, rows: np.ndarray, bins: int
) -> MetricChange:
    """ECE of both runs with the temperature fitted on the baseline (per resample): the temperature a team
    calibrated on the old model and shipped. A uniformly over-confident new model is off at it, yet fine
    refit (``ece_scaled``); a model whose confidence stopped tracking correctness is off at both."""
    temperatures = m.fit_temperature(baseline, rows)
    now, then = m.ece_at(current, rows, temperatures, bins), m.ece_at(baseline, rows, temperatures, bins)
    alone = _basic_interval(float(now[0]), now[1:], 1.0)
    diff = now - then
    return MetricChange("ece_baseline_t", float(now[0]), alone, float(then[0]), float(diff[0]), _interval(diff[1:]))


def small_suite_warning(n: int, bins: int) -> str | None:
    """A warning when the suite has too few items for its equal-mass bins."""
    if n >= MIN_PER_BIN * bins:
        return None
    most = max(1, n // MIN_PER_BIN)
    return (
        f"ECE with {bins} bins on {n} items ({n / bins:.1f} per bin) is noisy and biased upward; "
        f"use at most {most} bin{'s' if most > 1 else ''} (bins: under the gate) or more items"
    )


def bins_for(n: int) -> int:
    """Equal-mass bins for a suite that does not set them: 10, fewer when that leaves under 10 items a bin."""
    return max(1, min(10, n // MIN_PER_BIN))
