"""Built-in choice perturbations: option order, label scheme, an added distractor.

A model that reads the options answers the same *content* whatever their order
or labels; one with position bias does not. Answers stay comparable because every
variant maps its shown options back to the original ones (``Variant.origin``).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import replace

from ..suite.types import Variant
from .base import Perturb, perturbation


@perturbation("reverse_choices")
def reverse_choices() -> Perturb:
    """Show the options in reverse order; a model that reads them answers the same content."""

    def apply(variant: Variant, rng: random.Random) -> Variant:
        return variant.reordered(range(len(variant.choices) - 1, -1, -1))

    return apply


@perturbation("shuffle_choices")
def shuffle_choices() -> Perturb:
    """A seeded shuffle of the options that moves the correct one (the answer is remapped)."""

    def apply(variant: Variant, rng: random.Random) -> Variant:
        count = len(variant.choices)
        order = list(range(count))
        rng.shuffle(order)
        if count > 1 and order.index(variant.answer) == variant.answer:
            # The key stays put: swap it with a seeded other position, so the shuffle tests something.
            other = rng.choice([i for i in range(count) if i != variant.answer])
            a, b = order.index(variant.answer), order.index(other)
            order[a], order[b] = order[b], order[a]
        return variant.reordered(order)

    return apply


@perturbation("rotate_choices")
def rotate_choices() -> Perturb:
    """Circular evaluation: the options rotated through every position, one variant per rotation.

    An item counts as right under this perturbation only when the original and
    every rotation are right (the ``accuracy/<label>`` gate and summary line).
    """

    def apply(variant: Variant, rng: random.Random) -> list[Variant]:
        count = len(variant.choices)
        return [variant.reordered([(i + shift) % count for i in range(count)]) for shift in range(1, count)]

    return apply


@perturbation("relabel_choices")
def relabel_choices(labels: Sequence[str] = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "10")) -> Perturb:
    """Another label scheme (A-D to 1-4 by default; ChEF's verbalizer manipulation)."""
    chosen = tuple(str(label) for label in labels)
    if len(set(chosen)) != len(chosen) or not all(label.strip() for label in chosen):
        raise ValueError(f"labels {list(chosen)} must be distinct and non-empty")

    def apply(variant: Variant, rng: random.Random) -> Variant:
        return replace(variant, labels=chosen)

    return apply


@perturbation("add_distractor")
def add_distractor(text: str = "None of the above", position: str = "end") -> Perturb:
    """Add an option that is wrong by construction (e.g. "None of the above"), at the end or a seeded place.

    Declare it only for suites where the added option can never be right. An item
    that already offers the same text is left as it is.
    """
    if position not in ("end", "random"):
        raise ValueError(f"position={position!r} must be 'end' or 'random'")

    def apply(variant: Variant, rng: random.Random) -> Variant:
        if any(choice.strip().lower() == text.strip().lower() for choice in variant.choices):
            return variant
        at = None if position == "end" else rng.randint(0, len(variant.choices))
        return variant.with_choice(text, at)

    return apply
