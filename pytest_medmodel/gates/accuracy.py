"""The paired accuracy gate: fails only when a drop in correctness is both large and real.

Large: the observed drop is more than ``max_drop`` (absolute). Real: a one-sided
exact test on correctness says the model got worse. The test is McNemar's: among
the items right in exactly one of the two runs, under "no change" each is as
likely to have regressed as improved. When items share a cluster (a probe group,
several questions about one image) the unit is the cluster: each cluster's
regressions minus improvements, with random signs (a cluster sign-flip test,
exact by convolution, which is McNemar again when every cluster is one item).

The test is of correctness only. A model as accurate as before whose
probabilities are flatter or sharper passes it at its level, whatever its
calibration; the probability of the right answer has a gate of its own
(``gate[right_answer_probability]``, opt-in) and calibration has three.

``tolerance: margin`` asks more: the drop must be significantly larger than
``max_drop`` (a betting test on the per-cluster drop, valid at every size), so a
true drop of exactly ``max_drop`` fails at most alpha of the time. The default,
``point``, fails a drop above ``max_drop`` that is significantly above zero: a
true drop of exactly ``max_drop`` then fails up to half the time on a large suite.

The level is not the gate's own: every tested gate of a suite shares the suite's
``alpha`` (Holm, :mod:`.family`). ``min_accuracy`` adds an absolute floor.
"""

from __future__ import annotations

from typing import Any

from ..stats.power import DEFAULT_CHURN, Sensitivity, cluster_design_effect, gate_sensitivity
from ..stats.significance import bounded_mean_above_p, sign_flip_upper_tail, wilson_interval
from ..suite.schema import Param
from .base import Evidence, GateContext, GateResult, GateStatus, check_tolerance, gate, tolerance_param
from .comparison import SHOWN, Comparison

PARAMS = {
    "max_drop": Param((int, float), "a number between 0 and 1", 0.01, fraction=True),
    "min_accuracy": Param((int, float, type(None)), "a number between 0 and 1", None, fraction=True),
    "tolerance": tolerance_param(),
    "churn": Param((int, float), "a number between 0 and 1", DEFAULT_CHURN, fraction=True),
}


def correctness_test(c: Comparison, max_drop: float, tolerance: str) -> tuple[float, str]:
    """(one-sided p that correctness fell, the test's name) on the paired items, by cluster."""
    if tolerance == "margin":
        lost = {key for key, *_ in c.regressed}
        gained = {key for key, *_ in c.improved}
        drop = {i: 1.0 if i in lost else -1.0 if i in gained else 0.0 for i in c.paired_items}
        return bounded_mean_above_p(c.cluster_means(drop), max_drop), f"betting test that the drop exceeds {max_drop:g}"
    name = "one-sided exact McNemar" + (" over clusters (sign flips)" if c.clustered else "")
    return sign_flip_upper_tail(c.cluster_differences()), name


def design_effect(c: Comparison) -> float:
    """How much clustering inflates the variance of the paired drop: estimated from the flips when there
    are some, else the bound for clusters that flip together (1: no clusters)."""
    discordant = len(c.regressed) + len(c.improved)
    if not c.clustered:
        return 1.0
    if not discordant:
        return cluster_design_effect(c.paired_items, c.clusters)
    return max(1.0, sum(d * d for d in c.cluster_differences()) / discordant)


def sensitivity(ctx: GateContext) -> Sensitivity | None:
    settings = {**ctx.settings, "level": ctx.level or ctx.suite.alpha}
    return gate_sensitivity(ctx.comparison.stats(), settings, design_effect(ctx.comparison))


