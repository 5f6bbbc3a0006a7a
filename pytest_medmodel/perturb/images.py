"""Built-in image perturbations: noise, blur, JPEG, light and contrast, rotation, resolution, zoom, grey, window.

Each changes the picture a model sees, never the right answer, so each makes
variant tests ``item[<id>/<label>]`` and ``accuracy/<label>`` and
``consistency/<label>`` gates exactly as the text perturbations do. The pixels
come from :mod:`pytest_medmodel.images.transforms` (Pillow and numpy, no
torchvision), computed when the model needs them and never written to disk: a
variant carries an :class:`~pytest_medmodel.images.ImageRef` whose digest names
the base picture, the transform, its settings and its seed.

Randomness (the noise, the direction of a rotation, where a zoom lands) comes
from the seed the perturbation machinery hands each item (the suite, the item
and the spec: :func:`~.base.seed_for`), never from global state; a transform
that draws nothing gets no seed, so every item showing one image gets the very
same blurred copy of it.

Noise is added to the float image and clipped: CARES's noise script casts the
noise to uint8 before adding it, so negative noise wraps to white there.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import replace

from ..images.ref import ImageRef
from ..suite.types import Suite, Variant
from .base import Perturb, perturbation

DRAWS = frozenset({"noise", "rotate", "zoom"})
"""Transforms that draw random numbers (their seed is part of the picture's identity)."""

WINDOWS = {"soft_tissue": (40.0, 400.0), "bone": (400.0, 1800.0), "lung": (-600.0, 1500.0), "brain": (40.0, 80.0)}
"""Common CT windows (centre, width in Hounsfield units) by name, for ``window: {preset: lung}``."""


def _pixels(transform: str, settings: Mapping[str, float]) -> Perturb:
    """A perturbation that applies pixel transform ``transform`` to every image of a variant."""
    from ..images.transforms import TRANSFORMS

    TRANSFORMS[transform].check(settings)
    chosen = dict(settings)

    def apply(variant: Variant, rng: random.Random) -> Variant:
        seed = rng.getrandbits(63) if transform in DRAWS else None
        images = tuple(ref.transformed(transform, chosen, seed) for ref in _images_of(variant, transform))
        return replace(variant, images=images)

    return apply


def _images_of(variant: Variant, name: str) -> tuple[ImageRef, ...]:
    if not variant.images:
        raise ValueError(f"item {variant.item_id} has no image for the image perturbation '{name}' to change")
    return variant.images


@perturbation("image_noise", strength=("sigma", 0.02, 0.2))
def image_noise(sigma: float = 0.05) -> Perturb:
    """Gaussian noise, ``sigma`` a fraction of the 0..255 range, added in float and clipped (never wrapped)."""
    return _pixels("noise", {"sigma": sigma})


@perturbation("blur", strength=("radius", 0.5, 3.0))
def blur(radius: float = 1.0) -> Perturb:
    """Gaussian blur of ``radius`` pixels."""
    return _pixels("blur", {"radius": radius})


@perturbation("jpeg", strength=("quality", 70, 10))
def jpeg(quality: int = 30) -> Perturb:
    """JPEG re-compression at ``quality`` (1..95; lower is worse)."""
    whole = int(quality) if float(quality).is_integer() else quality  # the search hands levels over as floats
    return _pixels("jpeg", {"quality": whole})


@perturbation("brightness", strength=("factor", 1.1, 1.6))
def brightness(factor: float = 1.3) -> Perturb:
    """Brightness multiplied by ``factor``."""
    return _pixels("brightness", {"factor": factor})


@perturbation("contrast", strength=("factor", 0.9, 0.4))
def contrast(factor: float = 0.7) -> Perturb:
    """Contrast scaled by ``factor`` (below 1: flatter)."""
    return _pixels("contrast", {"factor": factor})


@perturbation("gamma", strength=("gamma", 1.2, 2.5))
def gamma(gamma: float = 1.5) -> Perturb:
    """Each value mapped through ``(v/255) ** gamma`` (above 1: darker mid-tones)."""
    return _pixels("gamma", {"gamma": gamma})


@perturbation("rotate", strength=("degrees", 2.0, 15.0))
def rotate(degrees: float = 5.0) -> Perturb:
    """A small rotation by ``degrees``, its direction drawn per item, corners filled with the mean colour."""
    return _pixels("rotate", {"degrees": degrees})


@perturbation("downscale", strength=("factor", 0.75, 0.25))
def downscale(factor: float = 0.5) -> Perturb:
    """Resolution lost: scaled down by ``factor``, then back up to the original size."""
    return _pixels("downscale", {"factor": factor})


@perturbation("zoom", strength=("fraction", 0.9, 0.6))
def zoom(fraction: float = 0.8) -> Perturb:
    """A crop of ``fraction`` of the width and height, placed per item, enlarged back to the original size."""
    return _pixels("zoom", {"fraction": fraction})


@perturbation("grayscale")
def grayscale() -> Perturb:
    """Colour removed (luminance in all three channels)."""
    return _pixels("grayscale", {})


@perturbation("window")
def window(preset: str = "bone", center: float | None = None, width: float | None = None) -> Perturb:
    """A DICOM or NIfTI image decoded with another VOI window: a named ``preset`` or ``center`` and ``width``.

    Presets (CT, Hounsfield units): soft_tissue 40/400, bone 400/1800, lung -600/1500, brain 40/80.
    A picture format (PNG, JPEG) has no window: such an item fails in one line.
    """
    if (center is None) != (width is None):
        raise ValueError("give both center and width, or neither (then preset applies)")
    if center is None or width is None:
        if preset not in WINDOWS:
            raise ValueError(f"preset={preset!r} is not one of {', '.join(WINDOWS)}")
        center, width = WINDOWS[preset]
    if not float(width) > 0:
        raise ValueError(f"width={width} must be positive")
    chosen = (float(center), float(width))

    def apply(variant: Variant, rng: random.Random) -> Variant:
        return replace(variant, images=tuple(ref.windowed(chosen) for ref in _images_of(variant, "window")))

    return apply


@perturbation("hflip")
def hflip() -> Perturb:
    """The image mirrored left to right: the answer stays, unless the item's ``flip`` column says what it becomes.

    A laterality item (left or right lung, eye, kidney) declares its answer under the
    flip; its variant then expects that answer, and "consistent" means the model
    changed its answer the right way (CheckList's directional expectation): the
    flipped item presents the same options, but the one the original's answer maps
    to is the other side (``origin`` records that correspondence, so consistency and
    the baseline compare answers by meaning).
    """

    def apply(variant: Variant, rng: random.Random, suite: Suite) -> Variant:
        images = tuple(ref.transformed("hflip") for ref in _images_of(variant, "hflip"))
        flipped = replace(variant, images=images)
        item = next(it for it in suite.items if it.id == variant.item_id)
        if item.flip is None or item.flip == item.answer:
            return flipped
        here, there = variant.origin.index(item.answer), variant.origin.index(item.flip)
        origin = list(variant.origin)
        origin[here], origin[there] = origin[there], origin[here]
        return replace(flipped, origin=tuple(origin), answer=there)

    return apply
