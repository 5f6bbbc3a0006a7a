"""Atomic edits of an item's question, the search space of ``--medmodel-search``.

An edit is small and local (one letter slip in one word, one word's case, one
doubled space, one distracting sentence, the options rotated), so a list of
edits is a change whose size is its length. Hypothesis draws lists of them; the
smallest flipping list is the report.
"""

from __future__ import annotations

import difflib
import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..perturb.base import PERTURBATIONS, STRENGTH_LEVELS, sees_suite
from ..perturb.text import DISTRACTING_SENTENCES, keyboard_neighbours
from ..suite.types import PerturbationUse, Variant

TYPO_KINDS = ("drop", "double", "swap", "neighbour")


@dataclass(frozen=True, order=True)
class Edit:
    """``kind`` at word ``at`` (or gap, sentence, rotation), with a variant ``arg`` (e.g. which typo).

    A ``perturb`` edit applies the suite's perturbation number ``at`` with seed ``arg``,
    at strength ``level`` (1 mildest .. :data:`~..perturb.base.STRENGTH_LEVELS`) when the
    perturbation has a strength, else (level 0) with the settings the suite gives it.
    """

    kind: str
    at: int
    arg: int = 0
    level: int = 0

    def describe(self, words: Sequence[str], perturbations: Sequence[PerturbationUse] = ()) -> str:
        word = words[self.at % len(words)] if words else ""
        if self.kind == "typo":
            return f"typo ({TYPO_KINDS[self.arg % len(TYPO_KINDS)]}) in '{word}'"
        if self.kind == "case":
            return f"case flipped in '{word}'"
        if self.kind == "space":
            return f"doubled space after '{word}'"
        if self.kind == "sentence":
            return "distracting sentence before the question"
        if self.kind == "perturb":
            if not perturbations:
                return f"perturbation #{self.at + 1} of the suite, seed {self.arg}"
            use = perturbations[self.at % len(perturbations)]
            params = _params(use, self.level)
            shown = ", ".join(f"{k}={v}" for k, v in sorted(params.items()) if not isinstance(v, (list, tuple)))
            return f"{use.label}{f' ({shown})' if shown else ''}, seed {self.arg}"
        return f"options rotated by {self.at}"

    def to_json(self) -> list[Any]:
        return [self.kind, self.at, self.arg, self.level]


def searchable(perturbations: Sequence[PerturbationUse]) -> list[PerturbationUse]:
    """The suite's perturbations the search may compose: not the ablations (taking the image away is
    meant to change the answer) and not those that read the suite's other items (``hflip``, which
    may change the right answer itself)."""
    out = []
    for use in perturbations:
        entry = PERTURBATIONS.get(use.name)
        if not entry.ablation and not sees_suite(entry.factory(**use.params)):
            out.append(use)
    return out


def _params(use: PerturbationUse, level: int) -> dict[str, Any]:
    """The perturbation's settings at ``level`` (0: as the suite gives them)."""
    params = dict(use.params)
    strength = PERTURBATIONS.get(use.name).strength
    if strength is not None and level > 0:
        params[strength.param] = strength.value(level)
    return params


