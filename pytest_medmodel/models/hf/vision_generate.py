"""Greedy generation for vision-language models, where no request depends on its batch neighbours.

As for text (:mod:`.generate`): each prompt is processed on its own (BOS as
the encoding rules say), rows are left-padded with an attention mask, each row
keeps only its own ``max_new_tokens`` and is cut at EOS and at its earliest stop
string. Prompts are batched by their number of images, so image tensors line
up with rows and padded image slots never reach a prompt (see
:mod:`.vision_groups`); the batch's image tensors are collated by the same rule
as for scoring (:mod:`.vision_inputs`). ``model.generate`` does the rest: it
knows each architecture's positions (Qwen2-VL's 3-D RoPE), token types and caches.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..base import GenerationRequest
from .generate import cut_at_stops
from .vision_encoding import TOKEN_KEYS, Family, encode_prompt, images_prepared_once
from .vision_inputs import collate_images, token_batch

GENERATION_BATCH = 8
"""Prompts per ``model.generate`` call."""


def _stop_ids(model: Any, tokenizer: Any) -> set[int]:
    """EOS ids: the tokenizer's and the generation config's (chat models often end turns with their own)."""
    ids = {tokenizer.eos_token_id}
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids |= set(configured) if isinstance(configured, (list, tuple)) else {configured}
    return {i for i in ids if isinstance(i, int)}


def generate_texts(
    model: Any, processor: Any, family: Family, requests: Sequence[GenerationRequest], *, pad_id: int, name: str
) -> list[str]:
    """Greedy continuations of every request, in request order."""
    import torch

    with images_prepared_once(processor):
        encoded = [encode_prompt(processor, family, request, name) for request in requests]
    order = sorted(range(len(requests)), key=lambda i: (len(requests[i].images), -encoded[i]["input_ids"].shape[1]))
    texts = [""] * len(requests)
    stops = _stop_ids(model, processor.tokenizer)
    with torch.inference_mode():
        start = 0
        while start < len(order):
            kind = len(requests[order[start]].images)
            batch = [i for i in order[start : start + GENERATION_BATCH] if len(requests[i].images) == kind]
            start += len(batch)
            limit = max(requests[i].max_new_tokens for i in batch)
            if limit <= 0:
                continue
            made, width = _generate(model, [encoded[i] for i in batch], limit, pad_id)
            for row, index in enumerate(batch):
                new = made[row, width:].tolist()[: max(requests[index].max_new_tokens, 0)]
                cut = next((k for k, token in enumerate(new) if token in stops), len(new))
                text = processor.tokenizer.decode(new[:cut], skip_special_tokens=True)
                texts[index] = cut_at_stops(text, requests[index].stop)
    return texts


def _generate(model: Any, rows: Sequence[dict[str, Any]], limit: int, pad_id: int) -> tuple[Any, int]:
    """One ``model.generate`` call over left-padded rows; the output and the prompt width."""
    keys = [k for k in TOKEN_KEYS if k in rows[0] and k not in ("input_ids", "attention_mask")]
    pieces = [(row["input_ids"][0].tolist(), {k: row[k] for k in keys}) for row in rows]
    ids, mask, extras = token_batch(pieces, keys, pad_id)
    device = next(model.parameters()).device
    dtype = next(model.parameters()).dtype
    inputs = {**extras, **collate_images(rows), "input_ids": ids, "attention_mask": mask}
    moved = {k: v.to(device, dtype) if v.is_floating_point() else v.to(device) for k, v in inputs.items()}
    out = model.generate(**moved, do_sample=False, max_new_tokens=limit, pad_token_id=pad_id)
    return out, ids.shape[1]
