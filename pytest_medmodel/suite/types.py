"""The suite's data types: a loaded suite, its items, and the variants tests present.

Plain frozen dataclasses with no pytest, torch or transformers import, so a suite
can be loaded and checked from a script and collection stays cheap.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import SHOWN_ERRORS as SHOWN_ERRORS
from .errors import SuiteError as SuiteError
from .errors import SuiteErrors as SuiteErrors
from .hashing import content_hash as content_hash
from .hashing import short_hash as short_hash
from .paths import SUITE_SUFFIXES as SUITE_SUFFIXES
from .paths import is_suite_path as is_suite_path
from .paths import suite_stem as suite_stem

if TYPE_CHECKING:
    from ..images.ref import ImageRef


FIXED_CHOICES: dict[str, tuple[str, ...]] = {
    "yes_no_maybe": ("yes", "no", "maybe"),
    "yes_no": ("yes", "no"),
}
"""Tasks whose choices are fixed words; the answer is shown as the word, not a label."""
OPEN = "open"
"""Task whose answer is free text (a reference answer and its aliases), scored by generation."""
TASKS = ("multiple_choice", *FIXED_CHOICES, OPEN)
DEFAULT_LABELS = tuple("ABCDEFGHIJ")
ORIGINAL = ""
"""Variant name of the unperturbed item."""


@dataclass(frozen=True)
class Item:
    """One benchmark question, after field mapping and validation."""

    id: str
    """Stable identifier; becomes the test id ``item[<id>]`` and the baseline key."""
    question: str
    choices: tuple[str, ...]
    """Choice texts in the data's order (the ORIGINAL order every answer index refers to)."""
    answer: int
    """Index of the correct choice."""
    context: str | None = None
    """Optional passage shown before the question (PubMedQA-style abstracts)."""
    tags: tuple[str, ...] = ()
    """Subgroup labels (specialty, topic); usable with ``-k`` and ``-m``."""
    group: str | None = None
    """Probe group: items sharing one are also scored together (set accuracy, confusion)."""
    images: tuple[ImageRef, ...] = ()
    """The item's images, in the data's order (``{image1}`` is the first)."""
    flip: int | None = None
    """The right answer once the image is mirrored left to right (a laterality item); None: the same."""

    @property
    def content_hash(self) -> str:
        return content_hash(self.question, self.context, self.choices, self.answer, self.images)


@dataclass(frozen=True)
class Variant:
    """An item as one test presents it: the original, or what a perturbation made of it.

    Perturbations return new variants (never change one), keep ``item_id``, and may
    reorder or add choices; ``origin`` maps every presented choice back to the
    original choice order so answers stay comparable across variants.
    """

    item_id: str
    question: str
    choices: tuple[str, ...]
    """Choice texts in the order the prompt shows them."""
    answer: int
    """Presented index of the correct choice."""
    origin: tuple[int | None, ...]
    """For each presented choice, its index in the item's original choices (None: added)."""
    context: str | None = None
    tags: tuple[str, ...] = ()
    name: str = ORIGINAL
    """``""`` for the original item, else the perturbation's label (test id ``item[<id>/<name>]``)."""
    family: str = ORIGINAL
    """The perturbation this variant comes from (its label); one perturbation may make several
    variants (``rotate_choices`` makes ``rotate1``, ``rotate2``, ... of family ``rotate``)."""
    labels: tuple[str, ...] | None = None
    """Choice labels shown instead of the suite's (a label-scheme perturbation)."""
    template: str | None = None
    """Prompt template used instead of the suite's (an instruction paraphrase)."""
    shots: int | None = None
    """Few-shot examples shown before this variant, when not the suite's ``few_shot.k`` (a ``few_shot`` sweep)."""
    images: tuple[ImageRef, ...] = ()
    """The images this variant shows (an image perturbation or ablation changes them)."""

    @classmethod
    def of(cls, item: Item) -> Variant:
        """The identity variant: the item exactly as the data gives it."""
        return cls(
            item_id=item.id,
            question=item.question,
            choices=item.choices,
            answer=item.answer,
            origin=tuple(range(len(item.choices))),
            context=item.context,
            tags=item.tags,
            images=item.images,
        )

    @property
    def key(self) -> str:
        """Test id parameter and baseline key: ``<item id>`` or ``<item id>/<variant name>``."""
        return variant_key(self.item_id, self.name)

    @property
    def content_hash(self) -> str:
        if self.labels is None and self.template is None:
            return content_hash(self.question, self.context, self.choices, self.answer, self.images)
        labels = None if self.labels is None else list(self.labels)
        payload: list[Any] = [self.question, self.context, list(self.choices), self.answer, labels, self.template]
        if self.images:
            payload.append([image.digest for image in self.images])
        return short_hash(payload, 12)

    def shown_labels(self, suite_labels: tuple[str, ...]) -> tuple[str, ...]:
        """The labels this variant's prompt shows for its choices."""
        return (self.labels or suite_labels)[: len(self.choices)]

    def reordered(self, order: Sequence[int]) -> Variant:
        """The same question with choices shown in ``order`` (positions of the current choices)."""
        if sorted(order) != list(range(len(self.choices))):
            raise ValueError(f"order {list(order)} is not a permutation of {len(self.choices)} choices")
        return replace(
            self,
            choices=tuple(self.choices[i] for i in order),
            origin=tuple(self.origin[i] for i in order),
            answer=list(order).index(self.answer),
        )

    def with_choice(self, text: str, position: int | None = None) -> Variant:
        """Add a choice (a distractor) at ``position`` (default: last); it maps to no original choice."""
        at = len(self.choices) if position is None else position
        choices = list(self.choices)
        origin = list(self.origin)
        choices.insert(at, text)
        origin.insert(at, None)
        return replace(self, choices=tuple(choices), origin=tuple(origin), answer=self.answer + (at <= self.answer))


