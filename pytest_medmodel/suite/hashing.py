"""The short hashes that identify a question as shown: in baselines, cache keys and suite fingerprints."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..images.ref import ImageRef


def short_hash(payload: Any, length: int) -> str:
    """Hex prefix of the SHA-256 of ``payload`` as canonical JSON."""
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:length]


def content_hash(
    question: str, context: str | None, choices: Sequence[str], answer: int, images: Sequence[ImageRef] = ()
) -> str:
    """Short hash of everything that defines a question as shown, its images by their digests.

    Stored per entry in the baseline, so an item whose text, key or image changed since
    the baseline was recorded is not silently compared with it. An item without images
    hashes as it did before images existed.
    """
    payload: list[Any] = [question, context, list(choices), answer]
    if images:
        payload.append([image.digest for image in images])
    return short_hash(payload, 12)
