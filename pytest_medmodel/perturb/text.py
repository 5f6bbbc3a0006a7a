"""Built-in text perturbations: typos, case, whitespace, a distracting sentence, truncation, paraphrases.

Each changes what the model reads but not what the right answer is. They use
only the seeded ``random.Random`` they are handed and data in this file or the
suite: nothing is downloaded (HELM's synonym and dialect perturbations fetch
word lists at run time; these never do).
"""

from __future__ import annotations

import math
import random
import re
import string
from collections.abc import Sequence
from dataclasses import replace

from ..suite.types import Variant
from .base import Perturb, perturbation

TEXT_FIELDS = ("question", "context")

_KEYBOARD = ["qwertyuiop", "asdfghjkl", "zxcvbnm"]


def keyboard_neighbours(letter: str) -> str:
    """Letters next to ``letter`` on a QWERTY keyboard (a plausible slip of the finger)."""
    lower = letter.lower()
    for row_index, row in enumerate(_KEYBOARD):
        column = row.find(lower)
        if column < 0:
            continue
        near = row[max(0, column - 1) : column] + row[column + 1 : column + 2]
        for other in (row_index - 1, row_index + 1):
            if 0 <= other < len(_KEYBOARD):
                near += _KEYBOARD[other][max(0, column - 1) : column + 2]
        return near
    return lower


def _fields(variant: Variant, fields: Sequence[str]) -> list[str]:
    unknown = [f for f in fields if f not in TEXT_FIELDS]
    if unknown:
        raise ValueError(f"fields {unknown} are not text fields; use {list(TEXT_FIELDS)}")
    return [f for f in fields if getattr(variant, f)]


def _with_text(variant: Variant, changes: dict[str, str]) -> Variant:
    """The variant with some of its text fields replaced."""
    return replace(
        variant, question=changes.get("question", variant.question), context=changes.get("context", variant.context)
    )


def _check_fields(fields: Sequence[str]) -> list[str]:
    chosen = [fields] if isinstance(fields, str) else list(fields)
    unknown = [f for f in chosen if f not in TEXT_FIELDS]
    if unknown or not chosen:
        raise ValueError(f"fields {chosen} must be a non-empty list of {list(TEXT_FIELDS)}")
    return chosen


def _rate(rate: float) -> float:
    if not 0 <= float(rate) <= 1:
        raise ValueError(f"rate={rate} must lie in [0, 1]")
    return float(rate)


def typo(text: str, rate: float, rng: random.Random) -> str:
    """Each letter, with probability ``rate``: swapped with the next, dropped, doubled, or a neighbouring key."""
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if not char.isalpha() or rng.random() >= rate:
            out.append(char)
            i += 1
            continue
        kind = rng.randrange(4)
        if kind == 0 and i + 1 < len(text) and text[i + 1].isalpha():
            out.append(text[i + 1] + char)
            i += 2
            continue
        if kind == 1:
            pass  # dropped
        elif kind == 2:
            out.append(char + char)
        else:
            near = rng.choice(keyboard_neighbours(char))
            out.append(near.upper() if char.isupper() else near)
        i += 1
    return "".join(out)


@perturbation("typos", strength=("rate", 0.02, 0.2))
def typos(rate: float = 0.05, fields: Sequence[str] = TEXT_FIELDS) -> Perturb:
    """Character typos: each letter, with probability ``rate``, swapped, dropped, doubled or mistyped."""
    chosen, probability = _check_fields(fields), _rate(rate)

    def apply(variant: Variant, rng: random.Random) -> Variant:
        return _with_text(variant, {f: typo(getattr(variant, f), probability, rng) for f in _fields(variant, chosen)})

    return apply


@perturbation("change_case", strength=("rate", 0.1, 1.0))
def change_case(mode: str = "lower", rate: float = 0.3, fields: Sequence[str] = TEXT_FIELDS) -> Perturb:
    """Case changes: ``lower``, ``upper``, or ``random`` (each letter's case flipped with probability ``rate``)."""
    if mode not in ("lower", "upper", "random"):
        raise ValueError(f"mode={mode!r} must be 'lower', 'upper' or 'random'")
    chosen, probability = _check_fields(fields), _rate(rate)

    def change(text: str, rng: random.Random) -> str:
        if mode == "lower":
            return text.lower()
        if mode == "upper":
            return text.upper()
        return "".join(c.swapcase() if c.isalpha() and rng.random() < probability else c for c in text)

    def apply(variant: Variant, rng: random.Random) -> Variant:
        return _with_text(variant, {f: change(getattr(variant, f), rng) for f in _fields(variant, chosen)})

    return apply