@gate("accuracy", params=PARAMS, default=True, check=check_tolerance, tested=True)
def accuracy(ctx: GateContext) -> GateResult:
    """Measure and test the accuracy drop; the suite's family decides with the evidence."""
    c = ctx.comparison
    sens = sensitivity(ctx)
    numbers = _numbers(ctx, sens)
    if c.n == 0:
        return GateResult(
            "accuracy", "skipped", "no original item of this suite was selected: nothing to compare", numbers
        )
    lines = _below_floor(c.correct, c.n, ctx.settings["min_accuracy"])
    failed = bool(lines)
    if not c.has_baseline:
        message = (
            f"no baseline for suite {c.suite} (profile {c.profile}) at {ctx.baseline_location}; "
            "record one with --snapshot-update and commit it"
        )
        return GateResult("accuracy", "failed", "\n".join(lines) if failed else message, numbers)
    if not c.paired:
        # A baseline that pairs with nothing (ids renamed, every text changed) cannot show a drop:
        # like a missing baseline, it must not let the build pass.
        counts = f"{len(c.new)} without a baseline entry, {len(c.changed)} changed since it was recorded"
        lines.append(
            f"the baseline at {ctx.baseline_location} shares no items with this run ({counts}), so it cannot "
            "gate anything; re-record it with --snapshot-update and commit it"
        )
        return GateResult("accuracy", "failed", "\n".join(lines + c.warnings), numbers)
    max_drop, tolerance = ctx.settings["max_drop"], ctx.settings["tolerance"]
    p, test = correctness_test(c, max_drop, tolerance)
    stats = c.stats()
    large = (stats.delta or 0.0) < -max_drop - 1e-12
    lines += _paired_lines(c, max_drop, tolerance, p, test)
    line = sens.line(c.paired, c.baseline_correct / c.paired, c.chance or 0.0) if sens else None
    lines += ([line] if line else []) + c.warnings
    evidence = Evidence(p, large, f"accuracy dropped on suite {c.suite} (profile {c.profile})")
    status: GateStatus = "failed" if failed else "passed"
    return GateResult("accuracy", status, "\n".join(lines), numbers, evidence)


def _below_floor(correct: int, n: int, floor: float | None) -> list[str]:
    if floor is None or correct / n >= floor:
        return []
    low, high = wilson_interval(correct, n)
    current = correct / n
    interval = f"[{_pct(low)}, {_pct(high)}]"
    return [f"accuracy {_pct(current)} {interval} on {n} items is below the floor min_accuracy {_pct(floor)}"]


def _paired_lines(c: Comparison, max_drop: float, tolerance: str, p: float, test: str) -> list[str]:
    """The paired comparison: both accuracies with intervals, the flips, and the test."""
    stats = c.stats()
    b_low, b_high = wilson_interval(c.baseline_correct, c.paired)
    n_low, n_high = wilson_interval(c.current_correct, c.paired)
    read = "a larger drop fails when it is real" if tolerance == "point" else "the drop must be significantly larger"
    clusters = len({c.cluster(i) for i in c.paired_items})
    units = f" in {clusters} clusters" if c.clustered else ""
    lines = [
        f"accuracy on {c.paired} paired items{units}: "
        f"baseline {_pct(stats.baseline_accuracy)} [{_pct(b_low)}, {_pct(b_high)}] -> "
        f"current {_pct(stats.paired_accuracy)} [{_pct(n_low)}, {_pct(n_high)}] (95% Wilson), "
        f"{_signed_points(stats.delta)} (max_drop {max_drop * 100:.1f} points, tolerance {tolerance}: {read})",
        f"regressed {stats.regressed}, improved {stats.improved}; {test} p = {_p(p)}",
    ]
    if c.regressed:
        shown = ", ".join(f"{i} {a}->{b}" for i, a, b in c.regressed[:SHOWN])
        more = f" (+{len(c.regressed) - SHOWN} more)" if len(c.regressed) > SHOWN else ""
        lines.append(f"regressed items (baseline->current answer): {shown}{more}")
    return lines


def _numbers(ctx: GateContext, sens: Sensitivity | None) -> dict[str, Any]:
    stats = ctx.comparison.stats()
    return {
        "detectable_drop": _round(sens.retrained if sens else None),
        "detectable_drop_in_place": _round(sens.in_place if sens else None),
        "n": stats.n,
        "accuracy": _round(stats.accuracy),
        "paired": stats.paired,
        "baseline_accuracy": _round(stats.baseline_accuracy),
        "delta": _round(stats.delta),
        "regressed": stats.regressed,
        "improved": stats.improved,
    }


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def _signed_points(delta: float | None) -> str:
    return "n/a" if delta is None else f"{delta * 100:+.1f} points"


def _p(p: float) -> str:
    return f"{p:.4f}" if p >= 1e-4 else f"{p:.1e}"
