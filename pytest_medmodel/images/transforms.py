"""The pixel operations behind the image perturbations: what acquisition does to a picture, and two ablations.

A model that reads a scan should survive what acquisition and transport do to
one: sensor noise, defocus, JPEG re-compression, exposure and contrast, a small
tilt, a lower resolution, a tighter framing. It should *fail* without the
picture: ``grayscale`` takes the colour away and ``blank`` everything, keeping
the size so the model's token layout is unchanged. ``hflip`` swaps left and
right, which changes the answer to a laterality question; the caller changes
the expected answer, this module only mirrors the pixels.

Each operation is ``op(image, seed, **settings)``: a fully loaded RGB picture in,
a new RGB picture of the same size out, its input never changed. Randomness
comes only from ``numpy.random.default_rng(seed)``, never from global state, so a
variant's pixels are the same in every process: xdist workers agree, and a
baseline recorded on one machine is compared against the same pictures on another.

Settings come from YAML and are checked by :attr:`Transform.check` when a suite
is read, so a typo is one line then, not an exception midway through a run; the
operations themselves trust their settings. PIL and numpy are imported inside
each operation: pytest imports the plugin in every run, and most suites have no images.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

MID_GREY = (128, 128, 128)
"""The colour of ``blank``: the middle of the range, so no exposure cue is left either way."""


@dataclass(frozen=True)
class Transform:
    """One pixel operation as the perturbation registry sees it: how to run it, its settings, how to grade it."""

    name: str
    apply: Callable[..., Image.Image]
    """``apply(image, seed, **settings)``: a new RGB picture of the same size."""
    defaults: Mapping[str, float]
    """Every setting the operation takes, with its default (read-only)."""
    strength: tuple[str, float, float] | None
    """``(setting, mildest, strongest)`` for a search over strengths; None where there is no degree to it."""
    check: Callable[[Mapping[str, float]], None]
    """Raises ValueError, one line naming the setting and its allowed range, for an unknown or out-of-range setting."""
    describe: str
    """One line for the docs."""
    version: int = 1
    """Raised whenever the operation's pixels change for the same settings and seed: it is part of every
    derived picture's digest, so a changed operation is never served a cached answer or an old baseline."""


@dataclass(frozen=True)
class _Limit:
    """The values one setting allows: ``low..high``, the low end excluded where ``open_low``."""

    default: float
    low: float
    high: float
    open_low: bool = False
    integer: bool = False

    def shown(self) -> str:
        if self.integer:
            return f"an integer in {self.low:g}..{self.high:g}"
        return f"in {'(' if self.open_low else '['}{self.low:g}, {self.high:g}]"

    def allows(self, value: float) -> bool:
        if self.integer and not float(value).is_integer():
            return False
        above = value > self.low if self.open_low else value >= self.low
        return above and value <= self.high  # False for NaN, which compares false with everything


@dataclass(frozen=True)
class _Checker:
    """A transform's ``check``: every setting named must be one it takes, a number, and within its limits."""

    name: str
    limits: Mapping[str, _Limit]

    def __call__(self, settings: Mapping[str, float]) -> None:
        for key, value in settings.items():
            limit = self.limits.get(key)
            if limit is None:
                takes = ", ".join(sorted(self.limits)) or "none"
                raise ValueError(f"{self.name}: unknown setting {key!r} (its settings: {takes})")
            # bool is an int in Python, but `sigma: true` in YAML is a mistake, not 1.0
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if not number or not limit.allows(value):
                raise ValueError(f"{self.name}: {key} must be {limit.shown()}, not {value!r}")


def _rng(seed: int) -> np.random.Generator:
    import numpy as np

    return np.random.default_rng(seed)


# --- the operations ------------------------------------------------------------------------------


def noise(image: Image.Image, seed: int, sigma: float = 0.05) -> Image.Image:
    """Gaussian noise with standard deviation ``sigma * 255``, added in floating point, then clipped and rounded.

    The sum is formed before any cast to 8 bits: a negative draw darkens a pixel,
    where a uint8 cast first would wrap it round to near white. A grey picture (a
    CT, an X-ray: the three channels equal) gets one draw per pixel for all three,
    as a detector's noise would be; colour speckle on it would be a cue of its own.
    A colour picture gets a draw per channel.
    """
    import numpy as np
    from PIL import Image

    pixels = np.asarray(image, dtype=np.float64)
    grey = bool((pixels[..., 0] == pixels[..., 1]).all() and (pixels[..., 1] == pixels[..., 2]).all())
    shape = (*pixels.shape[:2], 1) if grey else pixels.shape
    noisy = pixels + _rng(seed).normal(0.0, sigma * 255.0, size=shape)
    return Image.fromarray(np.rint(np.clip(noisy, 0.0, 255.0)).astype(np.uint8))


def blur(image: Image.Image, seed: int, radius: float = 1.0) -> Image.Image:
    """A Gaussian blur of ``radius`` pixels (defocus, motion, a soft reconstruction kernel)."""
    from PIL import ImageFilter

    return image.filter(ImageFilter.GaussianBlur(radius))


def jpeg(image: Image.Image, seed: int, quality: float = 30) -> Image.Image:
    """The picture saved as a JPEG at ``quality`` and read back: the blocks and ringing of a lossy export."""
    from PIL import Image

    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=int(quality))
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        decoded.load()
        return decoded.convert("RGB")


def brightness(image: Image.Image, seed: int, factor: float = 1.3) -> Image.Image:
    """Every pixel multiplied by ``factor`` (an over- or under-exposed picture)."""
    from PIL import ImageEnhance

    return ImageEnhance.Brightness(image).enhance(factor)


