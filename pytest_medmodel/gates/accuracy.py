"""The paired accuracy gate: fails only when a drop is both large and real.

Large: more than ``max_drop`` (absolute). Real: a one-sided exact McNemar test
on the regressed/improved counts gives p < ``alpha``. Either alone is noise or a
rounding error, not a regression. ``min_accuracy`` adds an absolute floor.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..power import gate_sensitivity
from ..stats import wilson_interval
from ..suite.schema import Param
from .base import GateContext, GateResult, gate
from .comparison import SHOWN, Comparison

PARAMS = {
    "max_drop": Param((int, float), "a number between 0 and 1", 0.02, fraction=True),
    "alpha": Param((int, float), "a number between 0 and 1", 0.05, fraction=True),
    "min_accuracy": Param((int, float, type(None)), "a number between 0 and 1", None, fraction=True),
}


def _check(settings: Mapping[str, Any]) -> tuple[str, str, str] | None:
    if settings["alpha"] <= 0:
        return ("alpha", "must be above 0", "write a level such as 0.05")
    return None


@gate("accuracy", params=PARAMS, default=True, check=_check)
def accuracy(ctx: GateContext) -> GateResult:
    """Decide the accuracy gate; the message reads like a review comment."""
    c = ctx.comparison
    detectable, blind = gate_sensitivity(c.stats(), ctx.settings)
    numbers = _numbers(ctx, detectable)
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
    dropped, paired_lines = _paired_verdict(c, ctx.settings["max_drop"], ctx.settings["alpha"])
    if dropped:
        failed = True
        lines.insert(0, f"accuracy dropped on suite {c.suite} (profile {c.profile})")
    lines += paired_lines + _sensitivity_lines(c, detectable, blind) + c.warnings
    return GateResult("accuracy", "failed" if failed else "passed", "\n".join(lines), numbers)


def _sensitivity_lines(c: Comparison, detectable: float | None, blind: str | None) -> list[str]:
    """What this gate can detect at the suite's size and baseline; a blind gate says so."""
    if blind:
        return [blind]
    if detectable is None:
        return []
    return [
        f"this gate catches a true drop of {detectable * 100:.1f} points or more with 80% power "
        f"({c.paired} items, baseline {c.baseline_correct / c.paired * 100:.1f}%, chance {(c.chance or 0) * 100:.1f}%)"
    ]


def _below_floor(correct: int, n: int, floor: float | None) -> list[str]:
    if floor is None or correct / n >= floor:
        return []
    low, high = wilson_interval(correct, n)
    current = correct / n
    interval = f"[{_pct(low)}, {_pct(high)}]"
    return [f"accuracy {_pct(current)} {interval} on {n} items is below the floor min_accuracy {_pct(floor)}"]


def _paired_verdict(c: Comparison, max_drop: float, alpha: float) -> tuple[bool, list[str]]:
    """Whether the paired drop is both large and significant, and the lines that say so."""
    stats = c.stats()
    drop = -(stats.delta or 0.0)
    p = stats.p_value
    significant = p < alpha
    b_low, b_high = wilson_interval(c.baseline_correct, c.paired)
    n_low, n_high = wilson_interval(c.current_correct, c.paired)
    lines = [
        f"accuracy on {c.paired} paired items: "
        f"baseline {_pct(stats.baseline_accuracy)} [{_pct(b_low)}, {_pct(b_high)}] -> "
        f"current {_pct(stats.paired_accuracy)} [{_pct(n_low)}, {_pct(n_high)}] (95% Wilson), "
        f"{_signed_points(stats.delta)} (max_drop {max_drop * 100:.1f} points)",
        f"regressed {stats.regressed}, improved {stats.improved}; "
        f"one-sided exact McNemar p = {_p(p)} (alpha {alpha:g}): {'significant' if significant else 'not significant'}",
    ]
    if c.regressed:
        shown = ", ".join(f"{i} {a}->{b}" for i, a, b in c.regressed[:SHOWN])
        more = f" (+{len(c.regressed) - SHOWN} more)" if len(c.regressed) > SHOWN else ""
        lines.append(f"regressed items (baseline->current answer): {shown}{more}")
    return drop > max_drop + 1e-12 and significant, lines


def _numbers(ctx: GateContext, detectable: float | None) -> dict[str, float | int | None]:
    stats = ctx.comparison.stats()
    return {
        "detectable_drop": _round(detectable),
        "n": stats.n,
        "accuracy": _round(stats.accuracy),
        "paired": stats.paired,
        "baseline_accuracy": _round(stats.baseline_accuracy),
        "delta": _round(stats.delta),
        "regressed": stats.regressed,
        "improved": stats.improved,
        "p_value": _round(stats.p_value, 6),
    }


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def _signed_points(delta: float | None) -> str:
    return "n/a" if delta is None else f"{delta * 100:+.1f} points"


def _p(p: float) -> str:
    return f"{p:.4f}" if p >= 1e-4 else f"{p:.1e}"