def _typo(word: str, kind: int) -> str:
    letters = [i for i, c in enumerate(word) if c.isalpha()]
    if not letters:
        return word
    i = letters[len(letters) // 2]
    name = TYPO_KINDS[kind % len(TYPO_KINDS)]
    if name == "drop" and len(letters) > 1:
        return word[:i] + word[i + 1 :]
    if name == "double":
        return word[:i] + word[i] + word[i:]
    if name == "swap" and i + 1 < len(word):
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    near = keyboard_neighbours(word[i])[0]
    return word[:i] + (near.upper() if word[i].isupper() else near) + word[i + 1 :]


def apply_edits(variant: Variant, edits: Sequence[Edit], perturbations: Sequence[PerturbationUse] = ()) -> Variant:
    """The variant with ``edits`` applied in a canonical order (so a list and its permutations agree).

    ``perturb`` edits apply the suite's own perturbation number ``at`` (registered ones
    included, with the settings the suite gives them, its strength set by the edit's
    level) with seed ``arg``, after the word-level edits; one that makes several
    variants contributes variant ``arg % n``.
    """
    words = variant.question.split(" ")
    gaps: set[int] = set()
    prefix = ""
    out = variant
    for edit in sorted(set(edits)):
        at = edit.at % max(1, len(words))
        if edit.kind == "typo":
            words[at] = _typo(words[at], edit.arg)
        elif edit.kind == "case":
            words[at] = words[at].swapcase()
        elif edit.kind == "space":
            gaps.add(at)
        elif edit.kind == "sentence":
            prefix = DISTRACTING_SENTENCES[edit.at % len(DISTRACTING_SENTENCES)] + " "
        elif edit.kind == "rotate" and len(variant.choices) > 1:
            shift = edit.at % len(variant.choices) or 1
            out = out.reordered([(i + shift) % len(variant.choices) for i in range(len(variant.choices))])
    question = prefix + "".join(w + ("  " if i in gaps and i < len(words) - 1 else " ") for i, w in enumerate(words))
    out = replace(out, question=question[:-1])
    for edit in sorted(e for e in set(edits) if e.kind == "perturb" and perturbations):
        use = perturbations[edit.at % len(perturbations)]
        made = PERTURBATIONS.get(use.name).factory(**_params(use, edit.level))(out, random.Random(edit.arg))
        out = made if isinstance(made, Variant) else list(made)[edit.arg % len(made)]
    return replace(out, name="search", family="search")


def edit_strategy(variant: Variant, rotate: bool, perturbations: Sequence[PerturbationUse] = ()) -> Any:
    """Hypothesis strategy: lists of one to four edits of this variant, the suite's ``perturbations`` among them.

    A perturbation with a strength is drawn at a strength level too, so the search
    explores how strong a change must be, not only which and where.
    """
    from hypothesis import strategies as st

    words = max(1, len(variant.question.split(" ")))
    kinds = [
        st.builds(Edit, st.just("typo"), st.integers(0, words - 1), st.integers(0, len(TYPO_KINDS) - 1)),
        st.builds(Edit, st.just("case"), st.integers(0, words - 1)),
        st.builds(Edit, st.just("space"), st.integers(0, words - 1)),
        st.builds(Edit, st.just("sentence"), st.integers(0, len(DISTRACTING_SENTENCES) - 1)),
    ]
    for index, use in enumerate(perturbations):
        levels = st.integers(1, STRENGTH_LEVELS) if PERTURBATIONS.get(use.name).strength else st.just(0)
        kinds.append(st.builds(Edit, st.just("perturb"), st.just(index), st.integers(0, 2**16), levels))
    if rotate:
        kinds.append(st.builds(Edit, st.just("rotate"), st.integers(1, max(1, len(variant.choices) - 1))))
    return st.lists(st.one_of(kinds), min_size=1, max_size=4, unique=True)


def readable_diff(before: str, after: str) -> str:
    """A one-line word diff, ``[-old-] {+new+}``.

    In changed words, extra spaces show as ``␣``, tabs as ``⇥`` and line breaks as ``⏎``.
    """
    import re

    def shown(token: str) -> str:
        word = token.rstrip()
        gap = token[len(word) :]
        shown_gap = (gap[1:] if gap.startswith(" ") else gap).replace(" ", "␣").replace("\t", "⇥")
        return word + shown_gap.replace("\n", "⏎")

    out = []
    for op in difflib.ndiff(re.findall(r"\S+\s*", before), re.findall(r"\S+\s*", after)):
        if op.startswith("- "):
            out.append(f"[-{shown(op[2:])}-]")
        elif op.startswith("+ "):
            out.append(f"{{+{shown(op[2:])}+}}")
        elif op.startswith("  "):
            out.append(op[2:].strip())
    return " ".join(out)
