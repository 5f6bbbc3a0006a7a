"""A reference to one image in a suite's data, and its digest: which bytes, and where they came from.

The reference is resolved when the suite is read, but nothing is decoded then:
:meth:`ImageSource.digest` hashes the bytes (and the decoding settings their
format uses) so an item's identity and a cache key can include the image
without the cost, or the risk, of decoding it. :func:`~.decode.decode` does
that later, once, when a model needs the picture.

Everything here comes from a user's repository and is untrusted: a path must
stay inside its folder, and every size is capped before it is read.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import os
import stat
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from .errors import ImageError, clip
from .formats import FAMILIES, HEAD_BYTES, sniff, unknown_format
from .settings import DecodeSettings

MAX_BYTES = 256 * 1024 * 1024
"""The largest image file (or decoded base64 value) read: 256 MiB, enough for a CR plate or a CT series file."""

DIGEST_CHARS = 16
_CHUNK = 1 << 20
_HASH_VERSION = "pytest-medmodel image 1"
"""Changes when the digest's recipe changes, so digests from an older recipe never match by accident."""


@dataclass(frozen=True)
class ImageSource:
    """Where one image's bytes are: a confined file, or bytes held in memory.

    Build one with a ``from_*`` constructor. ``shown`` is what every message says
    about the image; it never holds a value read from inside the file.
    """

    shown: str
    """Where the image came from, for messages: a path relative to the data file, or ``row 12, column image``."""
    path: Path | None = None
    """A file, already checked to lie inside the folder it may be read from."""
    data: bytes | None = field(default=None, repr=False)
    """The image's bytes, when they came from the data itself (base64, a datasets column)."""
    name: str = ""
    """The file name, where one is known: only a ``.dcm`` ending is read (for DICOM files without a marker)."""
    identity: str | None = field(default=None, repr=False)
    """For an in-memory picture: a hash of its pixels, used instead of the bytes we encoded it to."""

    def __post_init__(self) -> None:
        if (self.path is None) == (self.data is None):
            raise TypeError("ImageSource needs exactly one of path and data")

    @classmethod
    def from_file(cls, path: Path, shown: str) -> ImageSource:
        """A file the caller has already resolved and confined (see :func:`confined_path`)."""
        return cls(shown=shown, path=Path(path), name=Path(path).name)

    @classmethod
    def from_bytes(cls, data: bytes, shown: str, *, name: str = "") -> ImageSource:
        """Bytes held in memory; ``name``: the file name they came from, if any."""
        if len(data) > MAX_BYTES:
            raise _too_big(shown, len(data))
        return cls(shown=shown, data=bytes(data), name=name)

    @classmethod
    def from_base64(cls, text: str, shown: str) -> ImageSource:
        """Base64 text, plain or as a ``data:image/png;base64,...`` URI (line breaks and spaces allowed)."""
        payload = text.strip()
        if payload.startswith("data:"):
            head, comma, payload = payload.partition(",")
            if not comma or not head.endswith(";base64"):
                raise ImageError(shown, "is a data URI that is not base64", "write data:image/png;base64,<base64>")
        payload = "".join(payload.split())
        if len(payload) // 4 * 3 > MAX_BYTES:
            raise _too_big(shown, len(payload) // 4 * 3)
        try:
            data = base64.b64decode(payload, validate=True)
        except binascii.Error as exc:
            raise ImageError(
                shown, f"is not valid base64 ({exc})", "store the image as standard base64, or as a file path"
            ) from None
        return cls.from_bytes(data, shown)

    @classmethod
    def from_column(cls, value: Any, shown: str, base_dir: Path, root: Path | None = None) -> ImageSource:
        """A value from a ``datasets`` Image column, or a suite data file's image column.

        Accepted: ``{"bytes": ..., "path": ...}`` (bytes win; without them, ``path`` is
        a file under ``base_dir``), a PIL image (encoded losslessly), raw bytes, a
        ``data:`` URI, or a path string relative to ``base_dir``; a path must stay
        inside ``root`` (default: ``base_dir``).
        """
        if isinstance(value, Mapping):
            return _from_mapping(cls, value, shown, base_dir, root)
        if isinstance(value, (bytes, bytearray, memoryview)):
            return cls.from_bytes(bytes(value), shown)
        if isinstance(value, str):
            if value.lstrip().startswith("data:"):
                return cls.from_base64(value, shown)
            return cls.from_file(confined_path(base_dir, value, shown, root), shown)
        if _is_pil_image(value):
            data, identity = _encode_picture(value, shown)
            return cls(shown=shown, data=data, identity=identity)
        if value is None:
            raise ImageError(shown, "has no image (the value is empty)", "fill the column, or drop the row")
        raise ImageError(
            shown, f"holds a {type(value).__name__}, not an image", "give a path, base64 text or a datasets Image"
        )

    def read(self) -> bytes:
        """All of the image's bytes (at most :data:`MAX_BYTES`), or one line saying why not."""
        return b"".join(self._chunks())

    def format(self) -> str:
        """The format sniffed from the first bytes (a key of :data:`~.formats.FAMILIES`), or the error."""
        found = sniff(next(self._chunks(HEAD_BYTES)), self.name)
        if found is None:
            raise unknown_format(self.shown)
        return found

    def digest(self, settings: DecodeSettings | None = None) -> str:
        """A 16-hex-digit SHA-256 of the bytes and of the settings their format's decoder reads.

        Nothing is decoded: the format is sniffed from the first bytes, so a PNG's
        digest ignores a DICOM window and a DICOM's includes it. Unusable data
        (missing, empty, too big, an unknown format) raises here already.
        """
        content = hashlib.sha256()
        head = b""
        for chunk in self._chunks():
            head = head or chunk[:HEAD_BYTES]
            content.update(chunk)
        kind = sniff(head, self.name)
        if kind is None:
            raise unknown_format(self.shown)
        used = (settings or DecodeSettings()).for_family(FAMILIES[kind])
        key = {"v": _HASH_VERSION, "content": self.identity or content.hexdigest(), "settings": used}
        blob = json.dumps(key, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:DIGEST_CHARS]

    def _chunks(self, size: int = _CHUNK) -> Iterator[bytes]:
        """The bytes in pieces (a file is streamed; its size and type are checked first)."""
        if self.data is not None:
            if not self.data:
                raise ImageError(self.shown, "is empty (0 bytes)", "give the image's content")
            for start in range(0, len(self.data), size):
                yield self.data[start : start + size]
            return
        assert self.path is not None
        try:
            with open(self.path, "rb") as handle:
                _check_open_file(self.shown, os.fstat(handle.fileno()))
                while chunk := handle.read(size):
                    yield chunk
        except FileNotFoundError:
            raise ImageError(self.shown, "file not found", "give a path relative to the data file") from None
        except IsADirectoryError:
            raise ImageError(self.shown, "is a directory, not an image file", "name a file inside it") from None
        except OSError as exc:
            raise ImageError(self.shown, f"cannot be read ({exc.strerror})", "check the permissions") from None


def _check_open_file(shown: str, info: os.stat_result) -> None:
    if stat.S_ISDIR(info.st_mode):
        raise ImageError(shown, "is a directory, not an image file", "name a file inside it")
    if not stat.S_ISREG(info.st_mode):
        raise ImageError(shown, "is not a regular file", "name an image file")
    if info.st_size == 0:
        raise ImageError(shown, "is empty (0 bytes)", "check the file")
    if info.st_size > MAX_BYTES:
        raise _too_big(shown, info.st_size)


def _too_big(shown: str, size: int) -> ImageError:
    mib = MAX_BYTES // (1024 * 1024)
    return ImageError(shown, f"is {size / 2**20:.1f} MiB, over the {mib} MiB limit", "downscale or crop the image")


def confined_path(base_dir: Path, relative: str, shown: str, root: Path | None = None) -> Path:
    """``relative`` resolved from ``base_dir`` (symlinks followed), refused when it ends up outside ``root``
    (default: ``base_dir`` itself; a suite passes the project's root, as for its data files).

    Absolute paths are refused outright, and so is anything that resolves outside
    (``../x.png``, a symlink to ``/etc``): a suite in an untrusted pull request
    must not show a model, or a log, any file of the CI machine.
    """
    if not relative or "\0" in relative:
        raise ImageError(shown, "is not a usable file path", "give a path relative to the data file")
    if PurePosixPath(relative).is_absolute() or PureWindowsPath(relative).is_absolute() or relative[:1] in "/\\":
        raise ImageError(
            shown, f"'{clip(relative)}' is an absolute path", "give a path relative to the data file's folder"
        )
    fence = Path(root if root is not None else base_dir).resolve()
    file = (Path(base_dir).resolve() / relative).resolve()
    if not file.is_relative_to(fence):
        where = "the project" if root is not None else "the data file's folder"
        raise ImageError(shown, f"'{clip(relative)}' points outside {fence}", f"keep images inside {where}")
    return file


def _from_mapping(
    cls: type[ImageSource], value: Mapping[Any, Any], shown: str, base_dir: Path, root: Path | None = None
) -> ImageSource:
    """The ``datasets`` Image shape: ``{"bytes": b"..." | None, "path": "x.png" | None}``."""
    data, path = value.get("bytes"), value.get("path")
    name = PurePosixPath(path).name if isinstance(path, str) else ""
    if isinstance(data, (bytes, bytearray, memoryview)) and len(data):
        return cls.from_bytes(bytes(data), shown, name=name)
    if data is not None and not isinstance(data, (bytes, bytearray, memoryview)):
        raise ImageError(shown, f"'bytes' holds a {type(data).__name__}, not bytes", "store the image's bytes")
    if isinstance(path, str) and path:
        return cls.from_file(confined_path(base_dir, path, shown, root), shown)
    raise ImageError(shown, "has neither 'bytes' nor 'path'", "store the image's bytes or a relative path")


def _is_pil_image(value: Any) -> bool:
    """True for a PIL image; PIL is consulted only when something has already imported it."""
    pil = sys.modules.get("PIL.Image")
    return pil is not None and isinstance(value, pil.Image)


def _encode_picture(picture: Any, shown: str) -> tuple[bytes, str]:
    """A PIL image as lossless bytes (PNG; TIFF for modes PNG cannot hold), and a hash of its pixels.

    The digest uses the pixel hash, not the encoded bytes: another zlib (Pillow's
    wheels ship zlib-ng) compresses the same pixels to other bytes, and an
    item's identity must not change with the machine.
    """
    pixels = hashlib.sha256(f"{picture.mode}:{picture.size[0]}x{picture.size[1]}:".encode())
    try:
        pixels.update(picture.tobytes())
        buffer = io.BytesIO()
        try:
            picture.save(buffer, format="PNG")
        except (OSError, KeyError, ValueError):
            buffer = io.BytesIO()
            picture.save(buffer, format="TIFF")
    except Exception as exc:  # a picture object is the dataset's, and may be anything Pillow can hold
        raise ImageError(shown, f"cannot be encoded ({type(exc).__name__}: {clip(str(exc))})") from None
    return _size_checked(buffer.getvalue(), shown), "pixels:" + pixels.hexdigest()


def _size_checked(data: bytes, shown: str) -> bytes:
    if len(data) > MAX_BYTES:
        raise _too_big(shown, len(data))
    return data
