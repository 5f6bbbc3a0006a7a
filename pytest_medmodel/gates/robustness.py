"""Each perturbation's two gates: ``accuracy/<label>`` and ``consistency/<label>``, paired with the baseline.

Same standard as the accuracy gate: an item's outcome under the perturbation
(right under every variant of it; or, for consistency, the same option content as
the original under every variant) is compared with the baseline's outcome for the
same item, and the gate fails when the share drops by more than ``max_drop`` **and**
a one-sided exact McNemar test on the items that flipped (by cluster when items
share one) is significant at the gate's level under the suite's shared alpha
(:mod:`.family`), or when the share is below its floor. Only items whose original and variants are all
unchanged since the baseline are paired.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ..baselines.format import Baseline
from ..perturb.robustness import ItemRobustness, family_of, item_robustness
from ..records import ItemScore
from ..stats.significance import wilson_interval
from ..suite.schema import Param
from ..suite.types import FIXED_CHOICES, ORIGINAL, Suite, split_key
from .base import Evidence, GateContext, GateResult, GateStatus, check_tolerance, gate, tolerance_param
from .comparison import paired_flips


def _params(floor: str) -> dict[str, Param]:
    return {
        "max_drop": Param((int, float), "a number between 0 and 1", 0.02, fraction=True),
        "tolerance": tolerance_param(),
        floor: Param((int, float, type(None)), "a number between 0 and 1", None, fraction=True),
    }


def baseline_scores(suite: Suite, baseline: Baseline, current: Mapping[str, ItemScore]) -> list[ItemScore]:
    """The baseline's entries for the keys scored now, unchanged since, as item scores (answers by content)."""
    out = []
    for key, now in current.items():
        entry = baseline.paired_entry(now)
        if entry is None:
            continue
        item_id, variant = split_key(key)
        if variant:
            choice = entry.values.get("choice")
            answer = choice if isinstance(choice, int) and not isinstance(choice, bool) else None
        else:
            answer = _original_index(suite, entry.shown)
        out.append(ItemScore(item_id, variant, answer, entry.correct, entry.shown, "", entry.content_hash))
    return out


def _original_index(suite: Suite, shown: str) -> int | None:
    """An original item's answer as written in the baseline (a label, or a fixed word) -> its index."""
    options = FIXED_CHOICES.get(suite.task) or suite.prompt.labels
    return options.index(shown) if shown in options else None


def _paired(
    ctx: GateContext, measure: Callable[[ItemRobustness], bool]
) -> tuple[dict[str, bool], dict[str, bool]] | None:
    label = ctx.settings["perturbation"]
    labels = [p.label for p in ctx.suite.perturbations]
    now = {i: measure(r) for i, r in item_robustness(ctx.scores.values(), label, labels).items()}
    if ctx.baseline is None:
        return now, {}
    family = {k: s for k, s in ctx.scores.items() if s.variant == ORIGINAL or family_of(s.variant, labels) == label}
    then_scores = baseline_scores(ctx.suite, ctx.baseline, family)
    complete = _complete(family, then_scores)
    then = {i: measure(r) for i, r in item_robustness(then_scores, label, labels).items() if i in complete}
    return now, then


def _complete(current: Mapping[str, ItemScore], then: list[ItemScore]) -> set[str]:
    """Items whose every scored key (original and variants) has an unchanged baseline entry."""
    have = {s.item_key for s in then}
    items: dict[str, bool] = {}
    for key, score in current.items():
        items[score.item_id] = items.get(score.item_id, True) and key in have
    return {i for i, ok in items.items() if ok}


def _decide(ctx: GateContext, what: str, floor_key: str, measure: Callable[[ItemRobustness], bool]) -> GateResult:
    name = f"{what}/{ctx.settings['perturbation']}"
    pairs = _paired(ctx, measure)
    if not pairs or not pairs[0]:
        why = f"no variant of perturbation '{ctx.settings['perturbation']}' was selected with its original item"
        return GateResult(name, "skipped", why)
    now, then = pairs
    lines, failed = _floor(what, sum(now.values()), len(now), ctx.settings[floor_key])
    if not then:
        lines.append(
            f"no baseline for the '{ctx.settings['perturbation']}' variants of suite {ctx.suite.name} at "
            f"{ctx.baseline_location}; record one with --snapshot-update and commit it"
        )
        return GateResult(name, "failed", "\n".join(lines), {"n": len(now)})
    flips = paired_flips(now, then, ctx.suite.cluster_by_item())
    if flips is None:
        lines.append(f"the baseline at {ctx.baseline_location} shares no complete item with this run; re-record it")
        return GateResult(name, "failed", "\n".join(lines), {"n": len(now)})
    max_drop, tolerance = ctx.settings["max_drop"], ctx.settings["tolerance"]
    p, large, _ = flips.test(max_drop, tolerance)
    lines += flips.describe(f"{what} under '{ctx.settings['perturbation']}'", "items", max_drop, tolerance)
    headline = f"{what} under '{ctx.settings['perturbation']}' dropped on suite {ctx.suite.name}"
    status: GateStatus = "failed" if failed else "passed"
    return GateResult(name, status, "\n".join(lines), flips.numbers(), Evidence(p, large, headline))


def _floor(what: str, good: int, n: int, floor: float | None) -> tuple[list[str], bool]:
    if floor is None or good / n >= floor:
        return [], False
    low, high = wilson_interval(good, n)
    return [f"{what} {good / n:.1%} [{low:.1%}, {high:.1%}] on {n} items is below the floor {floor:.1%}"], True


@gate(
    "perturbed_accuracy",
    params=_params("min_accuracy"),
    per_perturbation="accuracy",
    check=check_tolerance,
    tested=True,
)
def perturbed_accuracy(ctx: GateContext) -> GateResult:
    """Accuracy under a perturbation (every variant of it right: circular evaluation for rotations)."""
    return _decide(ctx, "accuracy", "min_accuracy", lambda r: r.correct)


@gate(
    "consistency", params=_params("min_consistency"), per_perturbation="consistency", check=check_tolerance, tested=True
)
def consistency(ctx: GateContext) -> GateResult:
    """Consistency under a perturbation: the same option content as the original, under every variant."""
    return _decide(ctx, "consistency", "min_consistency", lambda r: r.consistent)
