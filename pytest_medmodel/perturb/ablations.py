"""Modality ablations: the item's image removed, replaced by a blank one, or swapped for another item's.

The studies that caught medical VLMs answering from the text alone compare text
only, image only and both; none of the evaluation harnesses has a switch for it.
Here each is a variant ``item[<id>/<label>]``, scored like any other, whose right
answer is the item's own: a model that looks at the image should get it wrong far
more often than with the real picture. They are ablations (:class:`~.base.Perturbation`
``ablation``): no accuracy or consistency gate of their own, but
``gate[image_reliance]`` (:mod:`pytest_medmodel.gates.reliance`), which fails when
the model stops needing the image.

- ``no_image``: the request carries no image (for a template without ``{image}``
  placeholders: the text is exactly what the model reads with the image);
- ``blank_image``: every image replaced by a mid-grey picture of the same size, so
  the token layout (and a processor's tiling) is the same as with the real one;
- ``swap_image``: the images of another item of the suite, chosen with the item's
  seed among items whose right answer is a different text (any other item with as
  many images when there is none).
"""

from __future__ import annotations

import random
from dataclasses import replace

from ..suite.types import Item, Suite, Variant
from .base import Perturb, perturbation


def _needs_images(variant: Variant, name: str) -> None:
    if not variant.images:
        raise ValueError(f"item {variant.item_id} has no image for the ablation '{name}' to take away")


@perturbation("no_image", ablation=True)
def no_image() -> Perturb:
    """The item's text without its images."""

    def apply(variant: Variant, rng: random.Random) -> Variant:
        _needs_images(variant, "no_image")
        return replace(variant, images=())

    return apply


@perturbation("blank_image", ablation=True)
def blank_image() -> Perturb:
    """Each image replaced by a mid-grey one of the same size (the same token layout)."""

    def apply(variant: Variant, rng: random.Random) -> Variant:
        _needs_images(variant, "blank_image")
        return replace(variant, images=tuple(ref.transformed("blank") for ref in variant.images))

    return apply


@perturbation("swap_image", ablation=True)
def swap_image() -> Perturb:
    """Another item's images, from one whose right answer differs where the suite has one."""

    def apply(variant: Variant, rng: random.Random, suite: Suite) -> Variant:
        _needs_images(variant, "swap_image")
        answer = variant.choices[variant.answer]
        digests = {ref.digest for ref in variant.images}
        others = [
            item
            for item in suite.items
            if item.id != variant.item_id
            and len(item.images) == len(variant.images)
            and not digests & {ref.digest for ref in item.images}
        ]
        if not others:
            raise ValueError(f"item {variant.item_id}: no other item of the suite shows different images to swap in")
        differing = [item for item in others if _answer_text(item) != answer]
        chosen = rng.choice(sorted(differing or others, key=lambda item: item.id))
        return replace(variant, images=chosen.images)

    return apply


def _answer_text(item: Item) -> str:
    return item.choices[item.answer]
