"""Answer keys given as option numbers: whole numbers only, counted from 0 or from 1.

The same benchmark is published both ways: MedMCQA's ``cop`` counts from 0 in
the Hugging Face dataset (``openlifescienceai/medmcqa``) and from 1 in the
original release's JSON. Read with the wrong base, every key moves to the next
option, and nothing fails unless some row happens to hold the out-of-range
number. So ``answer_format: index`` (and ``auto`` on numbers) takes the base from
the data: a ``0`` somewhere means counted from 0, the number of options (a ``4``
of four) means counted from 1; data with neither (a small file, a ``limit``) is
refused in one line, and ``index0``/``index1`` state the base outright.

A number is a whole number: a decimal (``1.5``, and ``1.0`` too, which hints at a
column that was averaged or went through floats) is refused, and so is text
(``"2"``), which could as well be an option's own text, except in CSV files,
where every cell is text.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from .schema import Checker
from .types import Item

DETECT = "index"
"""The format whose base is taken from the data."""
BASES = {"index0": 0, "index1": 1}
"""Formats that state their base."""
_WHOLE = re.compile(r"^[+-]?\d+$")


def text_cells(data: Mapping[str, Any]) -> bool:
    """Whether the source stores every cell as text (a CSV or TSV file), so ``"2"`` is how a number is written."""
    return str(data.get("path", "")).lower().endswith((".csv", ".tsv"))


def whole_number(checker: Checker, where: str, value: Any, text: str, text_cells: bool) -> int:
    """The answer cell as a whole number, or one line saying why it is not one."""
    fix = "set data.answer_format to letter or text"
    if isinstance(value, bool) or (isinstance(value, float) and not math.isfinite(value)):
        raise checker.error(where, f"answer '{text}' is not a number", fix)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        problem = f"answer {value!r} is a decimal number, not a whole-number index"
        raise checker.error(where, problem, "store whole numbers (a column read as floats? cast it to int)")
    if isinstance(value, str) and text_cells and _WHOLE.match(text):
        return int(text)
    if isinstance(value, str) and _WHOLE.match(text):
        raise checker.error(where, f"answer '{text}' is text, not a number", "store the index as a number, or " + fix)
    raise checker.error(where, f"answer '{text}' is not a number", fix)


def in_range(checker: Checker, where: str, number: int, choices: int, fmt: str) -> int:
    """The option a number names under ``fmt`` (``index0``, ``index1``; ``index``: 0 up to ``choices``
    inclusive, its base settled later by :func:`settle`)."""
    base = BASES.get(fmt, 0)
    top = choices - 1 + base + (1 if fmt == DETECT else 0)
    if not base <= number <= top:
        counted = {"index0": "counted from 0", "index1": "counted from 1"}.get(fmt, "counted from 0 or 1")
        problem = f"answer index {number} is not among the {choices} choices ({counted})"
        raise checker.error(where, problem, "fix the answer, or set data.answer_format")
    return number - base


def settle(checker: Checker, source: str, column: str, items: Sequence[Item], numbers: Mapping[str, int]) -> list[Item]:
    """``items`` with the keys of ``numbers`` (item id -> the number as written) counted from the base the
    data shows; refused when the data shows neither base, or both."""
    if not numbers:
        return list(items)
    choices = {item.id: len(item.choices) for item in items}
    zero = sorted(i for i, n in numbers.items() if n == 0)
    top = sorted(i for i, n in numbers.items() if n == choices[i])
    where = "data.answer_format"
    if zero and top:
        problem = (
            f"{source}: {column}: item {zero[0]} says 0 and item {top[0]} says {numbers[top[0]]} "
            f"of {choices[top[0]]} options: neither counting from 0 nor from 1 fits both"
        )
        raise checker.error(where, problem, "fix the answers (one of them is off by one)")
    if not zero and not top:
        low, high = min(numbers.values()), max(numbers.values())
        problem = (
            f"{source}: {column}: the answers are {low} to {high} only, so whether they count from 0 or from 1 "
            "cannot be told from the data"
        )
        fix = (
            "set data.answer_format: index0 (counted from 0, as the Hugging Face MedMCQA) or "
            "answer_format: index1 (counted from 1, as MedMCQA's original release)"
        )
        raise checker.error(where, problem, fix)
    base = 1 if top else 0
    return [replace(item, answer=numbers[item.id] - base) if item.id in numbers else item for item in items]
