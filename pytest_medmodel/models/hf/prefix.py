"""Prompt prefixes that several requests share, computed once and reused through the KV cache.

Two kinds of sharing, one mechanism. Every prompt of a call shares the chat
template, system prompt and instructions (and few-shot examples); the variants
of one item (options reordered or relabelled, a typo near the end) share much
more: the template *and* the question. Requests are split into groups
(:func:`prefix_groups`), each group's common prefix is run once, and its keys and
values serve every row of the group. A batch may hold rows of several groups:
their prefixes run together in one left-padded forward pass, and each row picks
its group's keys and values, so sharing never shrinks the batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .encoding import Encoded

MIN_SHARED_PREFIX = 8
"""Shorter common prefixes are recomputed per row; the bookkeeping would cost more."""
GROUP_GAIN = 8
"""Requests form a group of their own when they share this many tokens more than the whole call does."""


def _common(a: Sequence[int], b: Sequence[int]) -> int:
    count = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        count += 1
    return count


def prefix_groups(encoded: Sequence[Encoded]) -> list[list[Encoded]]:
    """Split a call into groups that share a long prompt prefix (variants of one item), else one group.

    Contexts are sorted by token ids, and neighbours sharing ``GROUP_GAIN`` tokens
    more than the whole call are grouped; a group is kept only when it saves tokens
    (:func:`_saves`), its rows otherwise run with the call's prefix. Calls without
    such groups (no perturbations) stay one group.
    """
    if len(encoded) < 3:
        return [list(encoded)]
    ordered = sorted(encoded, key=lambda e: e.context)
    overall = min(_common(ordered[0].context, e.context) for e in ordered)
    groups: list[list[Encoded]] = [[ordered[0]]]
    for enc in ordered[1:]:
        if _common(groups[-1][0].context, enc.context) >= overall + GROUP_GAIN:
            groups[-1].append(enc)
        else:
            groups.append([enc])
    kept = [g for g in groups if len(g) > 1 and _saves(g, overall)]
    if not kept:
        return [list(encoded)]
    singles = [e for g in groups if not any(g is k for k in kept) for e in g]
    return kept + ([singles] if singles else [])


def _saves(group: Sequence[Encoded], overall: int) -> bool:
    """Whether running ``group``'s prefix once beats running its rows with the call's prefix.

    A group of k rows sharing s tokens more than the call's common prefix of c
    tokens runs c + s once, then each row's own o_i tokens padded to the longest,
    k max(o); without the group, each row runs s + o_i (the c tokens are shared by
    the whole call anyway, and rows of similar length batch together). So: keep it
    when (k - 1) s > c + sum(max(o) - o_i).
    """
    extra = shared_length(group, 0) - overall
    own = [len(e.context) - overall - extra for e in group]
    return (len(group) - 1) * extra > overall + sum(max(own) - o for o in own)


def shared_length(group: Sequence[Encoded], minimum: int = MIN_SHARED_PREFIX) -> int:
    """Tokens every context of ``group`` shares (each keeps one of its own); 0 when under ``minimum``."""
    if len(group) < 2:
        return 0
    first = group[0].context
    length = min(len(e.context) for e in group) - 1
    for enc in group[1:]:
        length = min(length, _common(first[:length], enc.context))
    return length if length >= minimum else 0


@dataclass
class Prefixes:
    """Keys and values of a batch's group prefixes, left-padded to one width."""

    lengths: list[int]
    mask: Any
    """(groups, width) attention mask: 0 on the left padding."""
    keys_values: list[tuple[Any, Any]]
    """Per layer, (keys, values) of shape (groups, heads, width, head dim)."""

    def for_rows(self, owner: Any, config: Any) -> tuple[Any, Any]:
        """Each row's group's cache (a ``DynamicCache``) and prefix mask; ``owner``: group index per row."""
        from transformers import DynamicCache

        rows = [(k.index_select(0, owner), v.index_select(0, owner)) for k, v in self.keys_values]
        return DynamicCache(rows, config=config), self.mask.index_select(0, owner)


def run_prefixes(
    model: Any, prefixes: Sequence[Sequence[int]], pad_id: int, device: Any, logits_to_keep: bool = True
) -> Prefixes | None:
    """One forward pass over the prefixes; None when the model's cache cannot be reused this way.

    ``logits_to_keep``: the model accepts it; then the vocabulary projection runs on one position per
    prefix instead of every position (nothing here is scored).
    """
    import torch

    width = max(len(p) for p in prefixes)
    ids = torch.full((len(prefixes), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prefixes), width), dtype=torch.long)
    for row, tokens in enumerate(prefixes):
        ids[row, width - len(tokens) :] = torch.tensor(list(tokens))
        mask[row, width - len(tokens) :] = 1
    ids, mask = ids.to(device), mask.to(device)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    kwargs: dict[str, Any] = {"input_ids": ids, "attention_mask": mask, "position_ids": positions, "use_cache": True}
    if logits_to_keep:
        kwargs["logits_to_keep"] = 1
    out = model(**kwargs)
    cache = getattr(out, "cache", None) or getattr(out, "past_key_values", None)
    layers = getattr(cache, "layers", None)
    if not layers or any(type(layer).__name__ != "DynamicLayer" for layer in layers):
        return None  # sliding-window, hybrid or recurrent caches: not worth the risk; run contexts whole
    return Prefixes([len(p) for p in prefixes], mask, [(layer.keys, layer.values) for layer in layers])
