"""Which items the report shows with their pictures, and the thumbnails, within one size budget.

A reviewer looking at a regressed image item wants to see the image; looking at
a perturbation that broke an answer, the picture before and after. The report
therefore carries thumbnails of:

1. every **regressed** item and variant (right in the baseline, wrong now);
2. **broken by an image change**: a variant of an image perturbation that is wrong
   where the item's original is right (taken a family at a time, in turn, so one
   perturbation cannot fill the budget alone);
3. **right without its image**: when ``gate[image_reliance]`` did not pass, the
   ablation variants that kept the original's right answer with the picture gone
   (the items that show the model answering from the text).

Thumbnails are inline ``data:`` URIs, so the page stays one file that fetches
nothing, and each distinct picture is stored once however many items share it.
All suites share one budget (``--medmodel-report-pictures``, 2 MiB of base64 text by default): a
suite gets an equal share of what is left when its turn comes, and what did not
fit is counted and said. This module decides and packs; making a thumbnail
(Pillow) is the caller's, passed in as a function.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..records import ItemScore
from ..suite.types import ORIGINAL

REGRESSED = "regressed"
RELIANCE_GATE = "image_reliance"


@dataclass(frozen=True)
class Picture:
    """One thumbnail as the page shows it."""

    uri: str
    width: int
    height: int


@dataclass(frozen=True)
class PicturedItem:
    """An item shown with pictures: its original's thumbnails and, for a variant, the variant's."""

    key: str
    why: str
    original: tuple[str, ...]
    """Thumbnail ids of the item's own images."""
    variant: tuple[str, ...] | None = None
    """Thumbnail ids of the variant's images (empty: the variant has no image); None for an original."""

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "why": self.why, "original": list(self.original), "variant": _list(self.variant)}


@dataclass
class SuitePictures:
    """A suite's pictured items and the thumbnails they use (by id)."""

    items: list[PicturedItem] = field(default_factory=list)
    images: dict[str, Picture] = field(default_factory=dict)
    left_out: int = 0
    """Items chosen but not shown: the budget was spent, or a picture could not be decoded."""

    @property
    def size(self) -> int:
        return sum(len(p.uri) for p in self.images.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "items": [i.to_json() for i in self.items],
            "images": {k: {"uri": p.uri, "width": p.width, "height": p.height} for k, p in sorted(self.images.items())},
            "left_out": self.left_out,
        }


def chosen_items(
    scores: Mapping[str, ItemScore],
    outcomes: Mapping[str, str],
    image_changes: Sequence[str],
    ablations: Sequence[str],
    reliance_passed: bool,
) -> list[tuple[str, str]]:
    """``(key, why)`` of every item to picture, most important first (see the module's list).

    ``image_changes``: labels of the suite's image perturbations (not ablations); ``ablations``: its
    ablations' labels; ``reliance_passed``: the reliance gate passed (or the suite has none).
    """
    regressed = sorted(key for key, outcome in outcomes.items() if outcome == REGRESSED)
    chosen = dict.fromkeys(regressed, "regressed: right in the baseline, wrong now")
    originals = {s.item_id: s for s in scores.values() if s.variant == ORIGINAL}

    def broken(label: str) -> list[str]:
        return sorted(
            key
            for key, s in scores.items()
            if s.variant == label and not s.correct and (o := originals.get(s.item_id)) is not None and o.correct
        )

    def kept(label: str) -> list[str]:
        return sorted(
            key
            for key, s in scores.items()
            if s.variant == label and s.correct and (o := originals.get(s.item_id)) is not None and o.correct
        )

    for key, label in _in_turn({label: broken(label) for label in image_changes}):
        chosen.setdefault(key, f"wrong after {label}, right without it")
    if not reliance_passed:
        for key, label in _in_turn({label: kept(label) for label in ablations}):
            chosen.setdefault(key, f"still right with the image taken away ({label})")
    return list(chosen.items())


def _in_turn(lists: Mapping[str, list[str]]) -> Iterable[tuple[str, str]]:
    """The first key of every list, then every second, ...: ``(key, label)``."""
    longest = max((len(keys) for keys in lists.values()), default=0)
    for index in range(longest):
        for label, keys in lists.items():
            if index < len(keys):
                yield keys[index], label


@dataclass(frozen=True)
class PicturedFlip:
    """A flip the search found by changing an item's image: the picture before and after."""

    suite: str
    item_id: str
    change: str
    """The edits, as the search's line names them."""
    answer: str
    """The answer the changed item got (the original's was right)."""
    before: tuple[str, ...]
    after: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["before"], data["after"] = list(self.before), list(self.after)
        return data


@dataclass
class SearchPictures:
    """The search's image flips and their thumbnails (by digest), kept for the report."""

    flips: list[PicturedFlip] = field(default_factory=list)
    images: dict[str, Picture] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return sum(len(p.uri) for p in self.images.values())

    def within(self, budget: int) -> SearchPictures:
        """The flips, in order, whose pictures fit in ``budget`` bytes (a picture shared is counted once)."""
        out = SearchPictures()
        for flip in self.flips:
            new = {d: self.images[d] for d in (*flip.before, *flip.after) if d in self.images and d not in out.images}
            if out.size + sum(len(p.uri) for p in new.values()) > budget:
                continue
            out.images.update(new)
            out.flips.append(flip)
        return out

    def to_json(self) -> dict[str, Any]:
        images = {k: {"uri": p.uri, "width": p.width, "height": p.height} for k, p in sorted(self.images.items())}
        return {"flips": [f.to_json() for f in self.flips], "images": images}


ImageIds = tuple[tuple[str, ...], tuple[str, ...] | None]
"""An item's original image digests and, for a variant, the variant's (None for an original)."""


@dataclass
class PictureBudget:
    """What is left of the report's budget for thumbnails, and the thumbnails made so far (shared)."""

    left: int
    """Bytes of base64 text still free for thumbnails."""
    made: dict[str, Picture | None] = field(default_factory=dict)
    """Each digest's thumbnail (None: it could not be decoded), made once for the whole report."""

    def fill(
        self,
        chosen: Sequence[tuple[str, str]],
        images_of: Callable[[str], ImageIds | None],
        make: Callable[[str], Picture | None],
        share: int,
    ) -> SuitePictures:
        """A suite's pictures: the chosen items in order while ``share`` bytes last (and the budget).

        ``images_of``: a key's image digests (None: the key is no longer in the suite);
        ``make``: a digest's thumbnail (None when it cannot be decoded).
        """
        out = SuitePictures()
        allowance = min(share, self.left)
        for key, why in chosen:
            ids = images_of(key)
            if ids is None:
                continue
            original, variant = ids
            needed = [d for d in dict.fromkeys(original + (variant or ())) if d not in out.images]
            if needed and allowance <= 0:  # spent: nothing more is decoded for this suite
                out.left_out += 1
                continue
            for digest in needed:
                if digest not in self.made:
                    self.made[digest] = make(digest)
            pictures = [self.made[d] for d in needed]
            cost = sum(len(p.uri) for p in pictures if p is not None)
            if any(p is None for p in pictures) or cost > allowance:
                out.left_out += 1
                continue
            allowance -= cost
            self.left -= cost
            out.images.update({d: p for d, p in zip(needed, pictures, strict=True) if p is not None})
            out.items.append(PicturedItem(key, why, original, variant))
        return out


def _list(ids: tuple[str, ...] | None) -> list[str] | None:
    return None if ids is None else list(ids)
