"""The image an item shows, as items, variants and requests carry it: a source, its decoding, its digest.

An :class:`ImageRef` is data, never a file the plugin writes. Its ``digest``
(the source's bytes plus the decoding settings its format reads, see
:meth:`~.source.ImageSource.digest`) is computed once, when the suite is read,
and is what identities are made of: the item's content hash, the request's
cache key and the suite's fingerprint. The picture itself is decoded only when a
model needs it (:meth:`ImageRef.load`), once per process per digest.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .settings import DecodeSettings
from .source import ImageSource

if TYPE_CHECKING:
    from PIL import Image

DECODED_KEPT = 256
"""Decoded pictures kept per process (by digest): a shard's items share them, and a suite's
perturbed variants re-read the same image; at most a few hundred small images stay in memory."""


@dataclass(frozen=True)
class ImageRef:
    """One image of an item: where it is, how it is decoded, and its digest (its identity)."""

    source: ImageSource = field(compare=False)
    settings: DecodeSettings = field(compare=False)
    digest: str
    """16 hex characters; two refs with the same digest are the same picture (equality compares only this)."""

    @classmethod
    def of(cls, source: ImageSource, settings: DecodeSettings | None = None) -> ImageRef:
        """The reference, its digest computed now (reading the bytes, not decoding them)."""
        settings = settings or DecodeSettings()
        return cls(source, settings, source.digest(settings))

    @property
    def shown(self) -> str:
        """Where it came from, for messages (never a value read from inside the file)."""
        return self.source.shown

    def load(self) -> Image.Image:
        """The RGB picture a model receives (decoded once per digest in this process)."""
        return _decoded(self)

    def __repr__(self) -> str:
        return f"ImageRef({self.shown!r}, digest={self.digest})"


@functools.lru_cache(maxsize=DECODED_KEPT)
def _decoded(ref: ImageRef) -> Any:
    from .decode import decode

    return decode(ref.source, ref.settings)