def variant_key(item_id: str, name: str) -> str:
    return f"{item_id}/{name}" if name else item_id


def split_key(key: str) -> tuple[str, str]:
    """``"gm-017/typo"`` -> ``("gm-017", "typo")``; an original's key has no slash."""
    item_id, _, name = key.partition("/")
    return item_id, name


IMAGE_POSITIONS = ("before", "after")
"""Where an item's images go when the template has no ``{image}`` placeholder: before or after its text."""


@dataclass(frozen=True)
class PromptSpec:
    template: str
    labels: tuple[str, ...]
    chat_template: str
    system: str | None
    answer_prefix: str
    image_position: str = "before"
    """One of :data:`IMAGE_POSITIONS` (used only by items with images and a template without placeholders)."""
    choice_format: str = "{label}. {choice}"
    """How each option reads in ``{choices}``: PMC-VQA's prompt writes ``A:Diffuse uptake pattern``."""
    choices_in_question: bool = False
    """The question text lists the options in the data's order (MedXpertQA): no ``{choices}``, no reordering."""


@dataclass(frozen=True)
class ScoringSpec:
    method: str
    """Name of a registered scorer (``letter``, ``loglikelihood``)."""
    options: Mapping[str, Any] = field(default_factory=dict)
    """The scorer's own settings, e.g. ``normalize`` for log-likelihood."""

    def option(self, name: str, default: Any = None) -> Any:
        return self.options.get(name, default)


@dataclass(frozen=True)
class GateUse:
    """A gate a suite runs, with its validated settings."""

    name: str
    """The test id parameter: ``accuracy``, or ``consistency/<perturbation>`` for a perturbation's gate."""
    settings: Mapping[str, Any]
    kind: str = ""
    """The registered gate that decides it, when that is not ``name`` (a perturbation's gates)."""

    @property
    def registered(self) -> str:
        return self.kind or self.name


@dataclass(frozen=True)
class PerturbationUse:
    """A perturbation a suite applies to every item."""

    name: str
    """The registered perturbation."""
    label: str
    """Variant name in test ids and baselines (``id:`` in the suite, else ``name``)."""
    params: Mapping[str, Any]


DEFAULT_ALPHA = 0.01
"""A suite's default false-alarm budget (``alpha:`` in the suite file)."""

PICKS = ("first", "random", "balanced")
"""How few-shot examples are chosen from their pool."""


@dataclass(frozen=True)
class FewShot:
    """Solved examples shown before each item (``few_shot:`` in a suite)."""

    k: int
    """How many (a variant's own ``shots`` overrides it)."""
    pool: tuple[Item, ...]
    """Where they come from: the ``from`` file or split, else the suite's own items."""
    pick: str = "first"
    """``first`` (pool order), ``random`` (seeded per item), ``balanced`` (cycling through answers)."""
    seed: int = 0

    def fingerprint(self) -> list[Any]:
        return [self.k, self.pick, self.seed, [[it.id, it.content_hash] for it in self.pool]]


