"""``gate[image_reliance]``: the model still needs the image to answer.

Image reliance is accuracy with the real image minus accuracy with it taken away
(the suite's ablations: ``no_image``, ``blank_image``, ``swap_image``), per item
``right with the image - share of its ablated variants right``, so it lies in
[-1, 1]; the suite's reliance is the mean. A checkpoint whose vision tower did not
load (MedEvalKit issue #13: LLaVA-Med lost 30 points and nobody noticed) answers
the same with and without the picture: its reliance is zero.

The gate fails when

- reliance **fell** against the baseline: the paired per-item drop is larger than
  ``max_drop`` and a betting test on it (exact at every size, by cluster where
  items share an image) is significant at the gate's level under the suite's
  shared alpha; or
- reliance is **indistinguishable from zero** now (one-sided test at the suite's
  alpha) where the baseline's was not; or
- it is below ``min_reliance``, where the suite sets one; or
- there is no baseline, as every gate does, saying first when the model already
  answers as well without the image.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from ..perturb.base import PERTURBATIONS
from ..perturb.robustness import family_of
from ..records import ItemScore
from ..stats.significance import Z_95, bounded_mean_above_p, sign_flip_upper_tail
from ..suite.schema import Param
from ..suite.types import ORIGINAL, Suite
from .base import Evidence, GateContext, GateResult, GateStatus, check_tolerance, gate, tolerance_param
from .comparison import cluster_means
from .robustness import baseline_scores

PARAMS = {
    "max_drop": Param((int, float), "a number between 0 and 1", 0.05, fraction=True),
    "tolerance": tolerance_param(),
    "min_reliance": Param((int, float, type(None)), "a number between 0 and 1", None, fraction=True),
}


def ablation_labels(suite: Suite) -> list[str]:
    """The labels of the suite's ablations (perturbations that take the image away)."""
    return [use.label for use in suite.perturbations if PERTURBATIONS.get(use.name).ablation]


def reliance_by_item(suite: Suite, scores: Iterable[ItemScore]) -> dict[str, float]:
    """Per item with its original and at least one ablated variant scored: right with the image minus
    the share of its ablated variants right."""
    labels = [use.label for use in suite.perturbations]
    ablations = set(ablation_labels(suite))
    original: dict[str, bool] = {}
    ablated: dict[str, list[bool]] = {}
    for score in scores:
        if score.variant == ORIGINAL:
            original[score.item_id] = score.correct
        elif family_of(score.variant, labels) in ablations:
            ablated.setdefault(score.item_id, []).append(score.correct)
    return {i: original[i] - sum(a) / len(a) for i, a in ablated.items() if i in original}


def _mean(values: Iterable[float]) -> float:
    values = list(values)
    return sum(values) / len(values) if values else 0.0


@gate("image_reliance", params=PARAMS, check=check_tolerance, tested=True)
def image_reliance(ctx: GateContext) -> GateResult:
    """Accuracy with the image minus without it: still above zero, and no lower than the baseline's."""
    suite, alpha = ctx.suite, ctx.suite.alpha
    clusters = suite.cluster_by_item()
    now = reliance_by_item(suite, ctx.scores.values())
    if not now:
        return GateResult("image_reliance", "skipped", "no item was selected with its ablated variants")
    p_now = bounded_mean_above_p(cluster_means(now, clusters), 0.0)
    lines = describe(suite, now, clusters, p_now)
    numbers = {"n": len(now), "reliance": round(_mean(now.values()), 4), "p_reliance": round(p_now, 6)}
    flat = p_now >= alpha
    if flat:
        lines.insert(0, "the model answers as well without the image: its reliance is indistinguishable from zero")
    floor = ctx.settings["min_reliance"]
    below = floor is not None and _mean(now.values()) < floor
    if below:
        lines.insert(0, f"image reliance {_mean(now.values()):+.1%} is below the floor min_reliance {floor:.1%}")
    if ctx.baseline is None:
        lines.append(f"no baseline at {ctx.baseline_location}; record one with --snapshot-update and commit it")
        return GateResult("image_reliance", "failed", "\n".join(lines), numbers)
    then = _baseline_reliance(ctx, now)
    if not then:
        lines.append(f"the baseline at {ctx.baseline_location} shares no complete item with this run; re-record it")
        return GateResult("image_reliance", "failed", "\n".join(lines), numbers)
    p_then = bounded_mean_above_p(cluster_means(then, clusters), 0.0)
    drops = {i: then[i] - now[i] for i in then}
    max_drop, tolerance = ctx.settings["max_drop"], ctx.settings["tolerance"]
    p, test = drop_p(drops, clusters, max_drop if tolerance == "margin" else None)
    drop = _mean(drops.values())
    lines.append(
        f"on {len(drops)} paired items: baseline {_mean(then.values()):+.1%} (p = {p_then:.3g} above zero) -> "
        f"now {_mean(now[i] for i in drops):+.1%}, a drop of {drop * 100:.1f} points (max_drop "
        f"{max_drop * 100:.1f} points); p = {p:.3g} that it fell ({test})"
    )
    numbers = {**numbers, "baseline_reliance": round(_mean(then.values()), 4), "p_value": round(p, 6)}
    lost = flat and p_then < alpha
    if lost:
        lines.insert(0, f"the model no longer needs the image on suite {suite.name}; the baseline's model did")
    headline = f"image reliance fell on suite {suite.name}"
    status: GateStatus = "failed" if lost or below else "passed"
    return GateResult("image_reliance", status, "\n".join(lines), numbers, Evidence(p, drop > max_drop, headline))


