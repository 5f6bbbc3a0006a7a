"""Hugging Face causal LMs: batched, length-sorted choice scoring that wastes nothing.

Four things make this faster than a plain forward loop over prompt+option rows
(what lm-evaluation-harness does), without changing a single log-probability
beyond float noise:

* **The prompt runs once per item.** The context is encoded once with the KV
  cache on; every option's remaining tokens then run against a copy of that
  cache, instead of re-encoding the prompt once per option.
* **The LM head runs only where a token is scored.** ``logits_to_keep`` keeps the
  vocabulary projection to the last context position (pass 1) and to the
  continuation positions (pass 2); a plain loop projects every prompt position.
* **Single-token options skip pass 2 entirely** (letter scoring: one forward pass
  per item, one vocabulary row per item).
* **The prefix every prompt shares runs once per call.** Chat template, system
  prompt and instructions (and few-shot examples) are encoded once and their
  keys/values reused by every item of the shard.

Batches are sorted by length (less padding; an out-of-memory error shows up on
the first batch) and sized automatically from a token budget; an out-of-memory
error halves the batch and retries instead of failing the run.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..base import AdapterError, ChoiceRequest, ChoiceResult, GenerationRequest, ProgressCallback
from ..devices import is_out_of_memory
from .encoding import Encoded, encode_choices
from .generate import greedy_generate
from .prefix import Prefixes, prefix_groups, run_prefixes, shared_length

if TYPE_CHECKING:
    import torch

CPU_TOKEN_BUDGET = 1024
"""Padded tokens per forward pass on CPU. Measured on the demo model (2 cores, float32):
4-8 rows of ~130 tokens run 20-50% faster per item than 32-64 rows."""
ACCELERATOR_TOKEN_BUDGET = 131072
"""Padded tokens per forward pass on a GPU (at most ``max_batch_size`` rows); an
out-of-memory error halves the rows per batch until a batch fits."""


class HFCausalLM:
    """A :class:`~pytest_medmodel.models.base.ModelAdapter` over a transformers causal LM.

    Args:
        model: a loaded ``AutoModelForCausalLM`` (already on its device, in eval mode).
        tokenizer: its tokenizer; a missing pad token falls back to EOS (or UNK).
        name: shown in reports.
        fingerprint: identity of the weights for the prediction cache (see
            :func:`pytest_medmodel.models.fingerprint.fingerprint_folder`).
        batch_size: rows per forward pass; ``None`` sizes batches from a token
            budget and halves it on out-of-memory.
        max_batch_size: cap on rows per pass when ``batch_size`` is ``None``.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        name: str,
        fingerprint: str | None,
        batch_size: int | None = None,
        max_batch_size: int = 64,
        description: str = "",
    ) -> None:
        import torch

        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        self.fingerprint = fingerprint
        self.batch_size = batch_size
        self.max_batch_size = max_batch_size
        self.device = next(model.parameters()).device
        self._description = description
        self.token_budget = CPU_TOKEN_BUDGET if self.device.type == "cpu" else ACCELERATOR_TOKEN_BUDGET
        self.oom_backoffs = 0
        self.tokens_run = 0  # tokens through the model, padding excluded (benchmarks/bench_perturbations.py)
        self.share_prefix = True
        """Run prompt prefixes that requests share once (see :mod:`.hf_prefix`)."""
        self._last_prefix: tuple[tuple[tuple[int, ...], ...], Prefixes] | None = None
        if tokenizer.pad_token_id is None:
            fallback = tokenizer.eos_token if tokenizer.eos_token is not None else tokenizer.unk_token
            if fallback is None:
                raise AdapterError(f"{name}: the tokenizer has no pad, EOS or UNK token to pad batches with")
            tokenizer.pad_token = fallback
        self.pad_id = int(tokenizer.pad_token_id)
        tokenizer.padding_side = "left"
        params = inspect.signature(model.forward).parameters
        self._cache_kwarg = "cache" if "cache" in params else "past_key_values"
        self._has_logits_to_keep = "logits_to_keep" in params
        limit = getattr(model.config, "max_position_embeddings", None) or 0
        tok_limit = getattr(tokenizer, "model_max_length", 0) or 0
        self.max_length = min(x for x in (limit, tok_limit, 1 << 20) if x > 0)
        self._torch = torch

    # ------------------------------------------------------------------ protocol

    def describe(self) -> str:
        dtype = str(next(self.model.parameters()).dtype).replace("torch.", "")
        extra = f", {self._description}" if self._description else ""
        return f"{self.name} ({type(self.model).__name__}, {self.device}, {dtype}{extra})"

    def format_chat(self, messages: Sequence[dict[str, str]]) -> str | None:
        if not getattr(self.tokenizer, "chat_template", None):
            return None
        return self.tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)

    def loglikelihood(
        self, requests: Sequence[ChoiceRequest], progress: ProgressCallback | None = None
    ) -> list[ChoiceResult]:
        encoded = self._encode(requests)
        groups = prefix_groups(encoded) if self.share_prefix else [list(encoded)]
        shared = [shared_length(g) if self.share_prefix else 0 for g in groups]
        # Group by group, longest first within each: a batch holds few groups, so few prefixes.
        order = [(number, enc) for number, g in enumerate(groups) for enc in sorted(g, key=lambda e: -e.length)]
        results: list[ChoiceResult | None] = [None] * len(requests)
        position = 0
        self._last_prefix = None
        with self._torch.inference_mode():
            while position < len(order):
                size = self._rows_for(order[position:], shared)
                batch = order[position : position + size]
                try:
                    scored = self._score_rows(batch, groups, shared)
                except Exception as exc:  # noqa: BLE001 - re-raised unless it is an OOM
                    if not is_out_of_memory(exc):
                        raise
                    self._back_off(size, exc)
                    continue
                for (_, enc), result in zip(batch, scored, strict=True):
                    results[enc.index] = result
                position += size
                if progress is not None:
                    progress(position, len(requests))
        self._last_prefix = None  # its keys and values are not kept beyond the call
        return [r for r in results if r is not None]

    def generate(self, requests: Sequence[GenerationRequest]) -> list[str]:
        """Greedy generation; each request's text is what it would get alone (see :mod:`.hf_generate`)."""
        return greedy_generate(self.model, self.tokenizer, requests, pad_id=self.pad_id)

    def close(self) -> None:
        self.model = None

    # ------------------------------------------------------------------ encoding

    def _encode(self, requests: Sequence[ChoiceRequest]) -> list[Encoded]:
        return encode_choices(self.tokenizer, requests, max_length=self.max_length, pad_id=self.pad_id, name=self.name)

    # ------------------------------------------------------------------ batching

    def _rows_for(self, remaining: Sequence[tuple[int, Encoded]], shared: Sequence[int]) -> int:
        """Rows for the next batch: the token budget covers each row's own tokens and each new group's prefix."""
        cap = self.batch_size if self.batch_size is not None else self.max_batch_size
        if self.batch_size is None:
            # Longest first within a group, so a group's first row bounds the width of its rows.
            used, count, width = 0, 0, 0
            for number, enc in remaining[:cap]:
                if not count or number != remaining[count - 1][0]:  # a new group: its prefix pass, its width
                    used += shared[number]
                    width = len(enc.context) - shared[number]
                multi = any(len(c) > 1 for c in enc.continuations)
                cost = width * (1 + (len(enc.continuations) if multi else 0)) + sum(len(c) for c in enc.continuations)
                if count and used + cost > self.token_budget:
                    break
                used += cost
                count += 1
            cap = max(1, count)
        return max(1, min(cap, len(remaining)))

    def _back_off(self, size: int, exc: BaseException) -> None:
        """Halve the batch after an out-of-memory error; give up only at one row."""
        if size <= 1:
            raise AdapterError(
                f"{self.name}: out of memory on a single item; try --medmodel-dtype bfloat16 or a larger device"
            ) from exc
        if self.device.type == "cuda":
            self._torch.cuda.empty_cache()
        self.oom_backoffs += 1
        if self.batch_size is not None:
            self.batch_size = size // 2
        else:
            self.max_batch_size = size // 2

    def _score_rows(
        self, batch: Sequence[tuple[int, Encoded]], groups: Sequence[Sequence[Encoded]], shared: Sequence[int]
    ) -> list[ChoiceResult]:
        """Score rows of one or more groups; each group's shared prefix runs once for the batch."""
        owners = sorted({number for number, _ in batch})
        prefix = None
        if self.share_prefix and all(shared[n] for n in owners):
            tokens = tuple(tuple(groups[n][0].context[: shared[n]]) for n in owners)
            if self._last_prefix is not None and self._last_prefix[0] == tokens:
                prefix = self._last_prefix[1]  # a group spanning several batches runs its prefix once
            else:
                prefix = run_prefixes(self.model, tokens, self.pad_id, self.device, self._has_logits_to_keep)
                if prefix is None:
                    self.share_prefix = False  # an unsupported cache type: every later call runs contexts whole
                else:
                    self.tokens_run += sum(prefix.lengths)
                    self._last_prefix = (tokens, prefix)
        return self._score_batch([enc for _, enc in batch], prefix, [owners.index(n) for n, _ in batch])

    def _score_batch(
        self, batch: Sequence[Encoded], prefix: Prefixes | None = None, owner: Sequence[int] = ()
    ) -> list[ChoiceResult]:
        """Score rows; with ``prefix``, row i continues prefix ``owner[i]`` (its cached keys and values)."""
        torch = self._torch
        single_token = all(len(c) == 1 for e in batch for c in e.continuations)
        owner = owner or [0] * len(batch)
        owns = [e.context[prefix.lengths[o] :] if prefix else e.context for e, o in zip(batch, owner, strict=True)]
        width = max(len(own) for own in owns)
        ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, own in enumerate(owns):
            ids[row, width - len(own) :] = torch.tensor(own)
            mask[row, width - len(own) :] = 1
        self.tokens_run += int(mask.sum())
        ids, mask = ids.to(self.device), mask.to(self.device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        kwargs: dict[str, Any] = {"input_ids": ids, "use_cache": not single_token}
        if prefix is not None:
            # [left-padded prefix | left-padded own tokens]: both paddings masked out.
            cache, prefix_mask = prefix.for_rows(torch.tensor(list(owner), device=self.device), self.model.config)
            positions = positions + prefix_mask.sum(-1, keepdim=True)
            mask = torch.cat([prefix_mask, mask], dim=1)
            kwargs[self._cache_kwarg] = cache
            kwargs["use_cache"] = True
        kwargs["position_ids"] = positions
        kwargs["attention_mask"] = mask
        if self._has_logits_to_keep:
            kwargs["logits_to_keep"] = 1
        out = self.model(**kwargs)
        last = out.logits[:, -1, :].float().log_softmax(-1)  # [B, V]
        greedy_first = last.argmax(-1)

        logprobs = [[0.0] * len(e.continuations) for e in batch]
        greedy = [[True] * len(e.continuations) for e in batch]
        firsts = [(b, k, cont[0]) for b, e in enumerate(batch) for k, cont in enumerate(e.continuations)]
        rows_b = torch.tensor([b for b, _, _ in firsts], device=self.device)
        toks = torch.tensor([t for _, _, t in firsts], device=self.device)
        first_lp = last[rows_b, toks].tolist()
        first_greedy = (greedy_first[rows_b] == toks).tolist()
        for (b, k, _), lp, g in zip(firsts, first_lp, first_greedy, strict=True):
            logprobs[b][k] = lp
            greedy[b][k] = bool(g)

        rest = [(b, k, cont) for b, e in enumerate(batch) for k, cont in enumerate(e.continuations) if len(cont) > 1]
        if rest:
            cache = getattr(out, "cache", None) or getattr(out, "past_key_values", None)
            self._score_tails(rest, cache, mask, logprobs, greedy)
        return [
            ChoiceResult(logprobs=tuple(lp), num_tokens=tuple(len(c) for c in e.continuations), is_greedy=tuple(g))
            for e, lp, g in zip(batch, logprobs, greedy, strict=True)
        ]

    def _score_tails(
        self,
        rest: list[tuple[int, int, list[int]]],
        cache: Any,
        ctx_mask: torch.Tensor,
        logprobs: list[list[float]],
        greedy: list[list[bool]],
    ) -> None:
        """Pass 2: every multi-token continuation, against its context's cached keys/values."""
        torch = self._torch
        if cache is None:
            raise AdapterError(f"{self.name}: the model returned no KV cache; multi-token scoring needs one")
        source_rows = torch.tensor([b for b, _, _ in rest], device=self.device)
        cache.batch_select_indices(source_rows)
        width = max(len(c) - 1 for _, _, c in rest)
        ids = torch.full((len(rest), width), self.pad_id, dtype=torch.long)
        tail_mask = torch.zeros((len(rest), width), dtype=torch.long)
        targets = torch.full((len(rest), width), -1, dtype=torch.long)
        for row, (_, _, cont) in enumerate(rest):
            n = len(cont) - 1
            ids[row, :n] = torch.tensor(cont[:-1])
            targets[row, :n] = torch.tensor(cont[1:])
            tail_mask[row, :n] = 1
        self.tokens_run += int(tail_mask.sum())
        ids, tail_mask, targets = ids.to(self.device), tail_mask.to(self.device), targets.to(self.device)
        full_mask = torch.cat([ctx_mask[source_rows], tail_mask], dim=1)
        ctx_len = ctx_mask[source_rows].sum(-1, keepdim=True)
        positions = ctx_len + torch.arange(width, device=self.device)[None, :]
        kwargs: dict[str, Any] = {
            "input_ids": ids,
            "attention_mask": full_mask,
            "position_ids": positions,
            self._cache_kwarg: cache,
            "use_cache": False,
        }
        keep = tail_mask.bool()
        if self._has_logits_to_keep:
            kwargs["logits_to_keep"] = keep
        out = self.model(**kwargs)
        logits = out.logits if self._has_logits_to_keep else out.logits[keep]
        lps = logits.float().log_softmax(-1)  # [num_scored, V], row-major over (row, position)
        flat_targets = targets[keep]
        token_lp = lps.gather(-1, flat_targets[:, None])[:, 0]
        token_greedy = lps.argmax(-1) == flat_targets
        counts = tail_mask.sum(-1).tolist()
        sums = torch.split(token_lp, counts)
        flags = torch.split(token_greedy, counts)
        for (b, k, _), lp, g in zip(rest, sums, flags, strict=True):
            logprobs[b][k] += float(lp.sum())
            greedy[b][k] = greedy[b][k] and bool(g.all())
