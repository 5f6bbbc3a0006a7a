"""Batching a vision-language model's inputs from per-request processor outputs, and its positions.

Every request is processed alone (:mod:`.vision_encoding`), so a batch is put
together here, by one rule for every architecture:

* tensors along the token axis are cut to the tokens a pass runs, left-padded
  (pad id for ids, 0 elsewhere: masked out), and any further dimensions (Mllama's
  images and tiles per token) zero-padded to the batch's largest;
* image tensors are concatenated on their first dimension, every other
  dimension zero-padded to the batch's largest. That is what the processors do
  themselves for a batch: LLaVA, Gemma 3 and PaliGemma stack same-sized images,
  Qwen2-VL concatenates patches and grids, Idefics3 and Mllama pad the tile
  (and image) count with all-zero tiles, which the model drops or masks.

Positions are given explicitly, because a left-padded continuation on a cache
needs them: 1-D models count real tokens (PaliGemma from 1); models with
multimodal RoPE (Qwen2-VL and kin: ``get_rope_index``) get their 3-D positions
from the model's own function for a pass with images, and every later token
continues from the largest position plus one, as ``generate`` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .vision_encoding import TOKEN_KEYS


def pad_dims(tensor: Any, shape: Sequence[int], start: int = 1) -> Any:
    """``tensor`` zero-padded at the end of every dimension from ``start`` on, up to ``shape``."""
    import torch

    pads: list[int] = []
    for dim in reversed(range(tensor.dim())):
        pads += [0, (shape[dim] - tensor.shape[dim]) if dim >= start else 0]
    return torch.nn.functional.pad(tensor, pads) if any(pads) else tensor


def _largest(tensors: Sequence[Any]) -> list[int]:
    return [max(t.shape[d] for t in tensors) for d in range(tensors[0].dim())]


def collate_images(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Image tensors of several requests as one batch (rows without images add nothing)."""
    import torch

    keys = sorted({key for row in rows for key in row if key not in TOKEN_KEYS})
    out = {}
    for key in keys:
        parts = [row[key] for row in rows if key in row]
        shape = _largest(parts)
        out[key] = torch.cat([pad_dims(p, shape) for p in parts], dim=0)
    return out


def token_batch(
    pieces: Sequence[tuple[list[int], dict[str, Any]]],
    keys: Sequence[str],
    pad_id: int,
    trailing: dict[str, list[int]] | None = None,
    left: bool = True,
) -> tuple[Any, Any, dict[str, Any]]:
    """Ids, attention mask and the ``keys`` tensors of several token runs, padded to one width.

    ``pieces``: per row, its token ids and its per-token tensors (batch of one, already cut to
    those tokens). ``trailing``: the shape beyond the token axis to pad each key to (a later pass
    must match the cache's image layout), else the largest in the batch. ``left``: pad side.
    """
    import torch

    width = max(len(ids) for ids, _ in pieces)
    ids_out = torch.full((len(pieces), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(pieces), width), dtype=torch.long)
    for row, (ids, _) in enumerate(pieces):
        span = slice(width - len(ids), width) if left else slice(0, len(ids))
        ids_out[row, span] = torch.tensor(ids, dtype=torch.long)
        mask[row, span] = 1
    extras = {}
    for key in keys:
        parts = [extra[key] for _, extra in pieces]
        rest = (trailing or {}).get(key) or _largest(parts)[2:]
        padded = torch.zeros((len(pieces), width, *rest), dtype=parts[0].dtype)
        for row, part in enumerate(parts):
            part = pad_dims(part, [1, part.shape[1], *rest], start=2)
            span = slice(width - part.shape[1], width) if left else slice(0, part.shape[1])
            padded[row, span] = part[0]
        extras[key] = padded
    return ids_out, mask, extras


class Positions:
    """Position ids for a model: counted from the attention mask, or its own multimodal RoPE index."""

    def __init__(self, model: Any, offset: int = 0) -> None:
        inner = getattr(model, "model", None)
        self._rope_index = getattr(inner, "get_rope_index", None)
        self.offset = offset

    def prefix(self, ids: Any, mask: Any, inputs: dict[str, Any]) -> tuple[Any, Any]:
        """Positions of a first pass and, per row, the position of the token after it."""
        if self._rope_index is not None and inputs.get("image_grid_thw") is not None:
            positions, deltas = self._rope_index(
                ids,
                mm_token_type_ids=inputs["mm_token_type_ids"],
                image_grid_thw=inputs["image_grid_thw"],
                attention_mask=mask,
            )
            return positions, mask.sum(-1) + deltas.reshape(-1).to(mask.device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0) + self.offset
        return positions, mask.sum(-1) + self.offset

    @staticmethod
    def after(next_position: Any, mask: Any) -> Any:
        """Positions of left-padded tokens that continue rows whose next position is ``next_position``."""
        return next_position[:, None] + (mask.cumsum(-1) - 1).clamp(min=0)