def drop_p(drops: Mapping[str, float], clusters: Mapping[str, str], margin: float | None) -> tuple[float, str]:
    """One-sided p that reliance fell (``margin``: by more than it), and the test's name.

    Each item's drop is a multiple of 1/k for k ablated variants per item, so k times it
    is a whole number: with no margin, an exact sign-flip test over the clusters' totals
    (baseline and now are exchangeable within a cluster when nothing changed). With a
    margin, or drops that are not such multiples, a betting test on the cluster means.
    """
    scale = next((k for k in range(1, 13) if all(abs(d * k - round(d * k)) < 1e-9 for d in drops.values())), None)
    if margin is None and scale is not None:
        totals: dict[str, int] = {}
        for item_id, d in drops.items():
            unit = clusters.get(item_id, item_id)
            totals[unit] = totals.get(unit, 0) + round(d * scale)
        return sign_flip_upper_tail(list(totals.values())), "exact sign-flip test over clusters"
    return bounded_mean_above_p(cluster_means(drops, clusters), margin or 0.0, -2.0, 2.0), "betting test over clusters"


def describe(suite: Suite, now: Mapping[str, float], clusters: Mapping[str, str], p_now: float) -> list[str]:
    """The reliance with its interval (over clusters) and, for a tagged suite, per tag."""
    low, high = mean_interval(now, clusters)
    units = len({clusters.get(i, i) for i in now})
    lines = [
        f"image reliance {_mean(now.values()):+.1%} [{low:+.1%}, {high:+.1%}] on {len(now)} items "
        f"({units} independent units; 95% cluster-robust normal interval; accuracy with the image minus without "
        f"it: {', '.join(ablation_labels(suite))}); p = {p_now:.3g} that it is above zero"
    ]
    by_tag: dict[str, list[float]] = {}
    for item_id, tags in suite.tags_by_item().items():
        for tag in tags if item_id in now else ():
            by_tag.setdefault(tag, []).append(now[item_id])
    if by_tag:
        lines.append("by tag: " + ", ".join(f"{t} {_mean(v):+.1%} ({len(v)})" for t, v in by_tag.items()))
    return lines


def mean_interval(values: Mapping[str, float], clusters: Mapping[str, str]) -> tuple[float, float]:
    """A 95% normal interval for the mean of per-item ``values`` whose clusters are independent units.

    The cluster-robust standard error: each cluster's summed deviation from the mean, squared,
    with the small-sample factor C/(C-1); for items that all stand alone it is the usual s/sqrt(n).
    The mean itself for fewer than two units.
    """
    middle = _mean(values.values())
    sums: dict[str, float] = {}
    for item_id, value in values.items():
        unit = clusters.get(item_id, item_id)
        sums[unit] = sums.get(unit, 0.0) + value - middle
    units = len(sums)
    if units < 2:
        return middle, middle
    spread = math.sqrt(sum(d * d for d in sums.values()) * units / (units - 1)) / len(values)
    return middle - Z_95 * spread, middle + Z_95 * spread


def _baseline_reliance(ctx: GateContext, now: Mapping[str, float]) -> dict[str, float]:
    """The baseline's reliance on the items scored now whose original and ablated variants are all unchanged."""
    keys = {k: s for k, s in ctx.scores.items() if s.item_id in now}
    then_scores = baseline_scores(ctx.suite, ctx.baseline, keys) if ctx.baseline is not None else []
    have = {s.item_key for s in then_scores}
    complete = {s.item_id for s in keys.values()} - {s.item_id for k, s in keys.items() if k not in have}
    return {i: r for i, r in reliance_by_item(ctx.suite, then_scores).items() if i in complete}
