"""A small JPEG of a picture as the model receives it, for the report's pages.

The report shows a regressed item's image beside its perturbed variant, so the
thumbnail is made from the decoded, transformed pixels (:meth:`ImageRef.load`),
never from the source file: a window, a blur or a swapped image is what one
sees. JPEG at a fixed quality keeps a 128-pixel thumbnail near 3 KiB; Pillow's
encoder gives the same bytes for the same pixels, so a re-run writes the same
page. Pillow is imported only when a thumbnail is made.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

    from .ref import ImageRef

MAX_SIDE = 128
"""The longer side of a thumbnail, in pixels (a smaller picture keeps its size)."""
QUALITY = 80


@dataclass(frozen=True)
class Thumbnail:
    """One encoded thumbnail: base64 JPEG text and its size in pixels."""

    jpeg_base64: str
    width: int
    height: int

    @property
    def uri(self) -> str:
        """A ``data:`` URI: the page carries the picture itself and fetches nothing."""
        return f"data:image/jpeg;base64,{self.jpeg_base64}"

    @property
    def size(self) -> int:
        """Bytes the thumbnail adds to a page (its base64 text)."""
        return len(self.jpeg_base64)


def thumbnail(ref: ImageRef, max_side: int = MAX_SIDE, quality: int = QUALITY) -> Thumbnail:
    """The picture ``ref`` shows the model, shrunk to at most ``max_side`` pixels a side.

    Raises:
        ImageError: the picture cannot be decoded (the caller leaves that thumbnail out).
    """
    picture = ref.load()
    small = picture.convert("L" if _grey(picture) else "RGB")
    small.thumbnail((max_side, max_side))
    buffer = io.BytesIO()
    small.save(buffer, format="JPEG", quality=quality, optimize=True)
    return Thumbnail(base64.b64encode(buffer.getvalue()).decode("ascii"), small.width, small.height)


def _grey(picture: Image.Image) -> bool:
    """Whether every pixel has equal channels (a CT in RGB): one channel is a third of the bytes."""
    from PIL import ImageChops

    image = picture.convert("RGB")
    red, green, blue = image.split()
    return ImageChops.difference(red, green).getbbox() is None and ImageChops.difference(red, blue).getbbox() is None
