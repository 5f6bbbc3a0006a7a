"""Robustness of one suite's answers under each perturbation: per-item outcomes and suite figures.

For every item and every perturbation *family* (the variants one perturbation
made: one for ``shuffle_choices``, one per rotation for ``rotate_choices``):

* **correct under the family**: every variant of the family is right (for a
  rotation family, with the original that is circular evaluation);
* **consistent**: every variant chose the same *option content* as the original
  (answers are indices into the original choices, so a reordering or a new label
  scheme does not count as a change; an invalid answer or the added distractor does);
* **worst case**: the original and every variant are right (HELM's aggregate).

``robustness`` is the share of the original's right answers that survive the
perturbation beyond what guessing would keep: ``(P(right under it | right
originally) - chance) / (1 - chance)``. It is 1 when nothing is lost, 0 when the
perturbation leaves only chance, and, unlike ChEF's relative robustness (which
divides by accuracy minus chance), it stays defined for a model near chance as
long as one original answer is right.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..records import ItemScore
from ..suite.types import ORIGINAL


def family_of(name: str, labels: Sequence[str]) -> str | None:
    """The perturbation label a variant name belongs to: ``shuffle`` -> ``shuffle``, ``rotate2`` -> ``rotate``."""
    if name == ORIGINAL:
        return None
    for label in sorted(labels, key=len, reverse=True):
        if name == label or (name.startswith(label) and name[len(label) :].isdigit()):
            return label
    return None


@dataclass(frozen=True)
class ItemRobustness:
    original_correct: bool
    correct: bool
    """Every variant of the family right."""
    consistent: bool
    """Every variant chose the original's option (by content)."""


def item_robustness(scores: Iterable[ItemScore], family: str, labels: Sequence[str]) -> dict[str, ItemRobustness]:
    """Per item id, for items whose original and at least one variant of ``family`` were scored."""
    originals: dict[str, ItemScore] = {}
    variants: dict[str, list[ItemScore]] = {}
    for score in scores:
        if score.variant == ORIGINAL:
            originals[score.item_id] = score
        elif family_of(score.variant, labels) == family:
            variants.setdefault(score.item_id, []).append(score)
    out = {}
    for item_id, group in variants.items():
        original = originals.get(item_id)
        if original is None:
            continue
        same = original.answer is not None and all(v.answer == original.answer for v in group)
        out[item_id] = ItemRobustness(original.correct, all(v.correct for v in group), same)
    return out


@dataclass(frozen=True)
class FamilyStats:
    """One perturbation's figures on one suite (plain data for the summary and reports)."""

    family: str
    n: int
    original_accuracy: float
    accuracy: float
    consistency: float
    worst_case: float
    robustness: float | None
    chance: float

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FamilyStats:
        return cls(**data)


def family_stats(scores: Iterable[ItemScore], labels: Sequence[str], chance: Mapping[str, float]) -> list[FamilyStats]:
    """One :class:`FamilyStats` per perturbation label that has scored variants, in the suite's order."""
    scores = list(scores)
    out = []
    for label in labels:
        items = item_robustness(scores, label, labels)
        if not items:
            continue
        n = len(items)
        right = [r for r in items.values() if r.original_correct]
        mean_chance = sum(chance.get(i, 0.0) for i in items) / n
        kept = sum(r.correct for r in right) / len(right) if right else None
        robust = None if kept is None or mean_chance >= 1 else (kept - mean_chance) / (1 - mean_chance)
        out.append(
            FamilyStats(
                family=label,
                n=n,
                original_accuracy=len(right) / n,
                accuracy=sum(r.correct for r in items.values()) / n,
                consistency=sum(r.consistent for r in items.values()) / n,
                worst_case=sum(r.correct and r.original_correct for r in items.values()) / n,
                robustness=robust,
                chance=mean_chance,
            )
        )
    return out
