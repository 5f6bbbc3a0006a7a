"""Shards: a suite's selected variants cut into fixed groups, each scored in one batched call.

Tests never call the model. The first test that needs a variant's score computes
its whole shard (one :meth:`~pytest_medmodel.execution.runner.Runner.execute` call) and
every later test reads the result. The xdist controller cuts the same shards
from the same ordered selection (:func:`plan_shards`), so it can keep each
shard on one worker without talking to the workers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from ..images import ImageError
from ..models.base import IMAGES, Request
from ..models.handle import ModelHandle
from ..records import ItemScore
from ..scoring.base import SCORERS, unservable
from ..scoring.fallback import generation_fallback
from ..suite.types import Suite, Variant
from .calls import said
from .runner import Runner


class Unservable(Exception):
    """The model lacks what the suite's scorer needs; its tests are skipped with this reason."""


class ShardFailed(RuntimeError):
    """Inference failed on a shard; every test of that shard reports the same cause."""


class UnusableImage(RuntimeError):
    """An item's image cannot be decoded (truncated, a decompression bomb): that item fails, with the line;
    the other items of its shard are scored as usual."""


def plan_shards(keys: Sequence[str], shard_size: int) -> list[tuple[str, ...]]:
    """Consecutive groups of ``shard_size`` keys (the same on controller and workers)."""
    size = max(1, shard_size)
    return [tuple(keys[i : i + size]) for i in range(0, len(keys), size)]


@dataclass
class _Planned:
    suite: Suite
    variants: Mapping[str, Variant]
    shards: list[tuple[str, ...]]
    shard_of: dict[str, int] = field(default_factory=dict)


class Shards:
    """Scores of planned suites, computed shard by shard and remembered for the session."""

    def __init__(
        self, runner: Runner, shard_size: int = 64, on_requests: Callable[[Sequence[Request]], None] | None = None
    ) -> None:
        self.runner = runner
        self.shard_size = shard_size
        self.on_requests = on_requests
        """Called with each shard's requests before they are run (``--medmodel-log-prompts``)."""
        self.on_fallback: Callable[[str, Suite], None] | None = None
        """Called when a suite is scored by generation instead (:mod:`.scoring.fallback`)."""
        self._planned: dict[str, _Planned] = {}
        self._done: dict[tuple[str, int], dict[str, ItemScore]] = {}
        self._failed: dict[tuple[str, int], BaseException] = {}
        self._unusable: dict[tuple[str, str], str] = {}
        """(suite key, variant key) -> why its image cannot be decoded."""

    def plan(self, suite_key: str, suite: Suite, variants: Mapping[str, Variant], keys: Sequence[str]) -> None:
        """Record a suite's selected variant keys (in test order) and cut them into shards."""
        shards = plan_shards(keys, self.shard_size)
        planned = _Planned(suite, variants, shards)
        for index, shard in enumerate(shards):
            for key in shard:
                planned.shard_of[key] = index
        self._planned[suite_key] = planned

    def score(self, suite_key: str, key: str, model: ModelHandle) -> ItemScore:
        """The score of one planned variant, computing its shard on first use."""
        planned = self._planned[suite_key]
        if key not in planned.shard_of:
            raise KeyError(f"{key} of {suite_key} was not planned; plan() the selected variants first")
        scores = self._shard(suite_key, planned.shard_of[key], model)
        if (suite_key, key) in self._unusable:
            raise UnusableImage(self._unusable[(suite_key, key)])
        return scores[key]

    def suite_scores(self, suite_key: str, model: ModelHandle) -> dict[str, ItemScore]:
        """Scores of every planned variant of a suite (what a gate needs)."""
        out: dict[str, ItemScore] = {}
        for index in range(len(self._planned[suite_key].shards)):
            out.update(self._shard(suite_key, index, model))
        return out

    def _shard(self, suite_key: str, index: int, model: ModelHandle) -> dict[str, ItemScore]:
        key = (suite_key, index)
        if key in self._done:
            return self._done[key]
        if key in self._failed:
            cause = self._failed[key]
            where = f"{self._planned[suite_key].suite.name} shard {index + 1}"
            raise ShardFailed(f"{where}: inference failed earlier in this run: {said(cause)}") from cause
        try:
            result = self._compute(suite_key, index, model)
        except Unservable:
            raise
        except Exception as exc:
            self._failed[key] = exc
            raise
        self._done[key] = result
        return result

    def _compute(self, suite_key: str, index: int, model: ModelHandle) -> dict[str, ItemScore]:
        planned = self._planned[suite_key]
        capabilities = model.capabilities_for(any(item.images for item in planned.suite.items))
        swapped = generation_fallback(planned.suite, capabilities)
        if swapped is not None:  # a generate-only model: read the answers out of generated text
            planned.suite = swapped
            if self.on_fallback is not None:
                self.on_fallback(suite_key, swapped)
        suite = planned.suite
        scorer = SCORERS.get(suite.scoring.method)
        reason = unservable(scorer, model.name, capabilities) or sees_no_images(suite, model)
        if reason is not None:
            raise Unservable(reason)
        chat = self.runner.chat(model) if suite.prompt.chat_template != "never" else None
        variants = [planned.variants[key] for key in planned.shards[index]]
        for variant in variants:
            problem = unusable_image(variant)
            if problem is not None:
                self._unusable[(suite_key, variant.key)] = problem
        variants = [v for v in variants if (suite_key, v.key) not in self._unusable]
        if not variants:
            return {}
        requests = [scorer.request(suite, variant, chat) for variant in variants]
        if chat is not None:
            chat.flush()
        if self.on_requests is not None:
            self.on_requests(requests)
        label = f"{suite.name} shard {index + 1}/{len(planned.shards)}"
        results = self.runner.execute(requests, model, label=label, detail=suite.scoring.method)
        pairs = zip(variants, results, strict=True)
        return {variant.key: scorer.score(suite, variant, result) for variant, result in pairs}


def sees_no_images(suite: Suite, model: ModelHandle) -> str | None:
    """Why ``model`` cannot answer ``suite`` (its items have images; the model does not take them)."""
    if IMAGES in model.capabilities or not any(item.images for item in suite.items):
        return None
    return (
        f"{model.name} does not take images (no '{IMAGES}' capability) and suite {suite.name}'s items have "
        "images; run it with a vision-language model"
    )


def unusable_image(variant: Variant) -> str | None:
    """One line when one of ``variant``'s images cannot be decoded (None when all can).

    Decoding here, before the shard's requests go out, keeps a bad file to its own
    item: the model never sees a request it cannot be given, and the rest of the
    shard is scored. The decoded pictures stay cached for the adapter.
    """
    for image in variant.images:
        try:
            image.load()
        except ImageError as exc:
            return f"item {variant.key}: {exc}"
    return None
