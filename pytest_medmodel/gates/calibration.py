"""Calibration gates: ``gate[ece]``, ``gate[brier]``, ``gate[selective_accuracy]``.

A model that is as accurate as before but sure of its wrong answers is worse in a
clinic, and an accuracy gate cannot see it. Each gate compares one calibration
metric with the baseline on the paired items and fails only when the change is
both larger than its tolerance and real: the paired bootstrap (seeded, whole
clusters when items share one; see :mod:`pytest_medmodel.calibration.compare`)
gives a one-sided p-value below the gate's level under the suite's shared alpha
(:mod:`.family`). ``tolerance: margin`` tests the worsening against the tolerance
instead of zero. The ECE gate also reports ECE after temperature scaling,
which tells a uniformly over-confident model (a refit temperature fixes it) from
one whose confidence no longer tracks correctness.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..models.base import CHOICE_LOGPROBS
from ..scoring.base import SCORERS
from ..suite.schema import Param
from ..suite.types import split_key
from .base import Evidence, GateContext, GateResult, check_tolerance, gate, tolerance_param

if TYPE_CHECKING:
    from ..calibration.compare import MetricChange

_FRACTION = "a number between 0 and 1"


def _params(tolerance: str, default: float, **extra: Param) -> dict[str, Param]:
    return {tolerance: Param((int, float), _FRACTION, default, fraction=True), "tolerance": tolerance_param(), **extra}


def _skip(ctx: GateContext, name: str) -> GateResult | None:
    """Why this gate cannot judge calibration here (None when it can)."""
    scorer = SCORERS.get(ctx.suite.scoring.method)
    if CHOICE_LOGPROBS not in scorer.requires:
        reason = f"scoring '{scorer.name}' gives no probabilities over the choices; calibration needs them"
        return GateResult(name, "skipped", reason)
    if ctx.baseline is None:
        return GateResult(name, "skipped", "no baseline to compare with (the accuracy gate says how to record one)")
    return None


def _judge(ctx: GateContext, name: str, metric: str, tolerance_key: str, settings: dict[str, Any]) -> GateResult:
    from ..calibration.compare import (  # numpy: not at import
        RESAMPLES,
        SPECS,
        compare_calibration,
        small_suite_warning,
    )
    from ..calibration.pairs import paired_predictions

    skipped = _skip(ctx, name)
    if skipped is not None:
        return skipped
    paired = paired_predictions(ctx.suite.answers_by_item(), ctx.scores, ctx.baseline)
    if paired is None or paired.baseline is None:
        return GateResult(
            name,
            "skipped",
            f"no paired item has probabilities in both this run and the baseline at {ctx.baseline_location} "
            "(recorded before they were kept?); re-record it with --snapshot-update to gate calibration",
        )
    names = (metric, "ece_scaled", "ece_baseline_t") if metric == "ece" else (metric,)
    tolerance = float(ctx.settings[tolerance_key])
    margin = ctx.settings["tolerance"] == "margin"
    cluster = ctx.suite.cluster_by_item()
    changes = compare_calibration(
        paired.current,
        paired.baseline,
        suite=ctx.suite.name,
        settings=settings,
        names=names,
        clusters=[cluster.get(split_key(k)[0], k) for k in paired.keys],
        thresholds={metric: tolerance} if margin else None,
    )
    change = changes[metric]
    large = (change.worsening or 0.0) > tolerance + 1e-12
    lines = [_line(change, len(paired.keys), tolerance_key, tolerance, settings, large)]
    if "ece_scaled" in changes:
        lines.append(_scaled_line(changes["ece_scaled"], changes["ece_baseline_t"], large))
    if paired.missing:
        lines.append(f"{paired.missing} item(s) without probabilities in both runs were left out")
    warning = small_suite_warning(len(paired.keys), int(settings["bins"])) if metric == "ece" else None
    lines += [warning] if warning else []
    lines.append(
        f"paired bootstrap over {'clusters' if len(set(cluster.values())) < len(cluster) else 'items'}: "
        f"p = {change.worse_p:.4g} that it got worse{' by more than ' + tolerance_key if margin else ''} "
        f"(tolerance {ctx.settings['tolerance']}; the smallest p a bootstrap of this size gives is 1/{RESAMPLES + 1})"
    )
    headline = f"{SPECS[metric].title(settings)} got worse on suite {ctx.suite.name} (profile {ctx.comparison.profile})"
    numbers = {f"{metric}_{k}": v for k, v in change.to_json().items() if not isinstance(v, list)}
    numbers["paired"] = len(paired.keys)
    evidence = Evidence(change.worse_p if change.worse_p is not None else 1.0, large, headline)
    return GateResult(name, "passed", "\n".join(lines), numbers, evidence)


def _line(change: MetricChange, paired: int, key: str, tolerance: float, settings: dict[str, Any], worse: bool) -> str:
    from ..calibration.compare import SPECS

    label = SPECS[change.name].title(settings)
    low, high = change.delta_interval or (float("nan"), float("nan"))
    verdict = "worse by more than the tolerance" if worse else "within the tolerance"
    return (
        f"{label} on {paired} paired items: baseline {change.baseline:.3f} -> current {change.current:.3f} "
        f"[{change.current_interval[0]:.3f}, {change.current_interval[1]:.3f}], {change.delta:+.3f} "
        f"(paired 95% bootstrap interval [{low:+.3f}, {high:+.3f}]; {key} {tolerance:g}): {verdict}"
    )


def _scaled_line(refit: MetricChange, kept: MetricChange, worse: bool) -> str:
    """ECE after temperature scaling, with the baseline's temperature and refit; when ECE got worse, what that means."""
    kept_numbers = f"{kept.baseline or 0:.3f} -> {kept.current:.3f}"
    numbers = (
        f"ECE after temperature scaling: with the baseline's temperature {kept_numbers}, "
        f"refit per run {refit.baseline or 0:.3f} -> {refit.current:.3f}"
    )
    if not worse:
        return numbers
    if refit.current > (refit.baseline or 0.0) + 0.02:
        return f"{numbers}; a refit temperature would not fix it: confidence no longer tracks correctness"
    return f"{numbers}; the confidence is off by a uniform scale: refitting the temperature restores it"


@gate(
    "ece",
    params=_params("max_increase", 0.03, bins=Param((int,), "a whole number of bins", 10)),
    check=check_tolerance,
    tested=True,
)
def ece_gate(ctx: GateContext) -> GateResult:
    """Expected calibration error (equal-mass bins) may not rise by more than ``max_increase``."""
    return _judge(ctx, "ece", "ece", "max_increase", {"bins": ctx.settings["bins"]})


@gate("brier", params=_params("max_increase", 0.03), check=check_tolerance, tested=True)
def brier_gate(ctx: GateContext) -> GateResult:
    """The multi-class Brier score may not rise by more than ``max_increase``."""
    return _judge(ctx, "brier", "brier", "max_increase", {})


@gate(
    "selective_accuracy",
    params=_params("max_drop", 0.03, coverage=Param((int, float), _FRACTION, 0.5, fraction=True)),
    check=check_tolerance,
    tested=True,
)
def selective_accuracy_gate(ctx: GateContext) -> GateResult:
    """Accuracy on the most confident ``coverage`` share of items may not fall by more than ``max_drop``."""
    return _judge(ctx, "selective_accuracy", "selective_accuracy", "max_drop", {"coverage": ctx.settings["coverage"]})
