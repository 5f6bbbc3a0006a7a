"""``gate[right_answer_probability]``: the model puts less probability on the right answer (opt-in).

A diffuse degradation slides probability off the right answer on many items
and moves few answers across the argmax, so the accuracy gate sees little. This
gate sees it: the mean, over paired items, of the probability the model gives
the key. But it is not a test of accuracy. A model that is as accurate as before
and only less sure of itself (flatter probabilities, often *better* calibrated)
fails it too, so it is off unless a suite lists it, and its message says what it
measured. Read it next to ``gate[ece]``: a flatter model that is better
calibrated is a change, not a regression.

The test is a betting test on the per-cluster mean loss of probability (values
in [-1, 1]): valid at every suite size and for skewed changes, where a t-test is
not, and it never reports p = 0.
"""

from __future__ import annotations

from ..stats.significance import bounded_mean_above_p
from ..suite.schema import Param
from .base import Evidence, GateContext, GateResult, check_tolerance, gate, tolerance_param

PARAMS = {
    "max_drop": Param((int, float), "a number between 0 and 1", 0.02, fraction=True),
    "tolerance": tolerance_param(),
}


@gate("right_answer_probability", params=PARAMS, check=check_tolerance, tested=True)
def right_answer_probability(ctx: GateContext) -> GateResult:
    """Test whether the mean probability of the right answer fell by more than ``max_drop``."""
    name = "right_answer_probability"
    c = ctx.comparison
    if not c.has_baseline:
        return GateResult(name, "skipped", "no baseline to compare with (the accuracy gate says how to record one)")
    if len(c.right_probs) < 2:
        return GateResult(
            name,
            "skipped",
            "fewer than two paired items have probabilities over the choices in both runs "
            "(generation scoring, or a baseline recorded before they were kept)",
        )
    max_drop, tolerance = float(ctx.settings["max_drop"]), ctx.settings["tolerance"]
    losses = {item: then - now for item, (then, now) in zip(c.right_prob_items, c.right_probs, strict=True)}
    null = max_drop if tolerance == "margin" else 0.0
    p = bounded_mean_above_p(c.cluster_means(losses), null)
    before = sum(then for then, _ in c.right_probs) / len(c.right_probs)
    after = sum(now for _, now in c.right_probs) / len(c.right_probs)
    loss = before - after
    stats = c.stats()
    lines = [
        f"probability of the right answer on {len(losses)} paired items: baseline {before:.3f} -> current "
        f"{after:.3f}, {-loss * 100:+.2f} points (max_drop {max_drop * 100:.1f} points, tolerance {tolerance}); "
        f"betting test p = {p:.4g} that it fell{' by more than max_drop' if tolerance == 'margin' else ''}",
        f"accuracy on the same paired items {_signed(stats.delta)}: this gate measures how sure the model is of "
        "the right answer, not whether it answers right; a flatter model that is as accurate fails it too "
        "(see gate[ece] for whether its calibration got better or worse)",
    ]
    numbers = {"paired": len(losses), "baseline": round(before, 4), "current": round(after, 4), "p_value": round(p, 6)}
    headline = f"the model puts less probability on the right answer on suite {c.suite} (profile {c.profile})"
    evidence = Evidence(p, loss > max_drop + 1e-12, headline)
    return GateResult(name, "passed", "\n".join(lines), numbers, evidence)


def _signed(delta: float | None) -> str:
    return "n/a" if delta is None else f"{delta * 100:+.1f} points"
