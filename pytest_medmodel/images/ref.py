"""The image an item shows, as items, variants and requests carry it: a source, its decoding, its digest.

An :class:`ImageRef` is data, never a file the plugin writes. Its ``digest``
(the source's bytes plus the decoding settings its format reads, see
:meth:`~.source.ImageSource.digest`) is computed once, when the suite is read,
and is what identities are made of: the item's content hash, the request's
cache key and the suite's fingerprint. The picture itself is decoded only when a
model needs it (:meth:`ImageRef.load`), once per process per digest.

A perturbed or ablated picture is an :class:`ImageRef` too: :meth:`ImageRef.transformed`
names a pixel transform (:mod:`.transforms`) of another reference, with its settings
and seed. Its digest is made of the base's digest and that recipe, so a changed
transform, setting or seed is a new identity; its pixels are computed from the
base's when a model needs them, and never written anywhere.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from .settings import DecodeSettings
from .source import ImageSource

if TYPE_CHECKING:
    from PIL import Image

DECODED_KEPT = 256
"""Decoded pictures kept per process (by digest): a shard's items share them, and a suite's
perturbed variants re-read the same image; at most a few hundred small images stay in memory."""


@dataclass(frozen=True)
class ImageChange:
    """How a derived picture is made from its base: a named pixel transform, its settings and seed."""

    base: ImageRef
    transform: str
    """A key of :data:`~.transforms.TRANSFORMS`."""
    settings: tuple[tuple[str, float], ...] = ()
    seed: int | None = None
    """None for a transform that draws no random numbers (the same picture for every item)."""

    def describe(self) -> str:
        """``blur radius=2.0`` (for messages and the prompt log)."""
        return " ".join([self.transform, *(f"{name}={value}" for name, value in self.settings)])


@dataclass(frozen=True)
class ImageRef:
    """One image of an item: where it is, how it is decoded, and its digest (its identity)."""

    source: ImageSource = field(compare=False)
    settings: DecodeSettings = field(compare=False)
    digest: str
    """16 hex characters; two refs with the same digest are the same picture (equality compares only this)."""
    change: ImageChange | None = field(default=None, compare=False)
    """Set for a perturbed or ablated picture: what it is derived from, and how."""

    @classmethod
    def of(cls, source: ImageSource, settings: DecodeSettings | None = None) -> ImageRef:
        """The reference, its digest computed now (reading the bytes, not decoding them)."""
        settings = settings or DecodeSettings()
        return cls(source, settings, source.digest(settings))

    @property
    def shown(self) -> str:
        """Where it came from, for messages (never a value read from inside the file)."""
        if self.change is not None:
            return f"{self.change.base.shown} ({self.change.describe()})"
        return self.source.shown

    def transformed(
        self, transform: str, settings: Mapping[str, float] | None = None, seed: int | None = None
    ) -> ImageRef:
        """This picture changed by pixel transform ``transform`` (computed on :meth:`load`, never saved)."""
        from .transforms import TRANSFORMS

        ordered = tuple(sorted((settings or {}).items()))
        version = TRANSFORMS[transform].version
        key = {"v": 1, "base": self.digest, "transform": transform, "settings": ordered, "seed": seed}
        if version > 1:  # version 1 is left out: the digests recorded before versions existed stay valid
            key["version"] = version
        blob = json.dumps(key, sort_keys=True, separators=(",", ":"))
        digest = hashlib.sha256(blob.encode("utf-8")).hexdigest()[: len(self.digest)]
        return ImageRef(self.source, self.settings, digest, ImageChange(self, transform, ordered, seed))

    def windowed(self, window: tuple[float, float]) -> ImageRef:
        """The same DICOM or NIfTI file decoded with another VOI window (centre, width): a new digest.

        Raises:
            ValueError: the image is a picture format (it has no window) or is itself derived.
        """
        if self.change is not None:
            raise ValueError(f"{self.shown}: a window applies to the file, not to a changed picture")
        from .formats import FAMILIES

        kind = self.source.format()
        if FAMILIES[kind] == "pillow":
            raise ValueError(f"{self.shown} is a {kind} picture, which has no VOI window (DICOM and NIfTI have)")
        return ImageRef.of(self.source, replace(self.settings, window=window))

    def load(self) -> Image.Image:
        """The RGB picture a model receives (decoded once per digest in this process)."""
        return _decoded(self)

    def __repr__(self) -> str:
        return f"ImageRef({self.shown!r}, digest={self.digest})"


@functools.lru_cache(maxsize=DECODED_KEPT)
def _decoded(ref: ImageRef) -> Any:
    if ref.change is not None:
        from .transforms import TRANSFORMS

        change = ref.change
        return TRANSFORMS[change.transform].apply(change.base.load(), change.seed or 0, **dict(change.settings))
    from .decode import decode

    return decode(ref.source, ref.settings)
