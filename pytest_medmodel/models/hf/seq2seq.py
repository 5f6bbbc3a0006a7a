"""Encoder-decoder checkpoints (T5, mT5, Flan-T5, Medical mT5): choice scoring and greedy generation.

The context is the encoder's input; an option is scored as the decoder's
log-probability of its tokens (no special tokens, as lm-evaluation-harness
scores seq2seq models), so ``letter`` and ``loglikelihood`` scoring mean what
they mean for a causal model. The encoder runs once per request and its output
is reused for every option. Generation is greedy from the decoder's start token;
each request's text is independent of its batch neighbours (the encoder pads
with an attention mask, the decoder starts at the same token for every row).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..base import AdapterError, ChoiceRequest, ChoiceResult, GenerationRequest
from .generate import cut_at_stops

GENERATION_BATCH = 16


class HFSeq2Seq:
    """A :class:`~pytest_medmodel.models.base.ModelAdapter` over a transformers seq2seq model."""

    def __init__(self, model: Any, tokenizer: Any, *, name: str, fingerprint: str | None) -> None:
        import torch

        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        self.fingerprint = fingerprint
        self.device = next(model.parameters()).device
        if tokenizer.pad_token_id is None:
            raise AdapterError(f"{name}: the tokenizer has no pad token, which a seq2seq decoder starts from")
        self.pad_id = int(tokenizer.pad_token_id)
        limit = getattr(tokenizer, "model_max_length", 0) or 0
        self.max_length = limit if 0 < limit < 1 << 20 else 512
        self._torch = torch

    def describe(self) -> str:
        dtype = str(next(self.model.parameters()).dtype).replace("torch.", "")
        return f"{self.name} ({type(self.model).__name__}, encoder-decoder, {self.device}, {dtype})"

    def format_chat(self, messages: Sequence[dict[str, str]]) -> str | None:
        if not getattr(self.tokenizer, "chat_template", None):
            return None
        return self.tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)

    def _encoder_ids(self, text: str) -> list[int]:
        ids = self.tokenizer(text)["input_ids"]
        return ids[-self.max_length :]  # the end of a long context matters most: keep it

    def loglikelihood(self, requests: Sequence[ChoiceRequest]) -> list[ChoiceResult]:
        torch = self._torch
        out = []
        with torch.inference_mode():
            for request in requests:
                source = torch.tensor([self._encoder_ids(request.context)], device=self.device)
                encoded = self.model.get_encoder()(input_ids=source)
                targets = [self.tokenizer(c, add_special_tokens=False)["input_ids"] for c in request.continuations]
                if any(not t for t in targets):
                    raise AdapterError(f"{self.name}: an option encodes to no tokens: {request.continuations!r}")
                width = max(len(t) for t in targets)
                labels = torch.full((len(targets), width), -100, dtype=torch.long)
                for row, tokens in enumerate(targets):
                    labels[row, : len(tokens)] = torch.tensor(tokens)
                hidden = encoded.last_hidden_state.expand(len(targets), -1, -1)
                logits = self.model(encoder_outputs=(hidden,), labels=labels.to(self.device)).logits.float()
                logprobs = torch.log_softmax(logits, dim=-1)
                mask = labels.to(self.device) != -100
                picked = logprobs.gather(-1, labels.clamp(min=0).to(self.device).unsqueeze(-1)).squeeze(-1)
                sums = (picked * mask).sum(dim=-1).tolist()
                out.append(ChoiceResult(tuple(float(s) for s in sums), tuple(len(t) for t in targets)))
        return out

    def generate(self, requests: Sequence[GenerationRequest]) -> list[str]:
        torch = self._torch
        texts = [""] * len(requests)
        encoded = [self._encoder_ids(r.context) for r in requests]
        order = sorted(range(len(requests)), key=lambda i: -len(encoded[i]))
        with torch.inference_mode():
            for start in range(0, len(order), GENERATION_BATCH):
                batch = order[start : start + GENERATION_BATCH]
                limit = max(requests[i].max_new_tokens for i in batch)
                if limit <= 0:
                    continue
                width = max(len(encoded[i]) for i in batch)
                ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
                mask = torch.zeros((len(batch), width), dtype=torch.long)
                for row, index in enumerate(batch):
                    ids[row, : len(encoded[index])] = torch.tensor(encoded[index])
                    mask[row, : len(encoded[index])] = 1
                made = self.model.generate(
                    input_ids=ids.to(self.device),
                    attention_mask=mask.to(self.device),
                    do_sample=False,
                    max_new_tokens=limit,
                )
                for row, index in enumerate(batch):
                    new = made[row, 1:].tolist()[: requests[index].max_new_tokens]  # after the decoder start token
                    eos = self.tokenizer.eos_token_id
                    if eos is not None and eos in new:
                        new = new[: new.index(eos)]
                    text = self.tokenizer.decode(new, skip_special_tokens=True)
                    texts[index] = cut_at_stops(text, requests[index].stop)
        return texts

    def close(self) -> None:
        self.model = None
