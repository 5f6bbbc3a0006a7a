"""Generation scoring: the model writes its answer (after reasoning, if asked), and the answer is read out.

``scoring: {method: generate}`` asks for greedy text up to ``max_new_tokens`` or
a ``stop`` string, then reads the answer with :mod:`.extract`: the option's label
for multiple choice (``extract: letter``, the default), the word for yes/no(/maybe)
tasks (``word``), or ``option_text``, ``number``, ``regex`` (with ``pattern``).
``reasoning: true`` asks the model to think step by step and end with
"Answer: ..." (zero-shot chain of thought, Kojima et al. 2022), with a larger
default token limit.

A text that does not commit to exactly one option is invalid: wrong, shown as
``(invalid)``, counted by the ``invalid`` metric, never guessed. The generated
text goes into the baseline (first :data:`~pytest_medmodel.records.TEXT_LIMIT`
characters) so a reviewer sees what the model wrote before and after.
Generation has no probabilities: calibration gates skip these suites with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from ..metrics.base import metric
from ..models.base import GENERATE, GenerationRequest, GenerationResult, Result
from ..records import INVALID, ItemScore
from ..suite.schema import Param
from ..suite.types import FIXED_CHOICES, OPEN, Suite, Variant
from .base import register_scorer
from .choice import meta
from .extract import (
    EXTRACTORS,
    PATTERN_SECONDS,
    Extracted,
    PatternTimeout,
    compile_pattern,
    extract_letter,
    extract_number,
    extract_option_text,
    extract_pattern,
    extract_word,
    open_answer,
    token_f1,
)
from .extract import exact_match as matches_exactly
from .fewshot import shots_before
from .prompts import ChatFormatter, prompt_images, render_context

SHORT_LIMIT = 32
"""Default token limit without reasoning: the answer and a few words."""
REASONING_LIMIT = 512
"""Default token limit with reasoning."""
REASONING_PREFIX = "Let's think step by step."
"""Where the model's reasoning starts (Kojima et al. 2022)."""
ASKED = {
    "letter": "the letter of the correct option",
    "number": "the number",
    "regex": "your answer",
    "option_text": "the correct answer",
    "word": "{words}",
    "open": "your answer",
}


SHOWN_OPEN = 80
"""A free-text answer is shown (and kept as the answer) up to this many characters."""


@metric(
    "invalid",
    label="unreadable answers",
    format="percent",
    note="generated answers not read out of the text count wrong",
)
def invalid_answer(entry: Any) -> float:
    """Share of answers that could not be read out of the generated text (counted wrong)."""
    return float(getattr(entry, "shown", None) == INVALID)


SQUAD = "SQuAD normalisation; correct means exact match"


@metric("exact_match", recorded=True, label="exact match", format="percent", note=SQUAD)
def exact_match(entry: Any) -> float | None:
    """Task open: the answer equals a reference after SQuAD normalisation (what ``correct`` means there)."""
    value = entry.values.get("exact_match")
    return None if value is None else float(value)


@metric("f1", recorded=True, label="token F1", note=SQUAD)
def f1(entry: Any) -> float | None:
    """Task open: the best token-overlap F1 of the answer against the references (SQuAD)."""
    value = entry.values.get("f1")
    return None if value is None else float(value)


def extraction(task: str, options: Mapping[str, Any]) -> str:
    """The extraction a suite asked for, or its task's default (``open`` for free-text answers)."""
    if task == OPEN:
        return "open"
    chosen = options.get("extract")
    return str(chosen) if chosen else ("word" if task in FIXED_CHOICES else "letter")


def extractor(suite: Suite) -> str:
    return extraction(suite.task, suite.scoring.options)


