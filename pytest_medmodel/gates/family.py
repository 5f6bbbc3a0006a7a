"""A suite's false-alarm budget: every tested gate shares the suite's ``alpha`` (Holm's step-down).

A suite fails when any of its gates fails, so with eleven gates each at 1% a
model that did not get worse would fail the suite far more often than 1%. Here
each tested gate (one that returns :class:`~.base.Evidence`) contributes a
one-sided p-value, and Holm's procedure decides which are significant: sort the
p-values, compare the smallest with ``alpha / m``, the next with
``alpha / (m - 1)``, and so on, stopping at the first that is not below its
level. Whatever the dependence between the gates, the chance that any gate of a
suite fails a model that got no worse in any of them is at most ``alpha``.

``m`` is the number of tested gates the suite *declares*, not how many ran: a
``-k`` selection or a skipped gate leaves the levels as they are, so a verdict
never depends on which tests were selected. A gate fails on its evidence when
its p-value is below its Holm level and its observed change is beyond its
tolerance; floors and a missing baseline fail it regardless. Gates registered
without ``tested=True`` (a team's own gates) decide alone and are outside the
budget.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from ..baselines.format import Baseline
from ..execution.evaluate import suite_variants
from ..models.specs import as_model
from ..records import ItemScore
from ..suite.types import Suite
from .base import GATES, GateContext, GateResult, GateStatus, run_gate
from .comparison import Comparison, Pairing, compare


def family_size(suite: Suite) -> int:
    """How many of the suite's gates share its alpha."""
    return sum(1 for use in suite.gates if GATES.get(use.registered).tested)


def first_level(suite: Suite) -> float:
    """The level a tested gate is held to when it is the only one of its suite that fires."""
    return suite.alpha / max(1, family_size(suite))


def holm_levels(p_values: Mapping[str, float], alpha: float, size: int) -> dict[str, float]:
    """The level each p-value is held to by Holm's step-down over ``size`` hypotheses.

    A p-value ranked after the first one that was not significant is held to that
    one's level (it cannot be significant either); so "significant" is exactly
    ``p < level``. Ties are broken by name, so the result never depends on order.
    """
    size = max(size, len(p_values))
    order = sorted(p_values, key=lambda name: (p_values[name], name))
    levels: dict[str, float] = {}
    stopped: int | None = None
    for rank, name in enumerate(order):
        level = alpha / (size - (rank if stopped is None else stopped))
        if stopped is None and not p_values[name] < level:
            stopped = rank
        levels[name] = level
    return levels


def decide(suite: Suite, results: Mapping[str, GateResult]) -> dict[str, GateResult]:
    """Turn each tested gate's evidence into its verdict under the suite's shared alpha."""
    size = family_size(suite)
    tested = {name: r.evidence.p_value for name, r in results.items() if r.evidence is not None}
    levels = holm_levels(tested, suite.alpha, size)
    out = {}
    for name, result in results.items():
        if result.evidence is None or result.status == "skipped":
            out[name] = result
            continue
        level, evidence = levels[name], result.evidence
        dropped = evidence.large and evidence.p_value < level
        lines = [evidence.headline] if dropped else []
        lines.append(result.message)
        lines.append(
            f"tested at level {level:.2g}: p = {evidence.p_value:.4g}; the suite's alpha {suite.alpha:g} is shared by "
            f"its {size} tested gate{'s' if size != 1 else ''} (Holm), so a model that got no worse fails this suite "
            f"at most {suite.alpha:.0%} of the time"
            + ("" if evidence.large else "; the observed change is within the tolerance, so it cannot fail here")
        )
        status: GateStatus = "failed" if result.status == "failed" or dropped else "passed"
        numbers = {**result.numbers, "level": float(f"{level:.6g}"), "p_value": round(evidence.p_value, 6)}
        out[name] = replace(result, status=status, message="\n".join(lines), numbers=numbers)
    return out


def judge_suite(contexts: Mapping[str, GateContext]) -> dict[str, GateResult]:
    """Run every gate of one suite (``contexts`` by gate name) and decide them together."""
    results = {name: run_gate(ctx, name) for name, ctx in contexts.items()}
    suites = {id(ctx.suite): ctx.suite for ctx in contexts.values()}
    if len(suites) != 1:
        raise ValueError("judge_suite decides the gates of one suite at a time")
    return decide(next(iter(suites.values())), results)


def compare_with_baseline(
    suite: Suite, scores: Mapping[str, ItemScore], baseline: Baseline | None, model: Any
) -> Comparison:
    """Pair the scores of the original items with the baseline's entries."""
    handle = as_model(model)
    profile = baseline.profile if baseline is not None else handle.profile
    pairing = Pairing.of(suite, list(suite_variants(suite)))
    return compare(pairing, profile=profile, scores=scores, baseline=baseline, model_fingerprint=handle.fingerprint)


def gate_context(
    suite: Suite,
    name: str,
    scores: Mapping[str, ItemScore],
    baseline: Baseline | None,
    comparison: Comparison,
    location: str,
) -> GateContext:
    use = suite.gate(name)
    level = first_level(suite) if GATES.get(use.registered).tested else None
    return GateContext(suite, comparison, scores, baseline, location, use.settings, level)


def run_gates(
    suite: Suite,
    scores: Mapping[str, ItemScore],
    baseline: Baseline | None,
    model: Any,
    *,
    location: str = "the baseline",
    comparison: Comparison | None = None,
) -> list[GateResult]:
    """Every gate of the suite, in order, on these scores against ``baseline``.

    ``comparison``: the paired comparison, when the caller has already made it.
    """
    comparison = comparison or compare_with_baseline(suite, scores, baseline, model)
    contexts = {name: gate_context(suite, name, scores, baseline, comparison, location) for name in suite.gate_names}
    return list(judge_suite(contexts).values())