@dataclass(frozen=True)
class Suite:
    """A loaded, validated suite file."""

    path: Path
    name: str
    description: str
    task: str
    prompt: PromptSpec
    scoring: ScoringSpec
    gates: tuple[GateUse, ...]
    items: tuple[Item, ...]
    source: str
    """Human description of where the items came from (for messages)."""
    perturbations: tuple[PerturbationUse, ...] = ()
    search: tuple[int, int] | None = None
    """``search: {candidates, items}``: search this suite after every run (see ``--medmodel-search``)."""
    few_shot: FewShot | None = None
    """``few_shot:``: solved examples before each item (:mod:`pytest_medmodel.scoring.fewshot`)."""
    alpha: float = DEFAULT_ALPHA
    """The suite's false-alarm budget: every statistical gate shares it (Holm), so a model that did
    not get worse fails the suite at most this often."""

    def item(self, item_id: str) -> Item:
        return self._by_id[item_id]

    @functools.cached_property
    def _by_id(self) -> dict[str, Item]:
        return {item.id: item for item in self.items}

    @property
    def fixed_choices(self) -> bool:
        return self.task in FIXED_CHOICES

    @property
    def is_open(self) -> bool:
        """Free-text answers: ``choices`` hold the reference answer, then its aliases."""
        return self.task == OPEN

    def shown(self, variant: Variant, index: int) -> str:
        """How an answer is written in baselines and messages: the label, the word, or the reference text."""
        if self.fixed_choices or self.is_open:
            return variant.choices[index]
        return (variant.labels or self.prompt.labels)[index]

    def answers_by_item(self) -> dict[str, int]:
        """Each item's key, as an index into its original choices."""
        return {item.id: item.answer for item in self.items}

    def chance_by_item(self) -> dict[str, float]:
        """Each item's chance of a random pick among its options being right (1 / number of options)."""
        return {item.id: 0.0 if self.is_open else 1 / len(item.choices) for item in self.items}

    def probes(self) -> dict[str, dict[str, Any]]:
        """For items in a probe group: the group, the options and the key (what group metrics need)."""
        return {
            item.id: {"group": item.group, "choices": list(item.choices), "answer": item.answer}
            for item in self.items
            if item.group
        }

    def cluster_by_item(self) -> dict[str, str]:
        """Each item's cluster for the statistics: the items it shares a probe group or an image with.

        Items of one group (a probe pair) or about one picture (ProbMed and VQA-RAD ask
        several questions per image) succeed and fail together; treating them as
        independent makes a test too sure of itself. Sharing is transitive: an item
        linked to two clusters joins them. Text suites keep their names: ``group:<g>``
        for a group, ``item:<id>`` for an item alone.
        """
        from .clusters import clusters_of

        return clusters_of(self.items)

    def tags_by_item(self) -> dict[str, list[str]]:
        """Each tagged item's tags (untagged items are left out)."""
        return {item.id: list(item.tags) for item in self.items if item.tags}

    def gate(self, name: str) -> GateUse:
        return next(g for g in self.gates if g.name == name)

    @property
    def gate_names(self) -> tuple[str, ...]:
        return tuple(g.name for g in self.gates)

    @functools.cached_property
    def fingerprint(self) -> str:
        """Hash of everything that shapes predictions: prompt, scoring, perturbations and items."""
        options = dict(self.scoring.options)
        scoring: list[Any] = [self.scoring.method, bool(options.pop("normalize", False))]
        if options:
            scoring.append(options)
        payload: dict[str, Any] = {
            "task": self.task,
            "prompt": [
                self.prompt.template,
                list(self.prompt.labels),
                self.prompt.chat_template,
                self.prompt.system,
                self.prompt.answer_prefix,
            ],
            "scoring": scoring,
            "items": [[it.id, it.content_hash, *([it.group] if it.group else [])] for it in self.items],
        }
        if self.few_shot is not None:
            payload["few_shot"] = self.few_shot.fingerprint()
        if self.perturbations:
            payload["perturbations"] = [[p.label, p.name, dict(p.params)] for p in self.perturbations]
        if self.prompt.choice_format != PromptSpec.choice_format:  # a suite without one keeps its fingerprint
            payload["choice_format"] = self.prompt.choice_format
        if any(item.images for item in self.items):  # a text suite's fingerprint is what it was before images
            payload["image_position"] = self.prompt.image_position
        return short_hash(payload, 16)
