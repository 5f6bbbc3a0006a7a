"""``gate[set_accuracy]``: probe groups right as a whole, paired with the baseline, with chance said aloud.

Runs on every suite whose items have a ``group`` (and on any suite that lists it).
A group counts as right when every member is right; the gate fails when the share
of right groups drops by more than ``max_drop`` and a one-sided exact McNemar test
on the groups that flipped is significant at the gate's level under the suite's
shared alpha (:mod:`.family`), or when it is below
``min_set_accuracy``. Figures below what random answers would reach are reported
on their own line, starting ``BELOW CHANCE``.
"""

from __future__ import annotations

from ..metrics.probes import complete_groups, group_stats
from ..suite.schema import Param
from ..suite.types import ORIGINAL
from .base import Evidence, GateContext, GateResult, GateStatus, check_tolerance, gate, tolerance_param
from .comparison import paired_flips
from .robustness import baseline_scores

PARAMS = {
    "max_drop": Param((int, float), "a number between 0 and 1", 0.02, fraction=True),
    "tolerance": tolerance_param(),
    "min_set_accuracy": Param((int, float, type(None)), "a number between 0 and 1", None, fraction=True),
}


@gate("set_accuracy", params=PARAMS, check=check_tolerance, tested=True)
def set_accuracy(ctx: GateContext) -> GateResult:
    """Probe groups: every member right, now versus the baseline."""
    probes = ctx.suite.probes()
    stats = group_stats(ctx.scores.values(), probes)
    if stats is None:
        return GateResult("set_accuracy", "skipped", "no complete probe group was selected (items need a group)")
    now = {g: all(s.correct for s in m) for g, m in complete_groups(ctx.scores.values(), probes).items()}
    lines = [
        f"set accuracy {stats.set_accuracy:.1%} over {stats.groups} groups (chance {stats.set_chance:.1%})"
        + (
            f"; confusion {stats.confusion:.1%} over {stats.contrast_groups} contrast groups "
            f"(chance {stats.confusion_chance:.1%})"
            if stats.confusion is not None and stats.confusion_chance is not None
            else ""
        )
    ]
    lines += [f"BELOW CHANCE: {what}" for what in stats.below_chance]
    floor = ctx.settings["min_set_accuracy"]
    failed = floor is not None and stats.set_accuracy < floor
    if failed:
        lines.insert(0, f"set accuracy {stats.set_accuracy:.1%} is below the floor min_set_accuracy {floor:.1%}")
    numbers = {
        "groups": stats.groups,
        "set_accuracy": round(stats.set_accuracy, 4),
        "chance": round(stats.set_chance, 4),
    }
    if ctx.baseline is None:
        lines.append(f"no baseline at {ctx.baseline_location}; record one with --snapshot-update and commit it")
        return GateResult("set_accuracy", "failed", "\n".join(lines), numbers)
    originals = {k: s for k, s in ctx.scores.items() if s.variant == ORIGINAL}
    then = {
        g: all(s.correct for s in m)
        for g, m in complete_groups(baseline_scores(ctx.suite, ctx.baseline, originals), probes).items()
    }
    flips = paired_flips(now, then)
    if flips is None:
        lines.append(f"the baseline at {ctx.baseline_location} shares no complete group with this run; re-record it")
        return GateResult("set_accuracy", "failed", "\n".join(lines), numbers)
    max_drop, tolerance = ctx.settings["max_drop"], ctx.settings["tolerance"]
    p, large, _ = flips.test(max_drop, tolerance)
    lines += flips.describe("set accuracy", "groups", max_drop, tolerance)
    evidence = Evidence(p, large, f"set accuracy dropped on suite {ctx.suite.name}")
    status: GateStatus = "failed" if failed else "passed"
    return GateResult("set_accuracy", status, "\n".join(lines), {**numbers, **flips.numbers()}, evidence)
