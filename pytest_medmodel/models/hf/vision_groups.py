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

Batches (:func:`plan_batches`) hold groups of one kind: whole contexts or
shared prefixes, and one number of images per row. The second is for Mllama:
its processor pads every row to the batch's largest image count, and text
before an image attends uniformly to all image slots, padding included, so a
one-image prompt next to a two-image one would read differently than alone.
Batches fill a token budget and keep a group in one batch unless it alone is
over the budget (its prefix then runs once per batch it spans). A model with a
sliding attention window gets narrower batches where padding would move it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

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
    def kind(self) -> tuple[bool, int]:
        """Groups batched together: whole contexts or shared prefixes, and the same number of images."""
        return self.whole, len(self.members[0].digests)

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


@dataclass
class _Filling:
    """The batch being filled: its members by group, tokens used, rows, and widest prefix, own part and option."""

    items: list[tuple[Group, list[VisionEncoded]]] = field(default_factory=list)
    used: int = 0
    widths: tuple[int, int, int] = (0, 0, 0)

    @property
    def rows(self) -> int:
        return sum(len(members) for _, members in self.items)

    def _widths(self, group: Group, member: VisionEncoded) -> tuple[int, int, int]:
        prefix, own, option = self.widths
        longest = max(len(c) for c in member.continuations)
        return max(prefix, group.prefix), max(own, len(member.context) - group.prefix), max(option, longest)

    def fits(self, group: Group, member: VisionEncoded, budget: int, max_rows: int, window: int | None) -> bool:
        if not self.items:
            return True
        fresh = self.items[-1][0] is not group
        cost = group.cost(member) + (group.prefix if fresh else 0)
        if self.items[0][0].kind != group.kind or self.rows >= max_rows or self.used + cost > budget:
            return False
        # A sliding window counts padded positions: left padding between a shared prefix and a row's own
        # tokens would move it, unless no row is as long as the window (whole contexts have no such gap).
        return window is None or group.whole or sum(self._widths(group, member)) < window

    def holds(
        self, group: Group, members: Sequence[VisionEncoded], budget: int, max_rows: int, window: int | None
    ) -> bool:
        """Whether every member of ``group`` fits in this batch after what it holds (tried on a copy)."""
        trial = _Filling([(g, list(m)) for g, m in self.items], self.used, self.widths)
        for member in members:
            if not trial.fits(group, member, budget, max_rows, window):
                return False
            trial.add(group, member)
        return True

    def add(self, group: Group, member: VisionEncoded) -> None:
        fresh = not self.items or self.items[-1][0] is not group
        if fresh:
            self.items.append((group, []))
        self.items[-1][1].append(member)
        self.used += group.cost(member) + (group.prefix if fresh else 0)
        self.widths = self._widths(group, member)


def plan_batches(
    groups: Sequence[Group], *, budget: int, max_rows: int, window: int | None = None
) -> list[list[tuple[Group, list[VisionEncoded]]]]:
    """Batches of ``(group, members)``: one kind per batch, within ``budget`` tokens and ``max_rows`` rows.

    ``window``: the model's sliding attention window, if it has one (see :meth:`_Filling.fits`).
    """
    ordered = sorted(groups, key=lambda g: (g.kind, -g.prefix, -len(g.members)))
    batches: list[list[tuple[Group, list[VisionEncoded]]]] = []
    filling = _Filling()
    for group in ordered:
        members = sorted(group.members, key=lambda e: -e.length)
        if filling.items and not filling.holds(group, members, budget, max_rows, window):
            whole = _Filling()
            if whole.holds(group, members, budget, max_rows, window):  # a fresh batch keeps it in one piece
                batches.append(filling.items)
                filling = _Filling()
        for member in members:
            if not filling.fits(group, member, budget, max_rows, window):
                batches.append(filling.items)
                filling = _Filling()
            filling.add(group, member)
    if filling.items:
        batches.append(filling.items)
    return batches
