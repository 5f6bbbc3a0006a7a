"""Decode an :class:`~.source.ImageSource` into the RGB picture a model receives.

The format comes from the bytes (:func:`~.formats.sniff`), never from the file's
name: a ``.png`` that is really a JPEG decodes as a JPEG, and a text file named
``.png`` is refused. Pillow reads the picture formats; DICOM and NIfTI have
their own modules, which import pydicom and nibabel only when such a file is met.

Every failure is one :class:`ImageError` line. A picture is loaded whole
(``Image.load()``), so a truncated file fails here, never half-grey later;
Pillow's ``LOAD_TRUNCATED_IMAGES`` is never turned on.
"""

from __future__ import annotations

import io
import warnings
from typing import TYPE_CHECKING

from .errors import ImageError, clip
from .formats import FAMILIES, check_pixels, sniff, too_large, unknown_format
from .settings import DecodeSettings
from .source import ImageSource

if TYPE_CHECKING:
    from PIL import Image

_HIGH_DEPTH = ("I", "I;16", "I;16B", "I;16L", "I;16N", "F")
"""Pillow modes with more than 8 bits per pixel: scaled from their own min..max, as a DICOM without a window."""


def decode(source: ImageSource, settings: DecodeSettings | None = None) -> Image.Image:
    """The image as a fully loaded PIL image in RGB mode, or one line saying why it cannot be.

    Args:
        source: where the bytes are.
        settings: the window, frame and slice for DICOM and NIfTI (defaults: the
            file's own window, the middle frame or slice).

    Raises:
        ImageError: missing, empty, too large, damaged, or not an accepted format.
    """
    settings = settings or DecodeSettings()
    data = source.read()
    kind = sniff(data, source.name)
    if kind is None:
        raise unknown_format(source.shown)
    family = FAMILIES[kind]
    if family == "dicom":
        from .dicom import decode_dicom

        return decode_dicom(data, source.shown, settings)
    if family == "nifti":
        from .nifti import decode_nifti

        return decode_nifti(data, source.shown, settings, gzipped=kind == "nifti-gz")
    return _decode_picture(data, source.shown, kind)


def _decode_picture(data: bytes, shown: str, kind: str) -> Image.Image:
    """A picture format through Pillow: the size is checked from the header, then every pixel is loaded.

    Pillow is offered only the format the magic number named, never its other
    plugins (EPS, for one, would start Ghostscript). Only the first frame of an
    animated GIF, APNG or multi-page TIFF is used.
    """
    from PIL import Image, UnidentifiedImageError

    with warnings.catch_warnings():  # a damaged file is an error below; Pillow's own warnings about it are noise
        warnings.simplefilter("ignore")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            picture = Image.open(io.BytesIO(data), formats=[kind.upper()])
            check_pixels(shown, picture.width, picture.height)
            picture.load()
            return _to_rgb(picture)
        except ImageError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise too_large(shown, None) from None
        except UnidentifiedImageError:  # its message names the in-memory buffer, by address
            raise ImageError(shown, f"starts like a {kind.upper()} file but is not one", "check the file") from None
        # Pillow's decoders raise many types on damaged input (OSError, SyntaxError,
        # EOFError, ValueError, struct.error, zlib.error, ...); each is the file's fault.
        except Exception as exc:
            problem = f"is a damaged or truncated {kind.upper()} file ({clip(str(exc) or type(exc).__name__)})"
            raise ImageError(shown, problem, "export the image again") from None


def _to_rgb(picture: Image.Image) -> Image.Image:
    """RGB, as a model's processor expects: alpha dropped, a palette expanded, deeper greys scaled to 8 bits."""
    from PIL import Image

    if picture.mode in _HIGH_DEPTH:
        import numpy as np

        from .window import to_uint8

        grey = to_uint8(np.array(picture, dtype=np.float64), None)
        return Image.fromarray(grey).convert("RGB")
    if picture.mode in ("P", "PA") and "transparency" in picture.info:
        picture = picture.convert("RGBA")  # a palette with transparency converts straight to RGB only with a warning
    return picture.convert("RGB")
