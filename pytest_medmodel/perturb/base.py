"""Perturbations: deterministic changes to an item that should not change the right answer.

A perturbation is a registered factory whose keyword arguments are its settings
in the suite file; it returns the function that turns a :class:`Variant` into a
new one. Randomness comes only from the ``random.Random`` it is handed, seeded from
the suite name, the item id and the perturbation's label and settings (HELM seeds
per instance), never from global state or test order: the same variant text comes
out on every machine, serially and under ``-n``.

Examples:
    A perturbation with one setting, used in a suite as
    ``perturbations: [{name: drop_words, rate: 0.1}]``::

        @perturbation("drop_words")
        def drop_words(rate: float = 0.1) -> Perturb:
            def apply(variant: Variant, rng: random.Random) -> Variant:
                words = [w for w in variant.question.split() if rng.random() >= rate]
                return dataclasses.replace(variant, question=" ".join(words))
            return apply
"""

from __future__ import annotations

import hashlib
import inspect
import json
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..factory_settings import Setting as Setting
from ..factory_settings import first_problem, settings_of
from ..registry import Registry, origin_of
from ..suite.types import ORIGINAL, Suite, SuiteError, Variant

Perturb = Callable[..., "Variant | Sequence[Variant]"]
"""``apply(variant, rng)``, or ``apply(variant, rng, suite)`` for one that needs the suite's other items
(:func:`sees_suite`)."""
Factory = Callable[..., Perturb]


STRENGTH_LEVELS = 4
"""Strength levels the search tries (1 mildest .. 4 strongest), see :class:`Strength`."""


@dataclass(frozen=True)
class Strength:
    """The setting that makes a perturbation stronger, and its range (``mild`` may exceed ``strong``)."""

    param: str
    mild: float
    strong: float

    def value(self, level: int) -> float:
        """The setting at ``level`` (1 = ``mild`` .. :data:`STRENGTH_LEVELS` = ``strong``), rounded for display."""
        step = (min(max(level, 1), STRENGTH_LEVELS) - 1) / (STRENGTH_LEVELS - 1)
        return round(self.mild + (self.strong - self.mild) * step, 4)


@dataclass(frozen=True)
class Perturbation:
    """A registered perturbation factory (``strength``: what ``--medmodel-search`` varies, if anything)."""

    name: str
    factory: Factory
    strength: Strength | None = None
    ablation: bool = False
    """It takes away what the answer depends on (the image): no gates of its own; ``gate[image_reliance]``."""

    def settings(self) -> dict[str, Setting]:
        """Each setting the factory takes, with the type its annotation asks for and its default."""
        return settings_of(self.factory)

    def check(self, params: Mapping[str, Any]) -> tuple[str, str, str] | None:
        """The first problem with ``params`` as ``(setting, problem, fix)``, or None: like a gate's settings
        (:func:`~pytest_medmodel.factory_settings.first_problem`)."""
        return first_problem(self.name, "perturbation", self.factory, params)


PERTURBATIONS: Registry[Perturbation] = Registry(
    "perturbation",
    builtins=tuple(f"pytest_medmodel.perturb.{name}" for name in ("choices", "text", "images", "ablations")),
)


def perturbation(
    name: str, strength: tuple[str, float, float] | None = None, *, ablation: bool = False
) -> Callable[[Factory], Factory]:
    """Register the decorated factory as perturbation ``name``.

    ``strength``: ``(setting, mildest, strongest)``, the numeric setting the search
    (``--medmodel-search``) varies over :data:`STRENGTH_LEVELS` levels from mildest to
    strongest, shrinking a flip towards the mildest level that still flips it.
    ``ablation``: the variant is *meant* to lose the answer (the image taken away), so it
    gets no accuracy or consistency gate; ``gate[image_reliance]`` compares it with the original.
    """

    def register(factory: Factory) -> Factory:
        scale = Strength(*strength) if strength else None
        PERTURBATIONS.register(name, Perturbation(name, factory, scale, ablation), origin_of(factory))
        return factory

    return register