@perturbation("whitespace", strength=("rate", 0.1, 1.0))
def whitespace(rate: float = 0.2, fields: Sequence[str] = TEXT_FIELDS) -> Perturb:
    """Whitespace noise: each space, with probability ``rate``, becomes two or three spaces or a tab."""
    chosen, probability = _check_fields(fields), _rate(rate)

    def noisy(text: str, rng: random.Random) -> str:
        return re.sub(" ", lambda _: rng.choice(["  ", "   ", "\t"]) if rng.random() < probability else " ", text)

    def apply(variant: Variant, rng: random.Random) -> Variant:
        return _with_text(variant, {f: noisy(getattr(variant, f), rng) for f in _fields(variant, chosen)})

    return apply


DISTRACTING_SENTENCES = (
    "The clinic's waiting room was being repainted that week.",
    "A medical student observed the consultation.",
    "The appointment had been rescheduled once because of a train strike.",
    "The hospital cafeteria changed its menu on the same day.",
    "The patient's neighbour had recently adopted a cat.",
    "The ward's computers were updated overnight.",
    "It was raining heavily when the patient arrived.",
    "The nurse on duty had just returned from annual leave.",
    "The consultation room had a new examination couch.",
    "A fire drill was held in the building later that afternoon.",
    "The parking lot next to the clinic was full.",
    "The patient's cousin works as a pharmacist in another city.",
)
"""Irrelevant but plausible sentences from a clinical setting (written for this project)."""


@perturbation("distracting_sentence")
def distracting_sentence(where: str = "start", sentences: Sequence[str] = DISTRACTING_SENTENCES) -> Perturb:
    """An irrelevant but plausible clinical sentence, seeded from a list, before the question (``start``).

    With ``where: context`` it goes at a seeded sentence boundary of the item's
    context instead (items without a context get it before the question).
    """
    if where not in ("start", "context"):
        raise ValueError(f"where={where!r} must be 'start' or 'context'")
    pool = [str(s).strip() for s in sentences if str(s).strip()]
    if not pool:
        raise ValueError("sentences must hold at least one sentence")

    def apply(variant: Variant, rng: random.Random) -> Variant:
        sentence = rng.choice(pool)
        if where == "context" and variant.context:
            parts = re.split(r"(?<=[.!?])\s+", variant.context)
            at = rng.randint(0, len(parts))
            return replace(variant, context=" ".join(parts[:at] + [sentence] + parts[at:]))
        return replace(variant, question=f"{sentence} {variant.question}")

    return apply


@perturbation("truncate", strength=("fraction", 0.8, 0.2))
def truncate(fraction: float = 0.5, field: str = "context") -> Perturb:
    """Keep only the first ``fraction`` of the words of the context (or the question): a truncated case."""
    if not 0 < float(fraction) <= 1:
        raise ValueError(f"fraction={fraction} must lie in (0, 1]")
    if field not in TEXT_FIELDS:
        raise ValueError(f"field={field!r} must be one of {list(TEXT_FIELDS)}")

    def apply(variant: Variant, rng: random.Random) -> Variant:
        text = getattr(variant, field)
        if not text:
            return variant
        words = text.split()
        kept = " ".join(words[: max(1, math.ceil(float(fraction) * len(words)))])
        return _with_text(variant, {field: kept})

    return apply


@perturbation("paraphrase_instructions")
def paraphrase_instructions(templates: Sequence[str] = ()) -> Perturb:
    """The suite's prompt template replaced by each of ``templates`` in turn (one variant each).

    MM-BigBench-style instruction instability: the same items under several
    wordings of the instruction. Each template uses the suite's placeholders
    (``{question}``, ``{context}``, ``{choices}``, ``{labels}``).
    """
    chosen = [str(t) for t in templates]
    if not chosen:
        raise ValueError("templates must list at least one template, e.g. ['Q: {question}\\n{choices}\\nA:']")
    for template in chosen:
        fields = {name for _, name, _, _ in string.Formatter().parse(template) if name}
        unknown = fields - {"question", "context", "choices", "labels"}
        if unknown or "question" not in fields:
            raise ValueError(f"template {template!r} must use {{question}} and only the suite's placeholders")

    def apply(variant: Variant, rng: random.Random) -> list[Variant]:
        return [replace(variant, template=template) for template in chosen]

    return apply


@perturbation("few_shot")
def few_shot(k: int = 0) -> Perturb:
    """The item with ``k`` solved examples before it instead of the suite's ``few_shot.k``.

    A sweep over k is one entry per value (``[{name: few_shot, id: k0, k: 0}, {name: few_shot,
    id: k5, k: 5}]``), each its own gated variant; the examples come from the suite's
    ``few_shot:`` pool, chosen as it says (:mod:`pytest_medmodel.scoring.fewshot`).
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise ValueError(f"k must be a whole number of examples (0 or more), got {k!r}")

    def apply(variant: Variant, rng: random.Random) -> Variant:
        return replace(variant, shots=k)

    return apply
