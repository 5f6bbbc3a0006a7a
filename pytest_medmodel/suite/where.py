"""``data.where``: keep only the rows whose columns hold the listed values.

Benchmarks publish their subsets as columns, not files: VQA-RAD's closed
questions are the rows whose answer is yes or no, SLAKE's English half is
``q_lang == "en"``, OmniMedVQA is cut by modality. A suite names the subset
instead of shipping a filtered copy of the data::

    data:
      where: {q_lang: en, answer: [Yes, No]}

A row is kept when every listed column equals its value, or one of its values
(exact, case-sensitive; a number matches the same number written as text, as a
CSV cell holds it). The filter runs before ``limit``, so ``limit: 40`` is the
first 40 kept rows. Which rows are kept shows in the items themselves, and so in
the suite's fingerprint: a filter that keeps other rows is another suite.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

from .schema import Checker, kind

Filter = tuple[tuple[str, tuple[str, ...]], ...]
"""Column -> the accepted values, as text (in the suite's order)."""


def parse_where(checker: Checker, value: Any) -> Filter:
    """The ``data.where`` mapping, checked: each value text or a number, or a non-empty list of them."""
    if value is None:
        return ()
    spec = checker.typed(value, "data.where", (dict,), "a mapping of column to value or list of values")
    if not spec:
        raise checker.error("data.where", "is empty", "name a column and its value, e.g. where: {q_lang: en}")
    out = []
    for column, wanted in spec.items():
        where = f"data.where.{column}"
        values = wanted if isinstance(wanted, list) else [wanted]
        if not values:
            raise checker.error(where, "lists no value", "give the value(s) rows must hold, e.g. [yes, no]")
        out.append((str(column), tuple(_value(checker, where, v) for v in values)))
    return tuple(out)


def _value(checker: Checker, where: str, value: Any) -> str:
    if isinstance(value, bool):  # YAML reads unquoted yes/no/true/false as booleans
        word = "yes" if value else "no"
        raise checker.error(where, f"{value} is a boolean (YAML reads unquoted yes/no as one)", f"quote it: '{word}'")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, (str, int, float)):
        raise checker.error(where, f"expected text or a number, got {kind(value)}", "write e.g. en or [yes, no]")
    return str(value)


def keep_rows(
    checker: Checker, rows: Sequence[Mapping[str, Any]], spec: Filter, source: str
) -> list[Mapping[str, Any]]:
    """The rows every condition of ``spec`` accepts; a column the data lacks, or no row kept, is one line."""
    if not spec or not rows:
        return list(rows)
    columns = set(rows[0])
    for column, _ in spec:
        if column not in columns:
            close = difflib.get_close_matches(column, sorted(columns), n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'?" if close else f"columns are: {', '.join(sorted(columns))}"
            raise checker.error(f"data.where.{column}", f"column '{column}' is not in the data", hint)
    kept = [row for row in rows if all(_cell(row.get(c)) in values for c, values in spec)]
    if not kept:
        shown = ", ".join(f"{c} in {list(v)}" for c, v in spec)
        problem = f"no row of {source} has {shown} ({len(rows)} rows read)"
        raise checker.error("data.where", problem, "check the values against the data (the match is exact)")
    return kept


def _cell(value: Any) -> str | None:
    if isinstance(value, bool) or value is None or isinstance(value, (list, dict, tuple)):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)