def sees_suite(apply: Callable[..., Any]) -> bool:
    """Whether a perturbation's function takes the suite too (``apply(variant, rng, suite)``).

    Most perturbations change one item on its own. One that needs the other items of
    its suite (another item's image swapped in, a question from elsewhere as a
    distractor) takes a third parameter named ``suite`` and picks among
    ``suite.items`` with the seeded ``rng``, so its choice is as reproducible as
    any other variant.
    """
    try:
        return "suite" in inspect.signature(apply).parameters
    except (TypeError, ValueError):  # a builtin or C callable without a signature: the two-argument form
        return False


def seed_for(suite: str, item_id: str, label: str, params: Mapping[str, Any]) -> int:
    """A 64-bit seed that depends only on the suite, the item and the perturbation spec."""
    blob = json.dumps([suite, item_id, label, dict(params)], sort_keys=True, ensure_ascii=False, default=str)
    return int(hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16], 16)


def check_variants(suite: Suite, item_id: str, variants: Sequence[Variant]) -> None:
    """Variants must keep the original, have distinct names, and keep the item id."""
    names = [v.name for v in variants]
    if ORIGINAL not in names or len(set(names)) != len(names) or any(v.item_id != item_id for v in variants):
        problem = f"variants {names} of item {item_id} must keep the original, have distinct names and keep the item id"
        raise SuiteError(suite.path, "pytest_medmodel_modify_variants", problem, "fix the hook implementation")
    for v in variants:
        _keeps_listed_options(suite, v)
        labels = v.labels or suite.prompt.labels
        if len(v.choices) > len(labels):
            problem = f"variant {v.key} shows {len(v.choices)} choices but the prompt has {len(labels)} labels"
            raise SuiteError(suite.path, "prompt.labels", problem, "add labels in prompt.labels")
        if len(v.origin) != len(v.choices) or not 0 <= v.answer < len(v.choices) or v.origin[v.answer] is None:
            problem = f"variant {v.key} has inconsistent choices, origin and answer"
            raise SuiteError(
                suite.path, v.name or "(variant)", problem, "build variants with Variant.reordered/with_choice"
            )


def _keeps_listed_options(suite: Suite, variant: Variant) -> None:
    """With ``prompt.choices_in_question`` the question text shows the options as the data wrote them, so a
    variant that reorders, adds or relabels them would be scored against options the model never saw."""
    if not suite.prompt.choices_in_question:
        return
    if variant.origin != tuple(range(len(variant.origin))) or variant.labels is not None:
        problem = "moves, adds or relabels the options, but the question text lists them as the data wrote them"
        fix = "remove this perturbation: the suite sets prompt.choices_in_question"
        raise SuiteError(suite.path, f"perturbations: {variant.family}", problem, fix)


def variants_of(suite: Suite, variant: Variant) -> list[Variant]:
    """The original variant followed by the variants of each perturbation the suite declares.

    A perturbation returns one variant (named by its label) or several (named
    ``<label>1``, ``<label>2``, ...); all of them belong to the family ``<label>``.
    """
    out = [variant]
    for use in suite.perturbations:
        apply = PERTURBATIONS.get(use.name).factory(**use.params)
        rng = random.Random(seed_for(suite.name, variant.item_id, use.label, use.params))
        made = apply(variant, rng, suite) if sees_suite(apply) else apply(variant, rng)
        changed = [made] if isinstance(made, Variant) else list(made)
        if not changed:
            raise ValueError(f"perturbation '{use.name}' made no variant of {variant.item_id}")
        for number, one in enumerate(changed, 1):
            if one.item_id != variant.item_id:
                raise ValueError(f"perturbation '{use.name}' changed the item id of {variant.item_id}")
            name = use.label if len(changed) == 1 else f"{use.label}{number}"
            out.append(replace(one, name=name, family=use.label))
    return out
