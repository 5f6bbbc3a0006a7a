"""``data.items_per_row``: one row of the data, several items, scored together as a probe group.

Some benchmarks publish a probe as one record: MediConfusion's ``dataset.json``
holds a question, its two options and *two* images, each with its own key
(``im_1``/``im_1_correct``, ``im_2``/``im_2_correct``). Converting the file
first would mean shipping a derived copy of the data; instead the suite says
which fields change from one item of the row to the next::

    data:
      fields: {id: _key, question: question, choices: [option_A, option_B]}
      items_per_row:
        - {suffix: "1", image: im_1, answer: im_1_correct, tags: category_1}
        - {suffix: "2", image: im_2, answer: im_2_correct, tags: category_2}

Each entry is a ``data.fields`` mapping laid over the suite's own (any field but
``id`` and ``group``) plus a ``suffix``: the row's id and the suffix make the
item's id (``10001:1``), and the row's id is the group of the row's items, so
set accuracy and confusion come from the existing probe-group scoring. The items
of a row stay next to each other, in the entries' order. ``where`` and ``limit``
count rows, before they become items. Which fields each item reads shows in the
items (their answers, images and ids), and so in the suite's fingerprint.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .images import ImageReading
from .items import build_items, text_of
from .schema import DEFAULT_FIELDS, FIELD_KEYS, ROW_ID, Checker, KeyTable, kind
from .types import Item

KEY = "data.items_per_row"
ID_COLUMN = "_item_id"
"""The column that holds each item's id (the row's id, ``:``, the entry's suffix)."""
GROUP_COLUMN = "_row_id"
"""The column that holds each item's group: the id of the row it came from."""
_SUFFIX = re.compile(r"^[A-Za-z0-9_-]+$")
_FIXED = ("id", "group")
"""Fields an entry may not change: every item of a row is named after it and grouped by it."""
ENTRY_KEYS: KeyTable = {
    "suffix": ((str, int), "text added to the row's id to name this item (letters, digits, _ and -)"),
    **{key: value for key, value in FIELD_KEYS.items() if key not in _FIXED},
}


@dataclass(frozen=True)
class RowItem:
    """One entry of ``items_per_row``: how one item is read from a row."""

    suffix: str
    """Appended to the row's id after a ``:``; no ``:`` or ``.`` of its own, so ids never collide."""
    fields: Mapping[str, Any]
    """Field -> column, laid over ``data.fields`` for this item."""


def parse_items_per_row(checker: Checker, data: Mapping[str, Any]) -> tuple[RowItem, ...]:
    """The entries of ``data.items_per_row``, checked; empty when the suite has none."""
    value = data.get("items_per_row")
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) < 2:
        problem = f"expected a list of two or more entries, got {_shown(value)}"
        raise checker.error(KEY, problem, "list one mapping per item, e.g. [{suffix: '1', image: im_1}, ...]")
    fields = data.get("fields") or {}
    if isinstance(fields, dict) and "group" in fields:
        problem = "the items of a row are grouped by the row's id, so data.fields.group has no effect"
        raise checker.error("data.fields.group", problem, "remove it (or remove data.items_per_row)")
    entries: list[RowItem] = []
    for number, entry in enumerate(value, start=1):
        where = f"{KEY}[{number}]"
        for fixed in _FIXED:
            if isinstance(entry, dict) and fixed in entry:
                fix = "every item of a row takes the row's id and is grouped by it; set data.fields.id instead"
                raise checker.error(f"{where}.{fixed}", "cannot differ between the items of a row", fix)
        checker.mapping(entry, where, ENTRY_KEYS)
        if "suffix" not in entry:
            raise checker.error(f"{where}.suffix", "missing", "give each entry a suffix such as '1' or 'left'")
        suffix = text_of(entry["suffix"])
        if not _SUFFIX.match(suffix):
            raise checker.error(f"{where}.suffix", f"'{suffix}' is not a usable suffix", "use letters, digits, _, -")
        if suffix in [e.suffix for e in entries]:
            raise checker.error(f"{where}.suffix", f"'{suffix}' is used twice", "give each entry its own suffix")
        if len(entry) == 1:
            problem = "changes no field, so its item would repeat another's"
            raise checker.error(where, problem, "name the field(s) it reads from other columns, e.g. image: im_2")
        entries.append(RowItem(suffix, {k: v for k, v in entry.items() if k != "suffix"}))
    return tuple(entries)


def build_row_items(
    checker: Checker,
    data: Mapping[str, Any],
    rows: Sequence[Mapping[str, Any]],
    task: str,
    labels: tuple[str, ...],
    reading: ImageReading | None = None,
) -> list[Item]:
    """The suite's items: :func:`~.items.build_items` on the rows, or, with ``items_per_row``, once per entry
    (each with its fields laid over the suite's), the items of one row then placed side by side."""
    entries = parse_items_per_row(checker, data)
    if not entries:
        return build_items(checker, data, rows, task, labels, reading)
    ids = _row_ids(checker, data, rows)
    _check_columns(checker, entries, {column for row in rows for column in row})
    base = dict(data.get("fields") or {})
    built: list[list[Item]] = []
    for entry in entries:
        entry_rows = [
            {**row, ID_COLUMN: f"{row_id}:{entry.suffix}", GROUP_COLUMN: row_id}
            for row, row_id in zip(rows, ids, strict=True)
        ]
        fields = {**base, **entry.fields, "id": ID_COLUMN, "group": GROUP_COLUMN}
        built.append(build_items(checker, {**data, "fields": fields}, entry_rows, task, labels, reading))
    return [item for row in zip(*built, strict=True) for item in row]


def _row_ids(checker: Checker, data: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Each row's id, from ``data.fields.id`` (or its number, for ``__row__``); a row without one is refused."""
    fields = data.get("fields") or {}
    column = fields.get("id", DEFAULT_FIELDS["id"]) if isinstance(fields, dict) else DEFAULT_FIELDS["id"]
    clash = next((c for c in (ID_COLUMN, GROUP_COLUMN) if rows and c in rows[0]), None)
    if clash:
        raise checker.error(KEY, f"the data has a column '{clash}' of its own", "rename that column in the data")
    if column == ROW_ID:
        return [f"row-{number:05d}" for number in range(1, len(rows) + 1)]
    if rows and not any(column in row for row in rows):
        problem = f"column '{column}' (each row's id, which names its items) is not in the data"
        raise checker.error("data.fields.id", problem, "map data.fields.id to the column that names each row")
    ids = []
    for number, row in enumerate(rows, start=1):
        row_id = text_of(row.get(column)) if not isinstance(row.get(column), (dict, list)) else ""
        if not row_id:
            problem = f"row {number} has no id in '{column}' to name its items after"
            raise checker.error("data.fields.id", problem, "give every row an id (or use __row__ to number rows)")
        ids.append(row_id)
    return ids


def _check_columns(checker: Checker, entries: Sequence[RowItem], columns: set[str]) -> None:
    """Each column an entry names is in the data (an error naming the entry, not the merged field mapping)."""
    for number, entry in enumerate(entries, start=1):
        for field, value in entry.fields.items():
            for column in [value] if isinstance(value, str) else list(value or []):
                if column not in columns:
                    close = difflib.get_close_matches(str(column), sorted(columns), n=1, cutoff=0.6)
                    hint = f"did you mean '{close[0]}'?" if close else f"columns are: {', '.join(sorted(columns))}"
                    problem = f"column '{column}' is not in the data"
                    raise checker.error(f"{KEY}[{number}].{field}", problem, hint)


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return f"a list of {len(value)}"
    return kind(value)
