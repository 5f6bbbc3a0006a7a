"""The plain-Python core: load a suite and a model, score it, gate it against a baseline. No pytest.

The pytest plugin is a thin skin over these functions; a notebook, a training
loop's callback or another test runner can use them directly::

    from pytest_medmodel import evaluate, load_model, load_suite, read_baseline, run_gates

    suite = load_suite("suites/pubmedqa_style.suite.yaml")
    model = load_model("demo")
    scores = evaluate(suite, model, limit=16)
    baseline = read_baseline("baselines/demo/pubmedqa_style.json")
    for result in run_gates(suite, scores, baseline, model):
        print(result.gate, result.status)
        print(result.message)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .baselines.format import Baseline
from .baselines.format import read_baseline as _read_baseline
from .execution.runner import Runner
from .execution.shards import Shards
from .gates.base import GATES, GateContext, GateResult
from .gates.comparison import Comparison, compare
from .gates.family import first_level, judge_suite
from .models.handle import ModelHandle
from .models.specs import ModelOptions, profile_for_spec, resolve_model
from .mutate.base import mutate_handle
from .perturb.base import variants_of
from .records import ItemScore
from .suite.types import Suite, Variant


def load_model(
    spec: str,
    *,
    device: str = "auto",
    dtype: str = "auto",
    batch_size: int | None = None,
    cache_dir: Path | None = None,
    log: Callable[[str], None] | None = None,
    mutate: str | None = None,
) -> ModelHandle:
    """The model named by ``spec`` (what ``--medmodel`` accepts); weights load on first use.

    ``mutate``: a mutation spec (what ``--medmodel-mutate`` accepts, e.g. ``noise:scale=0.1``)
    applied when the weights load; the handle gets its own fingerprint and keeps the profile.
    """
    options = ModelOptions(device=device, dtype=dtype, batch_size=batch_size, cache_dir=cache_dir, log=log)
    handle = resolve_model(spec, options)
    return mutate_handle(handle, mutate) if mutate else handle


def as_model(value: Any, *, where: str = "the model") -> ModelHandle:
    """A :class:`ModelHandle` from a handle, a spec string or any adapter object."""
    if isinstance(value, ModelHandle):
        return value
    if isinstance(value, str):
        return load_model(value)
    name = str(getattr(value, "name", None) or type(value).__name__)
    return ModelHandle.wrap(value, profile=profile_for_spec("py:" + name), where=where)


def suite_variants(suite: Suite) -> dict[str, Variant]:
    """Every variant of every item, by key: originals and the suite's perturbations."""
    out: dict[str, Variant] = {}
    for item in suite.items:
        for variant in variants_of(suite, Variant.of(item)):
            out[variant.key] = variant
    return out


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


def read_baseline(path: str | Path) -> Baseline | None:
    """The baseline file at ``path`` (None when there is none yet)."""
    return _read_baseline(Path(path))


def compare_with_baseline(
    suite: Suite, scores: Mapping[str, ItemScore], baseline: Baseline | None, model: Any
) -> Comparison:
    """Pair the scores of the original items with the baseline's entries."""
    handle = as_model(model)
    profile = baseline.profile if baseline is not None else handle.profile
    keys = list(suite_variants(suite))
    return compare(
        suite=suite.name,
        profile=profile,
        scores=scores,
        baseline=baseline,
        suite_keys=keys,
        model_fingerprint=handle.fingerprint,
        suite_fingerprint=suite.fingerprint,
        chance=suite.chance_by_item(),
        answers=suite.answers_by_item(),
        clusters=suite.cluster_by_item(),
    )


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
