"""The paired accuracy gate: fails only when a drop is both large and real.

Large: more than ``max_drop`` (absolute). Real: one of two one-sided tests that
the model got worse is significant:

1. the exact McNemar test on the regressed/improved counts, and
2. a paired t-test on the probability each run gives the right answer (when both
   the run and the baseline have probability vectors). A degradation that slides
   probability off the right answer on many items moves few answers across the
   argmax, so McNemar alone misses it; the mean probability sees it.

Combination rule: Bonferroni. Each test runs at ``alpha / 2``; the gate calls a
drop real when either rejects. Whatever the dependence between the two tests,
P(either rejects | no change) <= alpha/2 + alpha/2 = alpha, so the gate's
false-alarm rate stays at or below ``alpha``. Without probability vectors (old
baselines, generation scoring) McNemar runs alone at ``alpha``. The defaults
(``max_drop`` 0.01, ``alpha`` 0.01) come from ``benchmarks/bench_gate_power.py``.
Either part alone is noise or a rounding error, not a regression.
``min_accuracy`` adds an absolute floor.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..power import gate_sensitivity
from ..stats import mcnemar_one_sided, paired_t_one_sided, wilson_interval
from ..suite.schema import Param
from .base import GateContext, GateResult, gate
from .comparison import SHOWN, Comparison

PARAMS = {
    "max_drop": Param((int, float), "a number between 0 and 1", 0.01, fraction=True),
    "alpha": Param((int, float), "a number between 0 and 1", 0.01, fraction=True),
    "min_accuracy": Param((int, float, type(None)), "a number between 0 and 1", None, fraction=True),
}


@dataclass(frozen=True)
class Evidence:
    """The two one-sided tests that the model got worse, and which of them fired."""

    alpha: float
    mcnemar_p: float
    probability_p: float | None = None
    """Paired t-test that the probability of the right answer fell; None without vectors."""
    probability_shift: float | None = None
    """Mean change of that probability (current - baseline)."""
    probability_items: int = 0

    @property
    def level(self) -> float:
        """Each test's level: alpha/2 when both run (Bonferroni), alpha when McNemar runs alone."""
        return self.alpha / 2 if self.probability_p is not None else self.alpha

    @property
    def fired(self) -> list[str]:
        out = ["McNemar on flipped answers"] if self.mcnemar_p < self.level else []
        if self.probability_p is not None and self.probability_p < self.level:
            out.append("paired t-test on the probability of the right answer")
        return out


def weigh_evidence(regressed: int, improved: int, right_probs: Sequence[tuple[float, float]], alpha: float) -> Evidence:
    """Both tests; the probability test only when at least two paired items have vectors."""
    mcnemar = mcnemar_one_sided(regressed, improved)
    if len(right_probs) < 2:
        return Evidence(alpha, mcnemar)
    diffs = [now - then for then, now in right_probs]
    return Evidence(alpha, mcnemar, paired_t_one_sided(diffs), sum(diffs) / len(diffs), len(diffs))


def drop_decision(
    regressed: int,
    improved: int,
    paired: int,
    right_probs: Sequence[tuple[float, float]],
    max_drop: float,
    alpha: float,
) -> tuple[bool, Evidence]:
    """Whether a paired drop is large (observed drop > ``max_drop``) and real (either test fires).

    ``regressed``/``improved``: paired items right only in the baseline / only now, of
    ``paired``; ``right_probs``: (baseline, current) probability of the right answer per
    item that has both. This is the whole decision; the gate and
    ``benchmarks/bench_gate_power.py`` both call it.
    """
    evidence = weigh_evidence(regressed, improved, right_probs, alpha)
    drop = (regressed - improved) / paired if paired else 0.0
    return drop > max_drop + 1e-12 and bool(evidence.fired), evidence


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
    dropped, evidence = drop_decision(len(c.regressed), len(c.improved), c.paired, c.right_probs, max_drop, alpha)
    b_low, b_high = wilson_interval(c.baseline_correct, c.paired)
    n_low, n_high = wilson_interval(c.current_correct, c.paired)
    level = f"{evidence.level:g}"
    lines = [
        f"accuracy on {c.paired} paired items: "
        f"baseline {_pct(stats.baseline_accuracy)} [{_pct(b_low)}, {_pct(b_high)}] -> "
        f"current {_pct(stats.paired_accuracy)} [{_pct(n_low)}, {_pct(n_high)}] (95% Wilson), "
        f"{_signed_points(stats.delta)} (max_drop {max_drop * 100:.1f} points)",
        f"regressed {stats.regressed}, improved {stats.improved}; one-sided exact McNemar p = {_p(evidence.mcnemar_p)}"
        f" (level {level})",
    ]
    if evidence.probability_p is not None:
        lines.append(
            f"probability of the right answer on {evidence.probability_items} items: mean change "
            f"{round((evidence.probability_shift or 0) * 100, 2) + 0.0:+.2f} points; one-sided paired t-test p = "
            f"{_p(evidence.probability_p)} (level {level}; Bonferroni: alpha {alpha:g} split over two tests)"
        )
    else:
        lines.append(f"no probability vectors in both runs: McNemar alone at alpha {alpha:g}")
    fired = " and ".join(evidence.fired)
    lines.append(f"evidence of a drop: {fired}" if fired else "evidence of a drop: neither test is significant")
    if c.regressed:
        shown = ", ".join(f"{i} {a}->{b}" for i, a, b in c.regressed[:SHOWN])
        more = f" (+{len(c.regressed) - SHOWN} more)" if len(c.regressed) > SHOWN else ""
        lines.append(f"regressed items (baseline->current answer): {shown}{more}")
    return dropped, lines


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
