"""The forward passes of image choice scoring: a prefix with its images once, then text on its cache.

A batch runs in up to three passes, each on the key/value cache of the one before:

1. **prefix** (:func:`run_prefixes`): one row per distinct prefix in the batch, with
   its images: the only pass that runs the vision tower. A prefix is a whole
   context (its requests differ only in their options) or the part several
   contexts share, which always covers every image token (:mod:`.vision_groups`);
2. **own** (:func:`run_own`): each request's context tokens after a shared prefix,
   on its prefix's cached keys/values (rows picked with ``batch_select_indices``);
3. **options** (:func:`score`): the first token of every option is read from the
   context's last position (single-token options need nothing more); longer
   options run their remaining tokens on a copy of their context's cache.

The LM head runs only at the positions that are scored (``logits_to_keep``).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..base import AdapterError, ChoiceResult
from .vision_encoding import TAIL_KEYS, TOKEN_KEYS, VisionEncoded
from .vision_inputs import Positions, collate_images, token_batch


@dataclass
class ContextState:
    """Where a batch of rows stands after their contexts: next-token log-probs, cache, mask, positions."""

    last: Any
    """(rows, vocabulary) log-probabilities of the token after each context."""
    cache: Any
    mask: Any
    """(rows, cached width) attention mask over the cache: 0 on padding."""
    next_position: Any
    """(rows,) the position of the token after each context."""
    trailing: dict[str, list[int]]
    """Shapes beyond the token axis that later per-token inputs must match (Mllama's image layout)."""

    def select(self, rows: Sequence[int]) -> ContextState:
        """The state of ``rows`` (repeats allowed): each request continues its prefix's row."""
        if list(rows) == list(range(self.last.shape[0])):
            return self
        index = self._index(rows)
        if self.cache is not None:
            self.cache.batch_select_indices(index)
        return ContextState(self.last[index], self.cache, self.mask[index], self.next_position[index], self.trailing)

    def _index(self, rows: Sequence[int]) -> Any:
        import torch

        return torch.tensor(list(rows), dtype=torch.long, device=self.last.device)


class Runner:
    """Calls the model with the keyword names and options it accepts, on its device."""

    def __init__(self, model: Any, pad_id: int, position_offset: int = 0) -> None:
        params = inspect.signature(model.forward).parameters
        self.model = model
        self.pad_id = pad_id
        self.device = next(model.parameters()).device
        self.dtype = next(model.parameters()).dtype
        self.cache_kwarg = "cache" if "cache" in params else "past_key_values"
        self.keeps_logits = "logits_to_keep" in params
        self.positions = Positions(model, position_offset)
        self.tokens_run = 0
        """Tokens through the language model, padding excluded."""

    def __call__(self, keep: Any, cache: Any = None, **inputs: Any) -> Any:
        """One forward pass; ``keep``: ``logits_to_keep`` (1: the last position; a bool mask: those)."""
        moved = {key: self._moved(value) for key, value in inputs.items()}
        if cache is not None:
            moved[self.cache_kwarg] = cache
        if self.keeps_logits:
            moved["logits_to_keep"] = self._moved(keep)
        out = self.model(**moved)
        logits = out.logits
        if not self.keeps_logits:
            logits = logits[:, -1:] if isinstance(keep, int) else logits[self._moved(keep)]
        return logits, getattr(out, "cache", None) or getattr(out, "past_key_values", None)

    def _moved(self, value: Any) -> Any:
        if not hasattr(value, "to"):
            return value
        if value.is_floating_point():
            return value.to(self.device, self.dtype)  # pixel values follow the model's dtype
        return value.to(self.device)


def run_prefixes(runner: Runner, prefixes: Sequence[tuple[VisionEncoded, int]], use_cache: bool) -> ContextState:
    """Pass 1: each ``(request, tokens)`` prefix with the request's images, left-padded into one batch."""
    first = prefixes[0][0].features
    keys = [k for k in TOKEN_KEYS if k in first and k not in ("input_ids", "attention_mask")]
    pieces = [(enc.context[:n], {k: enc.features[k][:, :n] for k in keys}) for enc, n in prefixes]
    ids, mask, extras = token_batch(pieces, keys, runner.pad_id)
    images = collate_images([enc.features for enc, _ in prefixes])
    positions, next_position = runner.positions.prefix(ids, mask, {**extras, **images})
    runner.tokens_run += int(mask.sum())
    logits, cache = runner(
        1, input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=use_cache, **extras, **images
    )
    trailing = {k: list(v.shape[2:]) for k, v in extras.items() if k in TAIL_KEYS}
    last = logits[:, -1, :].float().log_softmax(-1)
    return ContextState(last, cache, mask.to(runner.device), next_position.to(runner.device), trailing)


def run_own(runner: Runner, state: ContextState, owns: Sequence[tuple[VisionEncoded, int]]) -> ContextState:
    """Pass 2: each request's tokens after its ``n``-token prefix, on its row of ``state``."""
    import torch

    keys = [k for k in TAIL_KEYS if k in owns[0][0].features]
    pieces = [(enc.context[n:], {k: enc.features[k][:, n:] for k in keys}) for enc, n in owns]
    ids, mask, extras = token_batch(pieces, keys, runner.pad_id, state.trailing)
    mask = mask.to(runner.device)
    positions = Positions.after(state.next_position, mask)
    full = torch.cat([state.mask, mask], dim=1)
    runner.tokens_run += int(mask.sum())
    logits, cache = runner(
        1, state.cache, input_ids=ids, attention_mask=full, position_ids=positions, use_cache=True, **extras
    )
    last = logits[:, -1, :].float().log_softmax(-1)
    return ContextState(last, cache, full, state.next_position + mask.sum(-1), state.trailing)


def score(runner: Runner, state: ContextState, batch: Sequence[VisionEncoded]) -> list[ChoiceResult]:
    """Every option of every request: first tokens from ``state.last``, the rest on the cache."""
    import torch

    logprobs = [[0.0] * len(e.continuations) for e in batch]
    greedy = [[True] * len(e.continuations) for e in batch]
    firsts = [(b, k, cont[0]) for b, e in enumerate(batch) for k, cont in enumerate(e.continuations)]
    rows = torch.tensor([b for b, _, _ in firsts], device=state.last.device)
    tokens = torch.tensor([t for _, _, t in firsts], device=state.last.device)
    first_lp = state.last[rows, tokens].tolist()
    first_greedy = (state.last.argmax(-1)[rows] == tokens).tolist()
    for (b, k, _), lp, g in zip(firsts, first_lp, first_greedy, strict=True):
        logprobs[b][k] = lp
        greedy[b][k] = bool(g)
    rest = [(b, k) for b, e in enumerate(batch) for k, cont in enumerate(e.continuations) if len(cont) > 1]
    if rest:
        _tails(runner, state, batch, rest, logprobs, greedy)
    return [
        ChoiceResult(logprobs=tuple(lp), num_tokens=tuple(len(c) for c in e.continuations), is_greedy=tuple(g))
        for e, lp, g in zip(batch, logprobs, greedy, strict=True)
    ]


def _tails(
    runner: Runner,
    state: ContextState,
    batch: Sequence[VisionEncoded],
    rest: list[tuple[int, int]],
    logprobs: list[list[float]],
    greedy: list[list[bool]],
) -> None:
    """Pass 3: every multi-token option's tokens after its first, right-padded, on its context's cache."""
    import torch

    if state.cache is None:
        raise AdapterError("the model returned no key/value cache; options of several tokens need one")
    state = state.select([b for b, _ in rest])
    keys = [k for k in TAIL_KEYS if batch[0].tails and k in batch[0].tails[0]]
    pieces = []
    for b, k in rest:
        cont = batch[b].continuations[k]
        pieces.append((cont[:-1], {key: batch[b].tails[k][key][:, : len(cont) - 1] for key in keys}))
    ids, mask, extras = token_batch(pieces, keys, runner.pad_id, state.trailing, left=False)
    mask = mask.to(runner.device)
    positions = Positions.after(state.next_position, mask)
    runner.tokens_run += int(mask.sum())
    full = torch.cat([state.mask, mask], dim=1)
    keep = mask.bool()
    logits, _ = runner(
        keep, state.cache, input_ids=ids, attention_mask=full, position_ids=positions, use_cache=False, **extras
    )
    targets = torch.full(ids.shape, -1, dtype=torch.long)
    for row, (b, k) in enumerate(rest):
        cont = batch[b].continuations[k]
        targets[row, : len(cont) - 1] = torch.tensor(cont[1:])
    flat = targets.to(runner.device)[keep]
    lps = logits.float().log_softmax(-1)
    token_lp = lps.gather(-1, flat[:, None])[:, 0]
    token_greedy = lps.argmax(-1) == flat
    counts = mask.sum(-1).tolist()
    for (b, k), lp, g in zip(rest, torch.split(token_lp, counts), torch.split(token_greedy, counts), strict=True):
        logprobs[b][k] += float(lp.sum())
        greedy[b][k] = greedy[b][k] and bool(g.all())
