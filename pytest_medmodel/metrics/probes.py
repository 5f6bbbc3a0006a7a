"""Probe groups: items that are scored together, with chance levels computed from the items.

Papers on medical models found them *below* random on paired probes, so each
figure comes with the level random answers would reach, and falling short of it
is said loudly:

* **set accuracy**: every member of a group right (ProbMed's paired accuracy of a
  question and its adversarial negation; MediConfusion's set accuracy). Chance:
  the product of 1/(number of options) over the members, averaged over groups.
* **confusion rate**: over groups whose members have different right answers, the
  share where the model chose the same option text for all of them (MediConfusion).
  Chance: the probability that independent random picks coincide.
* **yes-ratio and F1** for yes/no items (POPE): the share of valid answers that
  are "yes", and F1 with "yes" as the positive class. An answer that could not be
  scored is invalid and counts as neither "yes" nor "no" (POPE's own parser counts
  anything without "no" as yes). Chance F1: random yes/no at 50%.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..records import ItemScore
from ..suite.types import ORIGINAL

Probes = Mapping[str, Mapping[str, Any]]
"""Per item id: ``group``, ``choices`` (original order) and ``answer`` (the key's index); see Suite.probes()."""


@dataclass(frozen=True)
class GroupStats:
    """A suite's probe-group figures (plain data for the summary and reports)."""

    groups: int
    set_accuracy: float
    set_chance: float
    confusion: float | None
    confusion_chance: float | None
    contrast_groups: int
    """Groups whose members have different right answers (where confusion is defined)."""
    yes_ratio: float | None = None
    f1: float | None = None
    f1_chance: float | None = None
    invalid: int = 0
    precision: float | None = None
    """Of the "yes" answers, the share that were right (chance: the share of items whose key is yes)."""
    recall: float | None = None
    """Of the items whose key is yes, the share answered yes (chance: 50%, random yes/no)."""
    prevalence: float | None = None
    """The share of yes/no items whose key is yes: the precision random answers reach."""

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @property
    def below_chance(self) -> list[str]:
        """Figures worse than random answers would be."""
        out = []
        if self.set_accuracy < self.set_chance:
            out.append(f"set accuracy {self.set_accuracy:.1%} < chance {self.set_chance:.1%}")
        if self.confusion is not None and self.confusion_chance is not None and self.confusion > self.confusion_chance:
            out.append(f"confusion {self.confusion:.1%} > chance {self.confusion_chance:.1%}")
        if self.f1 is not None and self.f1_chance is not None and self.f1 < self.f1_chance:
            out.append(f"yes/no F1 {self.f1:.2f} < chance {self.f1_chance:.2f}")
        return out


def complete_groups(scores: Iterable[ItemScore], probes: Probes) -> dict[str, list[ItemScore]]:
    """Groups whose every member's original was scored, members in item order."""
    by_item = {s.item_id: s for s in scores if s.variant == ORIGINAL}
    members: dict[str, list[str]] = {}
    for item_id, probe in probes.items():
        members.setdefault(str(probe["group"]), []).append(item_id)
    return {g: [by_item[i] for i in ids] for g, ids in members.items() if all(i in by_item for i in ids)}


def group_stats(scores: Iterable[ItemScore], probes: Probes) -> GroupStats | None:
    """The suite's group figures over complete groups (None when no group is complete)."""
    groups = complete_groups(scores, probes)
    if not groups:
        return None
    set_right = [all(s.correct for s in members) for members in groups.values()]
    set_chance = [math.prod(1 / len(probes[s.item_id]["choices"]) for s in members) for members in groups.values()]
    contrast = {g: m for g, m in groups.items() if len({_key_text(probes, s.item_id) for s in m}) > 1}
    confused = [
        len({_chosen_text(probes, s) for s in m}) == 1 and None not in {_chosen_text(probes, s) for s in m}
        for m in contrast.values()
    ]
    coincide = [_coincidence(probes, [s.item_id for s in m]) for m in contrast.values()]
    yes_no = [s for members in groups.values() for s in members if _is_yes_no(probes, s.item_id)]
    yes_ratio, f1, f1_chance, precision, recall, prevalence = _yes_no_figures(probes, yes_no)
    return GroupStats(
        groups=len(groups),
        set_accuracy=sum(set_right) / len(groups),
        set_chance=sum(set_chance) / len(groups),
        confusion=sum(confused) / len(contrast) if contrast else None,
        confusion_chance=sum(coincide) / len(contrast) if contrast else None,
        contrast_groups=len(contrast),
        yes_ratio=yes_ratio,
        f1=f1,
        f1_chance=f1_chance,
        invalid=sum(s.answer is None for members in groups.values() for s in members),
        precision=precision,
        recall=recall,
        prevalence=prevalence,
    )


def _key_text(probes: Probes, item_id: str) -> str:
    probe = probes[item_id]
    return str(probe["choices"][probe["answer"]]).strip().lower()


def _chosen_text(probes: Probes, score: ItemScore) -> str | None:
    if score.answer is None:
        return None
    return str(probes[score.item_id]["choices"][score.answer]).strip().lower()


def _coincidence(probes: Probes, item_ids: list[str]) -> float:
    """Probability that uniform random picks among each member's options give one same text."""
    option_sets = [[str(c).strip().lower() for c in probes[i]["choices"]] for i in item_ids]
    texts = set(option_sets[0])
    return sum(math.prod(opts.count(t) / len(opts) for opts in option_sets) for t in texts)


def _is_yes_no(probes: Probes, item_id: str) -> bool:
    return {str(c).strip().lower() for c in probes[item_id]["choices"]} <= {"yes", "no", "maybe"}


def _yes_no_figures(probes: Probes, scores: list[ItemScore]) -> tuple[float | None, ...]:
    """yes-ratio, F1, chance F1, precision, recall and prevalence (POPE's figures) of the yes/no items."""
    if not scores:
        return None, None, None, None, None, None
    chosen = [_chosen_text(probes, s) for s in scores]
    truth = [_key_text(probes, s.item_id) == "yes" for s in scores]
    valid = [c for c in chosen if c is not None]
    yes_ratio = sum(c == "yes" for c in valid) / len(valid) if valid else None
    true_positive = sum(c == "yes" and t for c, t in zip(chosen, truth, strict=True))
    false_positive = sum(c == "yes" and not t for c, t in zip(chosen, truth, strict=True))
    positives = sum(truth)
    f1 = 2 * true_positive / (2 * true_positive + false_positive + (positives - true_positive)) if positives else None
    prevalence = positives / len(scores)
    f1_chance = 2 * prevalence * 0.5 / (prevalence + 0.5) if positives else None
    said_yes = true_positive + false_positive
    precision = true_positive / said_yes if said_yes else None
    recall = true_positive / positives if positives else None
    return yes_ratio, f1, f1_chance, precision, recall, prevalence
