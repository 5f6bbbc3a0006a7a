"""``data.derive``: columns computed from a row's own cells, for benchmarks that pack two facts into one.

ProbMed writes a question's category and its role in one cell (``qa_type``:
``modality_gt``, ``modality_hallu``, ``entity_gt_2``, ``abnormality``) and scores
all the questions of one image and one category together, so neither the
category (a tag) nor the scoring unit (a probe group) is a column of its own.
Rather than a converted copy of the data, the suite names the columns it needs::

    data:
      derive:
        category: {from: qa_type, match: "^(modality|body_part|abnormality|entity|grounding)"}
        probe: {template: "{id}/{category}"}
      fields: {group: probe, tags: [image_type, category]}

``match`` keeps the first group of a regular expression matched at the start of
the cell (the whole match when it has no group); a cell it does not match is an
error naming the row, never an empty value. ``template`` joins cells, each
``{column}`` replaced by that cell's text. Columns are computed in the order
written, so a template can use one derived before it, and before ``where``, so
a filter can use them too. The pattern runs on the ``regex`` engine with a time
limit per cell, as ``extract: regex`` does, since a pattern like ``(a|aa)+``
could otherwise stall collection on a long cell. The derived values shape the
items (their tags, groups, answers), and so the suite's fingerprint.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .schema import Checker, KeyTable, kind, template_fields

KEY = "data.derive"
PATTERN_SECONDS = 1.0
"""How long a pattern may run on one cell; a sane one takes microseconds."""
DERIVE_KEYS: KeyTable = {
    "from": ((str,), "the column the pattern reads"),
    "match": ((str,), "a regular expression matched at the start of the cell; its first group is kept"),
    "template": ((str,), "text with {column} placeholders, e.g. '{id}/{category}'"),
}


@dataclass(frozen=True)
class Derived:
    """One derived column: a pattern on another column, or a template over several."""

    name: str
    source: str | None = None
    """``from``: the column ``pattern`` reads."""
    pattern: Any = None
    """The compiled ``match`` (a ``regex`` pattern), with ``source``."""
    template: str | None = None
    """``template``: the text, each ``{column}`` replaced by its cell."""
    needs: tuple[str, ...] = ()
    """The columns the value is made from."""


def parse_derive(checker: Checker, value: Any) -> tuple[Derived, ...]:
    """The ``data.derive`` mapping, checked: each entry either ``from`` and ``match``, or ``template``."""
    if value is None:
        return ()
    spec = checker.typed(value, KEY, (dict,), "a mapping of new column to {from, match} or {template}")
    if not spec:
        raise checker.error(KEY, "is empty", "name a column, e.g. derive: {category: {from: qa_type, match: ...}}")
    return tuple(_entry(checker, str(name), entry) for name, entry in spec.items())


def _entry(checker: Checker, name: str, entry: Any) -> Derived:
    where = f"{KEY}.{name}"
    checker.mapping(entry, where, DERIVE_KEYS)
    if "template" in entry:
        if "from" in entry or "match" in entry:
            raise checker.error(where, "has both template and from/match", "keep one way of making the column")
        try:
            needs = tuple(sorted(template_fields(entry["template"])))
        except ValueError as exc:
            raise checker.error(
                f"{where}.template", f"is not a template ({exc})", "write {{ and }} for braces"
            ) from None
        if not needs or any(not n or not n.isidentifier() for n in needs):
            problem = "names no column" if not needs else "has an empty or unusable {placeholder}"
            raise checker.error(f"{where}.template", problem, "write column names in braces, e.g. '{id}/{category}'")
        return Derived(name, template=entry["template"], needs=needs)
    if "from" not in entry or "match" not in entry:
        fix = "write {from: <column>, match: <pattern>} or {template: '{a}/{b}'}"
        raise checker.error(where, "needs from and match, or a template", fix)
    import regex  # only suites that derive columns need it

    try:
        pattern = regex.compile(entry["match"])
    except regex.error as exc:
        raise checker.error(f"{where}.match", f"is not a regular expression ({exc})", "fix the pattern") from None
    return Derived(name, source=entry["from"], pattern=pattern, needs=(entry["from"],))


def derive_rows(
    checker: Checker, rows: list[dict[str, Any]], derived: Sequence[Derived], source: str
) -> list[dict[str, Any]]:
    """The rows with each derived column added, in order; an unknown column or an unmatched cell is one line."""
    if not derived or not rows:
        return rows
    columns = {column for row in rows for column in row}
    out = [dict(row) for row in rows]
    for column in derived:
        where = f"{KEY}.{column.name}"
        if column.name in columns:
            problem = f"{source} already has a column '{column.name}'"
            raise checker.error(where, problem, "give the derived column another name")
        absent = [n for n in column.needs if n not in columns]
        if absent:
            problem = f"column '{absent[0]}' is not in the data"
            raise checker.error(where, problem, f"columns are: {', '.join(sorted(columns))}")
        for number, row in enumerate(out, start=1):
            row[column.name] = _value(checker, column, row, f"{where}: row {number} of {source}")
        columns.add(column.name)
    return out


def _value(checker: Checker, column: Derived, row: Mapping[str, Any], where: str) -> str:
    if column.template is not None:
        return column.template.format_map({n: _text(checker, row.get(n), where, n) for n in column.needs})
    assert column.source is not None
    cell = _text(checker, row.get(column.source), where, column.source)
    try:
        found = column.pattern.match(cell, timeout=PATTERN_SECONDS)
    except TimeoutError:
        problem = f"the pattern ran over {PATTERN_SECONDS:g} s on '{cell[:40]}'"
        raise checker.error(where, problem, "simplify the pattern (no nested repetition)") from None
    if found is None:
        problem = f"{column.source} '{cell[:60]}' does not match {column.pattern.pattern!r}"
        raise checker.error(
            where, problem, "widen the pattern so that every row matches (derived columns are made before data.where)"
        )
    kept = found.group(1) if column.pattern.groups else found.group(0)
    return kept or ""


def _text(checker: Checker, value: Any, where: str, column: str) -> str:
    """A cell as text: a number as written, never a list or an object stringified."""
    if isinstance(value, (dict, list, tuple)):
        raise checker.error(where, f"{column} is {kind(value)}, not text", "derive from a text column")
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()
