"""The image core: an image reference from a suite's data, its digest, and the RGB picture a model receives.

:class:`ImageSource` says where an image's bytes are (a confined file, base64
text, a ``datasets`` Image value); :meth:`ImageSource.digest` identifies it
without decoding it; :func:`decode` turns it into a fully loaded RGB PIL image,
reading PNG, JPEG, TIFF, BMP, WebP and GIF with Pillow, DICOM with pydicom and
NIfTI with nibabel. :class:`DecodeSettings` picks the window, frame and slice. An item carries each
image as an :class:`ImageRef` (source, settings, digest), decoded on first use.
Every problem is one :class:`ImageError` line.

Importing this package imports none of PIL, numpy, pydicom or nibabel: pytest
imports the plugin in every run of every project it is installed in, and most
suites have no images. Each is imported inside the function that needs it.
"""

from __future__ import annotations

from .decode import decode
from .errors import ImageError
from .formats import ACCEPTED, MAX_PIXELS
from .ref import ImageRef
from .settings import DecodeSettings
from .source import MAX_BYTES, ImageSource, confined_path

__all__ = [
    "ACCEPTED",
    "MAX_BYTES",
    "MAX_PIXELS",
    "DecodeSettings",
    "ImageError",
    "ImageRef",
    "ImageSource",
    "confined_path",
    "decode",
]
