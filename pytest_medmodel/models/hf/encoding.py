"""Tokenising choice requests the way lm-evaluation-harness does, for the HF adapter.

Continuation tokens are the tail of ``context + continuation`` (so BPE merges at
the boundary match what the model would see), falling back to encoding the
continuation alone where appending it would change the context's own tokens.
Trailing spaces of the context move into the continuations (lm-eval's
``_encode_pair``); contexts too long for the model are truncated on the left.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..base import AdapterError, ChoiceRequest
from .generate import adds_bos


@dataclass
class Encoded:
    """One request as token ids."""

    index: int
    """Position of the request in its call (results go back in this order)."""
    context: list[int]
    continuations: list[list[int]]

    @property
    def length(self) -> int:
        return len(self.context) + max(len(c) for c in self.continuations)


def encode_choices(
    tokenizer: Any, requests: Sequence[ChoiceRequest], *, max_length: int, pad_id: int, name: str
) -> list[Encoded]:
    """Token ids of every request's context and continuations."""
    return [_encode_one(tokenizer, index, req, max_length, pad_id, name) for index, req in enumerate(requests)]


def _encode_one(tok: Any, index: int, req: ChoiceRequest, max_length: int, pad_id: int, name: str) -> Encoded:
    context = req.context
    conts = list(req.continuations)
    stripped = context.rstrip(" ")
    if stripped != context:  # trailing spaces belong to the continuation
        moved = context[len(stripped) :]
        context, conts = stripped, [moved + c for c in conts]
    special = adds_bos(tok, context)
    ctx_ids = tok(context, add_special_tokens=special)["input_ids"]
    wholes = tok([context + c for c in conts], add_special_tokens=special)["input_ids"]
    cont_ids = []
    for cont, whole in zip(conts, wholes, strict=True):
        if whole[: len(ctx_ids)] == ctx_ids and len(whole) > len(ctx_ids):
            cont_ids.append(whole[len(ctx_ids) :])
        else:
            alone = tok(cont, add_special_tokens=False)["input_ids"]
            if not alone:
                raise AdapterError(f"{name}: continuation {cont!r} encodes to no tokens")
            cont_ids.append(alone)
    room = max_length - max(len(c) for c in cont_ids)
    if room <= 0:
        raise AdapterError(f"{name}: a continuation is longer than the model's context ({max_length} tokens)")
    if len(ctx_ids) > room:
        ctx_ids = ctx_ids[-room:]  # left-truncate, as lm-evaluation-harness does
    if not ctx_ids:
        ctx_ids = [tok.bos_token_id if tok.bos_token_id is not None else pad_id]
    return Encoded(index, ctx_ids, cont_ids)
