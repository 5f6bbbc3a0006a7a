"""Which image requests share a forward pass, and how they are cut into batches.

The costly part of an image request is its image: the vision tower, and the
hundreds of image tokens it feeds the language model. Requests whose token
sequences start the same way *through their last image token* (with the same
images: equal token ids are not equal pictures, so digests are compared too)
run that prefix once (:func:`plan_groups`): the options of one item always do,
and so do an item's variants that change only the options or the text after
the image. The vision tower then runs once per distinct image per call, not
once per option or per variant. Text-only requests share prefixes of at least
:data:`MIN_SHARED_PREFIX` tokens (the chat template and instructions).

A model that reads its prompt bidirectionally (PaliGemma) shares only whole
contexts: an image token's keys and values there depend on the text after it.

Batches (:func:`plan_batches`) hold groups of one kind (whole contexts or
shared prefixes; with images or without, so image tensors line up with rows),
fill a token budget, and keep a group in one batch unless it alone is over the
budget (its prefix then runs once per batch it spans).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .vision_encoding import VisionEncoded

MIN_SHARED_PREFIX = 8
"""Text-only requests share a prefix only when it is at least this long (as the text adapter does)."""


@dataclass
class Group:
    """Requests that run one prefix: a whole context (``whole``) or the tokens they share."""

    prefix: int
    members: list[VisionEncoded]
    whole: bool

    @property
    def kind(self) -> tuple[bool, bool]:
        return self.whole, bool(self.members[0].digests)

    def cost(self, member: VisionEncoded) -> int:
        """Tokens a member adds to a batch beyond its group's prefix (its own context tokens and options)."""
        own = len(member.context) - self.prefix
        multi = any(len(c) > 1 for c in member.continuations)
        return own * (1 + (len(member.continuations) if multi else 0)) + sum(len(c) for c in member.continuations)


def _common(a: Sequence[int], b: Sequence[int]) -> int:
    count = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        count += 1
    return count


def _needed(units: Sequence[list[VisionEncoded]]) -> int:
    """Tokens a shared prefix must cover: every image token, or the text minimum."""
    if units[0][0].digests:
        return max(unit[0].image_end for unit in units)
    return MIN_SHARED_PREFIX


def _close(units: list[list[VisionEncoded]], groups: list[Group]) -> None:
    """Turn a run of units (identical contexts each) into one shared group, or whole groups."""
    if len(units) > 1:
        first, last = units[0][0].context, units[-1][0].context
        shared = min(_common(first, last), min(len(u[0].context) for u in units) - 1)
        if shared >= _needed(units) and shared > 0:
            groups.append(Group(shared, [e for u in units for e in u], whole=False))
            return
    groups.extend(Group(len(u[0].context), list(u), whole=True) for u in units)


def plan_groups(encoded: Sequence[VisionEncoded], *, whole_only: bool = False) -> list[Group]:
    """Requests grouped by the prefix they can share (see the module docstring)."""
    units: dict[tuple[tuple[str, ...], tuple[int, ...]], list[VisionEncoded]] = {}
    for enc in encoded:
        units.setdefault((enc.digests, tuple(enc.context)), []).append(enc)
    ordered = [units[key] for key in sorted(units)]
    groups: list[Group] = []
    run: list[list[VisionEncoded]] = []
    for unit in ordered:
        head = unit[0]
        if run and not whole_only and run[0][0].digests == head.digests:
            need = max(_needed([run[0]]), _needed([unit]))
            if _common(run[0][0].context, head.context) >= need:
                run.append(unit)
                continue
        if run:
            _close(run, groups)
        run = [unit]
    if run:
        _close(run, groups)
    return groups


def plan_batches(
    groups: Sequence[Group], *, budget: int, max_rows: int, alone_from: int | None = None
) -> list[list[tuple[Group, list[VisionEncoded]]]]:
    """Batches of ``(group, members)``: one kind per batch, within ``budget`` tokens and ``max_rows`` rows.

    ``alone_from``: a request at least this long runs in a batch of its own (a sliding-window
    model, where padding between a prefix and its continuation would move the window).
    """
    ordered = sorted(groups, key=lambda g: (g.kind, -g.prefix, -len(g.members)))
    batches: list[list[tuple[Group, list[VisionEncoded]]]] = []
    current: list[tuple[Group, list[VisionEncoded]]] = []
    used = rows = 0
    for group in ordered:
        for member in sorted(group.members, key=lambda e: -e.length):
            alone = alone_from is not None and member.length >= alone_from
            fresh = not current or current[-1][0] is not group
            cost = group.cost(member) + (group.prefix if fresh else 0)
            full = used + cost > budget or rows >= max_rows or current[0][0].kind != group.kind if current else False
            if current and (full or alone or _alone(current, alone_from)):
                batches.append(current)
                current, used, rows, fresh = [], 0, 0, True
                cost = group.cost(member) + group.prefix
            if fresh:
                current.append((group, []))
            current[-1][1].append(member)
            used += cost
            rows += 1
    if current:
        batches.append(current)
    return batches


def _alone(current: list[tuple[Group, list[VisionEncoded]]], alone_from: int | None) -> bool:
    return alone_from is not None and any(m.length >= alone_from for _, members in current for m in members)