@register_scorer
class Generate:
    """Greedy generation, then the answer read out of the text."""

    name = "generate"
    requires = frozenset({GENERATE})
    lists_choices = True
    params: Mapping[str, Param] = {
        "extract": Param((str,), f"one of {', '.join(EXTRACTORS)}"),
        "pattern": Param((str,), "a regular expression; its first group is the answer"),
        "reasoning": Param((bool,), "true or false", False),
        "max_new_tokens": Param((int,), "a positive whole number"),
        "stop": Param((list,), "a list of strings that end the answer"),
    }
    metrics: tuple[str, ...] = ("invalid", "exact_match", "f1")

    def lists_choices_for(self, task: str, options: Mapping[str, Any]) -> bool:
        """Labelled options in the default prompt, unless the answer is a word, an option's text or free."""
        return extraction(task, options) in ("letter", "number", "regex")

    def check(self, options: Mapping[str, Any]) -> tuple[str, str, str] | None:
        """(setting, problem, fix) for a combination the parameter types cannot catch."""
        chosen = options.get("extract")
        if chosen is not None and chosen not in EXTRACTORS:
            return "extract", f"'{chosen}' is not a way to read an answer", f"use one of {', '.join(EXTRACTORS)}"
        if chosen == "regex" and not options.get("pattern"):
            return "pattern", "extract: regex needs a pattern", "add pattern: 'Answer: ([A-D])'"
        if options.get("pattern") is not None:
            try:
                compile_pattern(str(options["pattern"]))  # the engine that will run it
            except Exception as exc:  # noqa: BLE001 - regex.error, or a ValueError on odd flags
                return "pattern", f"is not a regular expression ({exc})", "fix the pattern"
        if "max_new_tokens" in options and int(options["max_new_tokens"]) < 1:
            return "max_new_tokens", f"{options['max_new_tokens']} is not positive", "write e.g. 32"
        if any(not isinstance(s, str) or not s for s in options.get("stop") or []):
            return "stop", "holds something that is not a non-empty string", "write e.g. stop: ['\\n']"
        return None

    def request(self, suite: Suite, variant: Variant, chat: ChatFormatter | None) -> GenerationRequest:
        reasoning = bool(suite.scoring.option("reasoning", False))
        prompt = suite.prompt
        if reasoning:
            asked = ASKED[extractor(suite)].format(words=" or ".join(variant.choices))
            template = (variant.template or prompt.template) + (
                f'\nThink step by step, then end with a line "Answer: <{asked}>".'
            )
            prompt = replace(prompt, template=template, answer_prefix=REASONING_PREFIX)
            variant = replace(variant, template=None)
        labelled = self.lists_choices_for(suite.task, suite.scoring.options)
        context = render_context(prompt, variant, chat, shots_before(suite, variant, labelled))
        limit = suite.scoring.option("max_new_tokens") or (REASONING_LIMIT if reasoning else SHORT_LIMIT)
        stop = suite.scoring.option("stop")
        stops = tuple(stop) if stop is not None else (() if reasoning else ("\n\n",))
        images = prompt_images(prompt, variant)
        return GenerationRequest(context, int(limit), stops, meta=meta(suite, variant), images=images)

    def score(self, suite: Suite, variant: Variant, result: Result) -> ItemScore:
        if not isinstance(result, GenerationResult):
            raise TypeError(f"item {variant.key}: expected a GenerationResult, got {type(result).__name__}")
        common: dict[str, Any] = {
            "item_id": variant.item_id,
            "variant": variant.name,
            "key": suite.shown(variant, variant.answer),
            "content_hash": variant.content_hash,
            "text": result.text,
        }
        if suite.is_open:
            return self._open(variant, result.text, common)
        found = self.read(suite, variant, result.text)
        if found.index is None:
            return ItemScore(answer=None, correct=False, shown=INVALID, **common)
        return ItemScore(
            answer=variant.origin[found.index],
            correct=found.index == variant.answer,
            shown=suite.shown(variant, found.index),
            **common,
        )

    def _open(self, variant: Variant, text: str, common: dict[str, Any]) -> ItemScore:
        """A free-text answer: right when it matches a reference exactly (normalised); F1 alongside."""
        said = open_answer(text)
        if not said:
            return ItemScore(
                answer=None, correct=False, shown=INVALID, values={"exact_match": False, "f1": 0.0}, **common
            )
        right = matches_exactly(said, variant.choices)
        values = {"exact_match": right, "f1": round(token_f1(said, variant.choices), 4)}
        shown = said if len(said) <= SHOWN_OPEN else said[:SHOWN_OPEN] + "…"
        return ItemScore(answer=0 if right else None, correct=right, shown=shown, values=values, **common)

    def read(self, suite: Suite, variant: Variant, text: str) -> Extracted:
        """The option ``text`` commits to, by the suite's extraction."""
        how = extractor(suite)
        labels = variant.shown_labels(suite.prompt.labels)
        if how == "letter":
            return extract_letter(text, labels)
        if how == "word":
            return extract_word(text, variant.choices)
        if how == "option_text":
            return extract_option_text(text, variant.choices)
        if how == "number":
            return extract_number(text, variant.choices)
        pattern = str(suite.scoring.option("pattern"))
        try:
            return extract_pattern(text, pattern, labels, variant.choices)
        except TimeoutError:
            raise PatternTimeout(
                f"{suite.name}: extract: regex: the pattern '{pattern}' ran over {PATTERN_SECONDS:g} s on the "
                f"generation of item {variant.item_id}; write a pattern without nested repetition "
                "(e.g. (a+)+ or (a|aa)+)"
            ) from None