def contrast(image: Image.Image, seed: int, factor: float = 0.7) -> Image.Image:
    """The distance of each pixel from the picture's mean grey scaled by ``factor`` (below 1: a flatter picture)."""
    from PIL import ImageEnhance

    return ImageEnhance.Contrast(image).enhance(factor)


def gamma(image: Image.Image, seed: int, gamma: float = 1.5) -> Image.Image:
    """``255 * (v / 255) ** gamma``, rounded: a different display curve, darker mid-tones above 1."""
    table = [round(255.0 * (level / 255.0) ** gamma) for level in range(256)]
    return image.point(table * 3)


def rotate(image: Image.Image, seed: int, degrees: float = 5.0) -> Image.Image:
    """A turn of ``degrees`` about the centre, its direction drawn from the seed; the size is kept.

    Items turn different ways, so no single direction is learned. The corners the
    turn uncovers take the picture's mean colour: black corners would be a cue that
    says "perturbed" on their own.
    """
    from PIL import Image, ImageStat

    sign = 1.0 if _rng(seed).random() < 0.5 else -1.0
    fill = tuple(round(channel) for channel in ImageStat.Stat(image).mean)
    return image.rotate(sign * degrees, resample=Image.Resampling.BILINEAR, expand=False, fillcolor=fill)


def downscale(image: Image.Image, seed: int, factor: float = 0.5) -> Image.Image:
    """Down to ``factor`` of the size (at least 1x1) and back up, both bilinear: the detail a lower resolution loses."""
    from PIL import Image

    width, height = image.size
    small = (max(1, round(width * factor)), max(1, round(height * factor)))
    reduced = image.resize(small, Image.Resampling.BILINEAR)
    return reduced.resize(image.size, Image.Resampling.BILINEAR)


def zoom(image: Image.Image, seed: int, fraction: float = 0.8) -> Image.Image:
    """A window ``fraction`` of the width and height, placed by the seed anywhere inside, enlarged back (bicubic).

    The placement is continuous (Pillow resamples from a fractional box), so
    different seeds frame the picture differently even on a small image.
    """
    from PIL import Image

    width, height = image.size
    across, down = width * fraction, height * fraction
    left, top = _rng(seed).random(2) * (width - across, height - down)
    box = (float(left), float(top), float(left) + across, float(top) + down)
    return image.resize(image.size, Image.Resampling.BICUBIC, box=box)


def grayscale(image: Image.Image, seed: int) -> Image.Image:
    """The luminance only, back in RGB (R == G == B): what the colour was worth."""
    return image.convert("L").convert("RGB")


def hflip(image: Image.Image, seed: int) -> Image.Image:
    """Mirrored left to right; left and right findings swap, so the caller changes the answer."""
    from PIL import Image

    return image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)


def blank(image: Image.Image, seed: int) -> Image.Image:
    """The same size, every pixel mid-grey: the question without the picture, the token layout unchanged."""
    from PIL import Image

    return Image.new("RGB", image.size, MID_GREY)


# --- the registry --------------------------------------------------------------------------------


def _transform(
    apply: Callable[..., Image.Image],
    describe: str,
    limits: Mapping[str, _Limit] | None = None,
    strength: tuple[str, float, float] | None = None,
    version: int = 1,
) -> Transform:
    limits = MappingProxyType(dict(limits or {}))
    defaults = MappingProxyType({key: limit.default for key, limit in limits.items()})
    name = apply.__name__
    return Transform(name, apply, defaults, strength, _Checker(name, limits), describe, version)


_ALL = (
    _transform(
        noise,
        "Gaussian noise, sigma a fraction of the 0..255 range, clipped",
        {"sigma": _Limit(0.05, 0.0, 1.0)},
        ("sigma", 0.02, 0.2),
        version=2,  # 2: one draw per pixel on a grey picture
    ),
    _transform(blur, "Gaussian blur of a radius in pixels", {"radius": _Limit(1.0, 0.0, 20.0)}, ("radius", 0.5, 3.0)),
    _transform(
        jpeg,
        "JPEG re-compression at a quality from 1 to 95",
        {"quality": _Limit(30, 1, 95, integer=True)},
        ("quality", 70, 10),
    ),
    _transform(
        brightness,
        "brightness multiplied by a factor",
        {"factor": _Limit(1.3, 0.0, 4.0, open_low=True)},
        ("factor", 1.1, 1.6),
    ),
    _transform(
        contrast,
        "contrast about the mean grey scaled by a factor",
        {"factor": _Limit(0.7, 0.0, 4.0, open_low=True)},
        ("factor", 0.9, 0.4),
    ),
    _transform(
        gamma,
        "a gamma curve, 255 * (v/255) ** gamma",
        {"gamma": _Limit(1.5, 0.0, 10.0, open_low=True)},
        ("gamma", 1.2, 2.5),
    ),
    _transform(
        rotate,
        "a turn of some degrees about the centre, either way by the seed, corners in the mean colour",
        {"degrees": _Limit(5.0, 0.0, 45.0)},
        ("degrees", 2, 15),
    ),
    _transform(
        downscale,
        "down to a fraction of the size and back up (bilinear)",
        {"factor": _Limit(0.5, 0.0, 1.0, open_low=True)},
        ("factor", 0.75, 0.25),
    ),
    _transform(
        zoom,
        "a window of a fraction of the picture, placed by the seed, enlarged back",
        {"fraction": _Limit(0.8, 0.0, 1.0, open_low=True)},
        ("fraction", 0.9, 0.6),
    ),
    _transform(grayscale, "the luminance only, in RGB"),
    _transform(hflip, "mirrored left to right (answer-changing: laterality)"),
    _transform(blank, "every pixel mid-grey, the same size (the picture ablated)"),
)

TRANSFORMS: dict[str, Transform] = {transform.name: transform for transform in _ALL}
"""Every pixel operation by name, as perturbations refer to them."""
