"""Reading the answer out of generated text: a label, an option's text, a fixed word, a number, or a pattern.

The rule throughout: an answer is taken only when the text commits to exactly
one option. A refusal, a hedge between two options ("A or C"), a text that
names several options without saying which is the answer, or one that names
none is *invalid*: counted wrong, shown as ``(invalid)``, never guessed.

Where the text states its answer ("Answer: C", "the correct option is (C)",
"**Final answer:** C"), the last such statement counts, because reasoning comes
first and the answer last. Without a statement, a text that starts with the
answer ("C. Metformin", "yes, because ...") counts. For option texts and fixed
words, a text that mentions exactly one of them counts too.

A suite's own pattern (``extract: regex``) runs on the third-party ``regex``
engine, not ``re``: it refuses to backtrack exponentially on many nested
repetitions (``^(a+)+$`` on 33 characters took minutes with ``re``), and where
it still would, its ``timeout`` stops the match after :data:`PATTERN_SECONDS`
and the suite's shard fails with :class:`PatternTimeout` instead of hanging the
run (``--medmodel-timeout`` bounds only the model's calls).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

EXTRACTORS = ("letter", "option_text", "word", "number", "regex")
"""How an answer is read: ``letter`` (the option's label), ``option_text`` (the option's text),
``word`` (a fixed-choice word: yes, no, maybe), ``number`` (the option whose number the text
gives), ``regex`` (the suite's ``pattern``; its first group is a label, word or option text)."""

STATEMENT = re.compile(
    r"(?i:(?:answer|(?:correct|right|best)\s+(?:option|choice))(?:\s+(?:is|would\s+be|will\s+be))?\s*[:=\-]?\s*"
    r"|(?:option|choice)\s+(?:is|would\s+be)\s*:?\s*)"
)
"""The words that introduce a stated answer ("Answer: C", "the final answer is", "the best option is");
the answer follows them. A bare "option" is not one: prose discusses options it rejects."""
REFUSAL = re.compile(
    r"(?i)\bI\s*(?:cannot|can't|can\s+not|won't|(?:'m|\s+am)\s+(?:not\s+able|unable)\s+to)"
    r"|\bas\s+an\s+AI\b|\bconsult\s+(?:a|your)\s+(?:doctor|physician|healthcare)"
)
"""Phrases of a refusal: an invalid answer is then reported as refused."""
HEDGE = re.compile(r"^\s*(?:or|and|/|,|&)\s*", re.IGNORECASE)
NUMBER = re.compile(r"[-+]?\d+(?:[.,]\d+)?")


@dataclass(frozen=True)
class Extracted:
    """The option the text commits to (an index into the presented options), or why there is none."""

    index: int | None
    how: str
    """``stated``, ``leading``, ``only mention``, ``pattern``; or, when invalid, the reason."""

    @property
    def valid(self) -> bool:
        return self.index is not None


def invalid(reason: str) -> Extracted:
    return Extracted(None, reason)


def _clean(text: str) -> str:
    """Markdown emphasis and code marks removed, whitespace collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"[*_`#]+", "", text)).strip()


def _normal(text: str) -> str:
    """Lowercase words and numbers only: how option texts are compared."""
    return " ".join(re.findall(r"[a-z0-9]+(?:[.,][0-9]+)?", text.lower()))


def _statements(text: str) -> list[str]:
    """What follows each answer statement, last one first."""
    return [text[m.end() :] for m in reversed(list(STATEMENT.finditer(text)))]


def extract_letter(text: str, labels: Sequence[str]) -> Extracted:
    """The label the text commits to (labels are matched as written, e.g. upper-case ``A``-``D``)."""
    text = _clean(text)
    if not text:
        return invalid("empty")
    alternatives = "|".join(re.escape(label) for label in sorted(labels, key=len, reverse=True))
    label_at_start = re.compile(rf"^[(\[]?({alternatives})(?![A-Za-z0-9])[)\]]?")
    judged = re.compile(
        rf"(?i:option|choice)?\s*[(\[]?({alternatives})[)\]]?\s+is\s+(?i:the\s+)?(?i:correct|right|best)\b"
    )
    stated: list[tuple[int, str, str]] = []  # (where, label, what follows)
    for m in STATEMENT.finditer(text):
        found = label_at_start.match(text[m.end() :])
        if found:
            stated.append((m.start(), found.group(1), text[m.end() + found.end() :]))
    stated += [(m.start(), m.group(1), "") for m in judged.finditer(text)]
    if stated:
        _, label, tail = max(stated, key=lambda s: s[0])  # the last statement: reasoning comes first
        if HEDGE.match(tail) and label_at_start.match(HEDGE.sub("", tail, count=1)):
            return invalid("hedges between options")
        return Extracted(list(labels).index(label), "stated")
    found = label_at_start.match(text)
    if found:
        tail = text[found.end() :]
        if HEDGE.match(tail) and label_at_start.match(HEDGE.sub("", tail, count=1)):
            return invalid("hedges between options")
        return Extracted(list(labels).index(found.group(1)), "leading")
    return invalid("refused" if REFUSAL.search(text) else "no option stated")


def extract_option_text(text: str, choices: Sequence[str]) -> Extracted:
    """The option whose text the answer statement (else the whole text) names, alone."""
    text = _clean(text)
    if not text:
        return invalid("empty")
    statements = _statements(text)
    stated = _named(statements[0].split(".")[0], choices) if statements else []
    if len(stated) == 1:
        return Extracted(stated[0], "stated")
    named = _named(text, choices)
    if len(named) == 1:
        return Extracted(named[0], "only mention")
    if named:
        return invalid("names several options")
    return invalid("refused" if REFUSAL.search(text) else "names no option")


def _named(text: str, choices: Sequence[str]) -> list[int]:
    """Options whose text appears as whole words; an option inside a longer named one does not count."""
    haystack = f" {_normal(text)} "
    found = [i for i, choice in enumerate(choices) if _normal(choice) and f" {_normal(choice)} " in haystack]
    return [
        i for i in found if not any(j != i and f" {_normal(choices[i])} " in f" {_normal(choices[j])} " for j in found)
    ]


def extract_word(text: str, words: Sequence[str]) -> Extracted:
    """A fixed-choice word (``yes``/``no``/``maybe``): stated, leading, or the only one mentioned."""
    text = _clean(text)
    if not text:
        return invalid("empty")
    lowered = [w.lower() for w in words]
    statements = _statements(text)
    first = re.match(r"[A-Za-z]+", statements[0].strip()) if statements else None
    if first and first.group(0).lower() in lowered:
        return Extracted(lowered.index(first.group(0).lower()), "stated")
    first = re.match(r"[A-Za-z]+", text)
    if first and first.group(0).lower() in lowered:
        return Extracted(lowered.index(first.group(0).lower()), "leading")
    mentioned = sorted({lowered.index(w.lower()) for w in re.findall(r"[A-Za-z]+", text) if w.lower() in lowered})
    if len(mentioned) == 1:
        return Extracted(mentioned[0], "only mention")
    if mentioned:
        return invalid("names several options")
    return invalid("refused" if REFUSAL.search(text) else "names no option")


def extract_number(text: str, choices: Sequence[str]) -> Extracted:
    """The option whose (first) number equals the stated number, else the text's last number."""
    text = _clean(text)
    values = [_number(c) for c in choices]
    if not text:
        return invalid("empty")
    statements = _statements(text)
    candidates = NUMBER.findall(statements[0]) if statements else []
    said = candidates[0] if candidates else (NUMBER.findall(text) or [None])[-1]
    if said is None:
        return invalid("refused" if REFUSAL.search(text) else "gives no number")
    value = _number(said)
    matching = [i for i, v in enumerate(values) if v is not None and v == value]
    if len(matching) == 1:
        return Extracted(matching[0], "stated" if candidates else "last number")
    return invalid(f"{said} is no option's number" if not matching else "several options have that number")


def _number(text: str) -> float | None:
    found = NUMBER.search(text)
    return None if found is None else float(found.group(0).replace(",", "."))


PATTERN_SECONDS = 1.0
"""How long a suite's pattern may run on one generation; a sane pattern takes microseconds."""


class PatternTimeout(RuntimeError):
    """A suite's pattern ran over :data:`PATTERN_SECONDS` on a generation (one line: suite, pattern, item)."""


@lru_cache(maxsize=64)
def compile_pattern(pattern: str, flags: int = 0) -> Any:
    """``pattern`` compiled by the ``regex`` engine (``re``'s syntax and flag values); raises ``regex.error``
    when it is not one.

    Imported here, not at the top: only suites with ``extract: regex`` need it.
    """
    import regex

    return regex.compile(pattern, flags)


def extract_pattern(
    text: str,
    pattern: str | re.Pattern[str],
    labels: Sequence[str],
    choices: Sequence[str],
    *,
    seconds: float = PATTERN_SECONDS,
) -> Extracted:
    """The suite's pattern (last match; its first group, or the whole match): a label, or an option's text.

    Raises ``TimeoutError`` when the pattern runs over ``seconds`` on ``text``.
    """
    compiled = compile_pattern(pattern) if isinstance(pattern, str) else compile_pattern(pattern.pattern, pattern.flags)
    matches = list(compiled.finditer(text, timeout=seconds))
    if not matches:
        return invalid("refused" if REFUSAL.search(text) else "pattern not found")
    last = matches[-1]
    said = ((last.group(1) if compiled.groups else last.group(0)) or "").strip()
    if said in labels:
        return Extracted(list(labels).index(said), "pattern")
    named = [i for i, c in enumerate(choices) if _normal(c) == _normal(said)]
    if len(named) == 1:
        return Extracted(named[0], "pattern")
    return invalid(f"pattern matched '{said[:40]}', which is no option")


ARTICLES = re.compile(r"\b(?:a|an|the)\b")


def normalise_answer(text: str) -> str:
    """SQuAD's normalisation: lower case, no punctuation, no articles, single spaces."""
    text = re.sub(r"[^\w\s]", " ", text.lower())
    return " ".join(ARTICLES.sub(" ", text).split())


def open_answer(text: str) -> str:
    """The answer part of a free-text generation: what follows the last answer statement, else the
    first line; up to the end of that line, trailing full stop removed."""
    text = re.sub(r"[*_`]+", "", text).strip()
    statements = list(STATEMENT.finditer(text))
    rest = text[statements[-1].end() :] if statements else text
    line = rest.strip().split("\n")[0].strip()
    return line[:-1].strip() if line.endswith(".") else line


def exact_match(answer: str, references: Sequence[str]) -> bool:
    return any(normalise_answer(answer) == normalise_answer(r) for r in references)


def token_f1(answer: str, references: Sequence[str]) -> float:
    """The best token-overlap F1 against any reference (SQuAD), on normalised words."""
    said = normalise_answer(answer).split()
    best = 0.0
    for reference in references:
        wanted = normalise_answer(reference).split()
        common = sum(min(said.count(w), wanted.count(w)) for w in set(said))
        if not said or not wanted or common == 0:
            continue
        precision, recall = common / len(said), common / len(wanted)
        best = max(best, 2 * precision * recall / (precision + recall))
    return best
