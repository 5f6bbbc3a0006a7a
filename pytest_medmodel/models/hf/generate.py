"""Greedy generation for transformers causal LMs, where no request depends on its batch neighbours.

The prediction cache stores each request's text under that request's own key, so
the text must be what the request would get alone. Batching may not change it:

* every prompt is tokenised on its own (BOS added unless the text already starts
  with it), never with a setting taken from the first request of the batch;
* each row keeps only its own ``max_new_tokens`` (the batch runs to the largest
  limit; greedy decoding is prefix-stable, so a row cut at its limit equals the row
  generated with that limit);
* stop strings are applied per request, at the earliest match.

Rows are left-padded with an attention mask, so padding does not reach the
numbers; batches group prompts of similar length to keep padding small.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..base import GenerationRequest

GENERATION_BATCH = 16
"""Prompts per ``model.generate`` call."""


def adds_bos(tokenizer: Any, context: str) -> bool:
    """Add BOS unless the text already carries it (chat templates usually do)."""
    bos = tokenizer.bos_token
    return not (bos and context.startswith(bos))


def cut_at_stops(text: str, stops: Sequence[str]) -> str:
    """``text`` up to the earliest occurrence of any stop string."""
    positions = [text.find(stop) for stop in stops if stop and stop in text]
    return text[: min(positions)] if positions else text


def greedy_generate(model: Any, tokenizer: Any, requests: Sequence[GenerationRequest], *, pad_id: int) -> list[str]:
    """Greedy continuations of every request, in request order."""
    import torch

    device = next(model.parameters()).device
    encoded = [tokenizer(r.context, add_special_tokens=adds_bos(tokenizer, r.context))["input_ids"] for r in requests]
    # An empty prompt starts from BOS (else padding) alone, as in scoring: a model cannot run on no
    # tokens, and in a batch the row would be all padding.
    start_id = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else pad_id
    encoded = [ids or [start_id] for ids in encoded]
    order = sorted(range(len(requests)), key=lambda i: -len(encoded[i]))
    texts = [""] * len(requests)
    eos = tokenizer.eos_token_id
    with torch.inference_mode():
        for start in range(0, len(order), GENERATION_BATCH):
            batch = order[start : start + GENERATION_BATCH]
            width = max(len(encoded[i]) for i in batch)
            ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, index in enumerate(batch):
                tokens = encoded[index]
                ids[row, width - len(tokens) :] = torch.tensor(tokens)
                mask[row, width - len(tokens) :] = 1
            limit = max(requests[i].max_new_tokens for i in batch)
            if limit <= 0:
                continue
            out = model.generate(
                input_ids=ids.to(device),
                attention_mask=mask.to(device),
                do_sample=False,
                max_new_tokens=limit,
                pad_token_id=pad_id,
            )
            for row, index in enumerate(batch):
                request = requests[index]
                new = out[row, width:].tolist()[: max(request.max_new_tokens, 0)]  # negative: none, not [:-n]
                if eos is not None and eos in new:
                    new = new[: new.index(eos)]
                text = tokenizer.decode(new, skip_special_tokens=True)
                texts[index] = cut_at_stops(text, request.stop)
    return texts
