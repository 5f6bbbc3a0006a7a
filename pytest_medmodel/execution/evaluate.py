"""Score a suite without pytest: every variant of the chosen items, through shards and a runner."""

from __future__ import annotations

from typing import Any

from ..models.specs import as_model
from ..perturb.plan import SuiteVariants
from ..records import ItemScore
from ..suite.types import Suite, Variant
from .runner import Runner
from .shards import Shards


def suite_variants(suite: Suite) -> dict[str, Variant]:
    """Every variant of every item, by key: originals and the suite's perturbations.

    Checked as collection checks them (:class:`~pytest_medmodel.perturb.plan.SuiteVariants`):
    a perturbation that fails, or makes a variant the prompt cannot show, is one
    :class:`~pytest_medmodel.suite.types.SuiteError` naming the item.
    """
    planned = SuiteVariants(suite)
    return {variant.key: variant for item in suite.items for variant in planned.of(item)}


def evaluate(
    suite: Suite, model: Any, *, limit: int | None = None, runner: Runner | None = None, shard_size: int = 64
) -> dict[str, ItemScore]:
    """Score the suite's first ``limit`` items (all by default) and their variants.

    ``runner`` decides where predictions are cached (default: in memory, this call only).
    """
    handle = as_model(model)
    items = {item.id for item in (suite.items[:limit] if limit else suite.items)}
    variants = {k: v for k, v in suite_variants(suite).items() if v.item_id in items}
    shards = Shards(runner or Runner(), shard_size)
    shards.plan(suite.path.as_posix(), suite, variants, list(variants))
    return shards.suite_scores(suite.path.as_posix(), handle)
