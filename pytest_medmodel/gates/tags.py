"""``gate[accuracy_by_tag]``: the paired accuracy gate once per tag, for the tags big enough to catch a drop.

A benchmark's tags cut it into the subsets its users answer for: GMAI-MMBench's
departments and tasks, SLAKE's modalities, OmniMedVQA's question types. A
fine-tune that loses ten cardiology questions and gains ten elsewhere leaves the
suite's accuracy where it was, so the suite's gate passes it; the cardiology
team would not. This gate (opt-in: list it under ``gates:``) compares each tag's
items with the baseline, paired, by cluster, exactly as ``gate[accuracy]`` does
for the whole suite.

Not every tag can be gated. A tag of six items cannot show a real drop whatever
happens to it, and a gate over it would only pretend. So each tag's smallest
detectable drop (80% power, at the gate's level split over the tags, its items'
clusters counted once) is computed first:

* at most ``detects_at_most``: the tag is gated. It fails when its paired drop
  is over ``max_drop`` and its one-sided exact McNemar test (cluster sign flips)
  is significant;
* larger, or none at all (a baseline at chance): the tag is **too small to
  gate**. It is named in the gate's message and in the run summary, never tested.

The gate's evidence for the suite's family (:mod:`.family`) is the smallest
p-value among the gated tags whose drop is over ``max_drop``, times the number of
gated tags (Bonferroni). A model that got no worse on any tag thus fails this gate
at most at its level, however many tags there are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..stats.power import minimum_detectable_drop
from ..suite.schema import Param
from ..suite.types import ORIGINAL
from .base import Evidence, GateContext, GateResult, gate
from .comparison import PairedFlips, paired_flips
from .robustness import baseline_scores

PARAMS = {
    "max_drop": Param((int, float), "a number between 0 and 1", 0.05, fraction=True),
    "detects_at_most": Param((int, float), "a number between 0 and 1", 0.25, fraction=True),
}
SHOWN_TAGS = 12
"""How many tags a message line lists before "(+N more)"."""


@dataclass(frozen=True)
class TagCheck:
    """One tag: its paired flips, and the smallest drop it detects (None: none at all)."""

    tag: str
    flips: PairedFlips
    detects: float | None


@gate("accuracy_by_tag", params=PARAMS, tested=True)
def accuracy_by_tag(ctx: GateContext) -> GateResult:
    """Each tag's accuracy, now versus the baseline, for the tags that can show a drop."""
    if ctx.baseline is None:
        return GateResult(
            "accuracy_by_tag", "failed", f"no baseline at {ctx.baseline_location}; record one with --snapshot-update"
        )
    checks = tag_checks(ctx)
    if not checks:
        return GateResult("accuracy_by_tag", "skipped", "no tagged item is paired with the baseline: nothing to gate")
    limit, max_drop = ctx.settings["detects_at_most"], ctx.settings["max_drop"]
    gated = [c for c in checks if c.detects is not None and c.detects <= limit + 1e-12]
    small = [c for c in checks if c not in gated]
    numbers: dict[str, float | int | str | None] = {
        "tags": len(checks),
        "gated": len(gated),
        "too_small": _listed([f"{c.tag} ({len(c.flips.paired)})" for c in small]) or None,
    }
    lines = [_too_small_line(small, limit)] if small else []
    if not gated:
        lines.insert(0, f"no tag can detect a drop of {limit * 100:.0f} points or less: nothing to gate")
        return GateResult("accuracy_by_tag", "skipped", "\n".join(lines), numbers)
    large = [c for c in gated if c.flips.before - c.flips.after > max_drop + 1e-12]
    worst = min(large or gated, key=lambda c: c.flips.p_value)
    p = min(1.0, worst.flips.p_value * len(gated))
    lines = [_tag_line(c, max_drop, len(gated)) for c in sorted(gated, key=lambda c: c.flips.p_value)] + lines
    numbers.update(worst_tag=worst.tag, worst_delta=round(worst.flips.after - worst.flips.before, 4))
    headline = f"accuracy dropped on tag {worst.tag} of suite {ctx.suite.name}"
    return GateResult("accuracy_by_tag", "passed", "\n".join(lines), numbers, Evidence(p, bool(large), headline))


def tag_checks(ctx: GateContext) -> list[TagCheck]:
    """Every tag with items paired with the baseline, in the order the suite first uses them."""
    assert ctx.baseline is not None
    originals = {k: s for k, s in ctx.scores.items() if s.variant == ORIGINAL}
    now = {s.item_id: s.correct for s in originals.values()}
    then = {s.item_id: s.correct for s in baseline_scores(ctx.suite, ctx.baseline, originals)}
    clusters, chance = ctx.suite.cluster_by_item(), ctx.suite.chance_by_item()
    members: dict[str, list[str]] = {}
    for item in ctx.suite.items:
        for tag in item.tags:
            members.setdefault(tag, []).append(item.id)
    flips = {tag: paired_flips(_only(now, ids), _only(then, ids), clusters) for tag, ids in members.items()}
    found = {tag: f for tag, f in flips.items() if f is not None}
    level = (ctx.level or ctx.suite.alpha) / max(1, len(found))
    return [
        TagCheck(tag, f, _detects(f, clusters, chance, ctx.settings["max_drop"], level)) for tag, f in found.items()
    ]


def _detects(
    flips: PairedFlips, clusters: Mapping[str, str], chance: Mapping[str, float], max_drop: float, level: float
) -> float | None:
    """The smallest true drop the tag's test catches with 80% power; its clusters count once each."""
    units = len({clusters.get(i, i) for i in flips.paired})
    correct = round(flips.before * units)
    mean_chance = sum(chance.get(i, 0.0) for i in flips.paired) / len(flips.paired)
    return minimum_detectable_drop(units, correct, mean_chance, max_drop, level)


def _only(values: Mapping[str, bool], ids: list[str]) -> dict[str, bool]:
    return {i: values[i] for i in ids if i in values}


def _tag_line(check: TagCheck, max_drop: float, gated: int) -> str:
    f = check.flips
    detects = f"{check.detects * 100:.0f}" if check.detects is not None else "n/a"
    return (
        f"tag {check.tag}: {len(f.paired)} paired items, baseline {f.before:.1%} -> current {f.after:.1%}, "
        f"{(f.after - f.before) * 100:+.1f} points (max_drop {max_drop * 100:.1f}); {len(f.lost)} lost, "
        f"{len(f.gained)} gained; p = {f.p_value:.4g} (x{gated} tags: {min(1.0, f.p_value * gated):.4g}); "
        f"detects {detects} points"
    )


def _too_small_line(small: list[TagCheck], limit: float) -> str:
    return f"too small to gate (would detect no drop of {limit * 100:.0f} points or less): " + _listed(
        [f"{c.tag} ({len(c.flips.paired)} items)" for c in small]
    )


def _listed(names: list[str]) -> str:
    more = f" (+{len(names) - SHOWN_TAGS} more)" if len(names) > SHOWN_TAGS else ""
    return ", ".join(names[:SHOWN_TAGS]) + more
