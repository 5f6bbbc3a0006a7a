"""What kind of image a byte string is, read from its first bytes (never from its name), and the size limits.

The format decides two things: which decoder runs, and which decoding settings
belong in the image's digest (a PNG ignores a DICOM window, so the window must
not change a PNG's digest). Sniffing reads only the head of the data, so the
digest of a large file needs no decoding.

A file's name is used once: bytes that no magic number claims are read as DICOM
when the name ends with ``.dcm``, because old DICOM files (and some exports) have
no 128-byte preamble and no ``DICM`` marker.
"""

from __future__ import annotations

import zlib
from typing import Literal

from .errors import ImageError

Family = Literal["pillow", "dicom", "nifti"]

MAX_PIXELS = 40_000_000
"""The most pixels one decoded 2-D image (one frame, one slice) may have: about 6300 x 6300.

Checked from the header before any pixel is decoded, so a small file that
claims a huge image (a decompression bomb) costs nothing. Lower than Pillow's
own limit (about 89 megapixels, a warning, then an error at twice that).
"""

ACCEPTED = "PNG, JPEG, TIFF, BMP, WebP, GIF, DICOM or NIfTI (.nii, .nii.gz)"
"""The formats :func:`sniff` recognises, for messages."""

HEAD_BYTES = 65536
"""How much of the start of a file :func:`sniff` is given: a gzip stream needs a few hundred
compressed bytes to show the NIfTI header inside it, and this leaves a wide margin."""

_PILLOW_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"II+\x00", "tiff"),  # BigTIFF
    (b"MM\x00+", "tiff"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"BM", "bmp"),
)
_NIFTI1_MAGIC = (b"n+1\x00", b"ni1\x00")
"""At offset 344: a single-file NIfTI-1 (``n+1``), or the header of a ``.hdr``/``.img`` pair (``ni1``)."""
_NIFTI2_MAGIC = b"n+2\x00"
"""At offset 4 of a NIfTI-2 header."""

FAMILIES: dict[str, Family] = {
    "png": "pillow",
    "jpeg": "pillow",
    "tiff": "pillow",
    "gif": "pillow",
    "bmp": "pillow",
    "webp": "pillow",
    "dicom": "dicom",
    "nifti": "nifti",
    "nifti-gz": "nifti",
}


def sniff(head: bytes, name: str = "") -> str | None:
    """The format of data starting with ``head`` (a key of :data:`FAMILIES`), or None when none fits.

    ``name``: the file's name, consulted only for a DICOM without its ``DICM`` marker.
    DICOM is checked first: its 128-byte preamble may itself hold a TIFF header
    (dual-personality files), and such a file is a DICOM.
    """
    if head[128:132] == b"DICM":
        return "dicom"
    for magic, kind in _PILLOW_MAGIC:
        if head.startswith(magic):
            return kind
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if _is_nifti(head):
        return "nifti"
    if head[:2] == b"\x1f\x8b" and _is_nifti(_gunzip_head(head)):
        return "nifti-gz"
    if name.lower().endswith(".dcm"):
        return "dicom"
    return None


def _is_nifti(head: bytes) -> bool:
    return head[344:348] in _NIFTI1_MAGIC or head[4:8] == _NIFTI2_MAGIC


def _gunzip_head(head: bytes, size: int = 544) -> bytes:
    """The first ``size`` bytes that a gzip stream starting with ``head`` decompresses to (fewer if it cannot)."""
    try:
        return zlib.decompressobj(wbits=31).decompress(head, size)
    except zlib.error:
        return b""


def unknown_format(shown: str) -> ImageError:
    """The error for data no decoder recognises."""
    return ImageError(
        shown, f"is not an image in an accepted format ({ACCEPTED})", "check the file, or convert it to PNG"
    )


def check_pixels(shown: str, width: int, height: int, what: str = "the image") -> None:
    """Raise when a ``width`` x ``height`` image is over :data:`MAX_PIXELS` (before it is decoded)."""
    if width <= 0 or height <= 0:
        raise ImageError(shown, f"{what} has no pixels ({width} x {height})", "check the file")
    if width * height > MAX_PIXELS:
        raise too_large(shown, f"{what} is {width} x {height} pixels")


def too_large(shown: str, size: str | None) -> ImageError:
    """The decompression-bomb error: ``size`` says what was found (None: Pillow refused it without saying)."""
    limit = f"the limit of {MAX_PIXELS // 1_000_000} megapixels"
    problem = (
        f"{size}, over {limit} (a possible decompression bomb)"
        if size
        else (f"is over {limit} (Pillow refused its size: a possible decompression bomb)")
    )
    return ImageError(shown, problem, "downscale the image before adding it to the suite")
