"""From raw rows to validated :class:`Item` objects: field mapping, ids, choices, answers.

Every row problem is one :class:`SuiteError` line that names the row (and its id
when it has one), the column, what is wrong and the fix.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from . import indexes
from .images import ImageColumns, ImageReading, item_images
from .labelled import options_by_label, strip_labels
from .schema import ANSWER_FORMATS, DEFAULT_FIELDS, FIELD_KEYS, ROW_ID, Checker, kind
from .types import FIXED_CHOICES, OPEN, Item, SuiteError, SuiteErrors

_ITEM_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")


@dataclass(frozen=True)
class _Columns:
    """Which columns hold which item field, checked against the data."""

    id: str
    question: str
    answer: str
    context: str | None
    tags: tuple[str, ...]
    choices: str | tuple[str, ...] | None
    """A list column, several columns, or None for tasks with fixed choices."""
    answer_format: str
    group: str | None = None
    flip: str | None = None
    """The answer after a horizontal flip (laterality items); empty cells: the answer stays."""
    aliases: str | None = None
    """Task open: a list column of other accepted answers."""
    text_cells: bool = False
    """The source stores every cell as text (CSV): ``"2"`` is how an answer index is written there."""
    images: ImageColumns = ImageColumns()
    strip_labels: bool = False
    """Each option cell starts with its own label (PMC-VQA's ``A:text``), removed on reading."""


def build_items(
    checker: Checker,
    data: Mapping[str, Any],
    rows: Sequence[Mapping[str, Any]],
    task: str,
    labels: tuple[str, ...],
    reading: ImageReading | None = None,
) -> list[Item]:
    """Validate every row and turn it into an :class:`Item`.

    ``reading``: where image paths start and how images decode; without it, image
    columns are not read (a suite's few-shot pool, say, whose items show no image).
    """
    if not rows:
        raise checker.error("data", "the data source has no rows", "point data at a file with items")
    columns = replace(
        _map_columns(checker, data, {key for row in rows for key in row}, task),  # a JSON row may omit options
        text_cells=indexes.text_cells(data),
        strip_labels=bool(data.get("strip_choice_labels")),
    )
    if reading is None:
        columns = replace(columns, images=ImageColumns())
    items: list[Item] = []
    errors: list[SuiteError] = []
    seen: dict[str, int] = {}
    numbers: dict[str, int] = {}  # answers given as option numbers whose base the data must show
    for index, row in enumerate(rows):
        try:
            item = _build_item(checker, columns, row, index + 1, seen, task, labels, numbers)
            if columns.images.any and reading is not None:
                where = _where(index + 1, item.id)
                item = replace(item, images=item_images(checker, columns.images, reading, row, where))
            items.append(item)
        except SuiteError as error:  # every bad row is reported, not only the first
            errors.append(error)
    if errors:
        raise SuiteErrors.combine(errors)
    source = Path(str(data["path"])).name if data.get("path") else "the data"
    return indexes.settle(checker, source, columns.answer, items, numbers)


def _map_columns(checker: Checker, data: Mapping[str, Any], columns: set[str], task: str) -> _Columns:
    fields: dict[str, Any] = dict(DEFAULT_FIELDS)
    explicit = checker.mapping(data.get("fields", {}), "data.fields", FIELD_KEYS)
    fields.update(explicit)
    answer_format = checker.choice(data.get("answer_format", "auto"), "data.answer_format", ANSWER_FORMATS)

    def missing(key: str, column: str) -> SuiteError:
        close = difflib.get_close_matches(column, sorted(columns), n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'?" if close else f"columns are: {', '.join(sorted(columns))}"
        return checker.error(f"data.fields.{key}", f"column '{column}' is not in the data", hint)

    for key in ("id", "question", "answer"):
        if not (key == "id" and fields[key] == ROW_ID) and fields[key] not in columns:
            raise missing(key, fields[key])
    context = _optional(fields, explicit, columns, "context", missing)
    tags = fields.get("tags")
    tags = [tags] if isinstance(tags, str) else list(tags or [])
    absent = [c for c in tags if c not in columns]
    if absent:
        if "tags" in explicit:
            raise missing("tags", absent[0])
        tags = []
    choices = fields.get("choices")
    aliases = _optional(fields, explicit, columns, "aliases", missing) if task == OPEN else None
    if task == OPEN:
        if "choices" in explicit:
            raise checker.error("data.fields.choices", "task open has no choices", "remove the choices mapping")
        choices = None
    elif task in FIXED_CHOICES:
        if "choices" in explicit:
            fixed = list(FIXED_CHOICES[task])
            raise checker.error(
                "data.fields.choices", f"task {task} has fixed choices {fixed}", "remove the choices mapping"
            )
        choices = None
    else:
        for column in [choices] if isinstance(choices, str) else list(choices or []):
            if column not in columns:
                raise missing("choices", column)
        choices = choices if isinstance(choices, str) else tuple(choices or ())
    group = _optional(fields, explicit, columns, "group", missing)
    flip = _optional(fields, explicit, columns, "flip", missing)
    images = ImageColumns(
        *(_optional(fields, explicit, columns, key, missing) for key in ("image", "images", "window"))
    )
    return _Columns(
        fields["id"],
        fields["question"],
        fields["answer"],
        context,
        tuple(tags),
        choices,
        answer_format,
        group,
        flip,
        aliases,
        images=images,
    )


def _optional(
    fields: Mapping[str, Any], explicit: Mapping[str, Any], columns: set[str], key: str, missing: Any
) -> str | None:
    """An optional column: the mapped one, or the default name when the data has it (None otherwise)."""
    column = fields.get(key)
    if column is None or column in columns:
        return column
    if key in explicit:
        raise missing(key, column)
    return None


def _where(row_no: int, item_id: str) -> str:
    return f"row {row_no}" + (f" (id {item_id})" if item_id else "")


def _build_item(
    checker: Checker,
    cols: _Columns,
    row: Mapping[str, Any],
    row_no: int,
    seen: dict[str, int],
    task: str,
    labels: tuple[str, ...],
    numbers: dict[str, int],
) -> Item:
    item_id = f"row-{row_no:05d}" if cols.id == ROW_ID else text_of(row.get(cols.id))
    where = _where(row_no, item_id)
    if not item_id:
        raise checker.error(f"{where}: {cols.id}", "item id is empty", "give every row a unique id")
    if not _ITEM_ID.match(item_id):
        problem = f"item id '{item_id}' has characters that break test ids"
        raise checker.error(f"{where}: {cols.id}", problem, "use letters, digits, '_', '.', ':' and '-'")
    if item_id in seen:
        problem = f"duplicate item id '{item_id}' (first at row {seen[item_id]})"
        raise checker.error(f"{where}: {cols.id}", problem, "make item ids unique")
    seen[item_id] = row_no
    question = text_of(_scalar(checker, row.get(cols.question), f"{where}: {cols.question}", "question"))
    if not question:
        raise checker.error(f"{where}: {cols.question}", "question is empty", "fill in the question text")
    if task == OPEN:
        choices, answer = _references(checker, cols, row, where), 0
    else:
        choices = _choices(checker, cols, row, where, task, labels)
        value = row.get(cols.answer)
        fmt = answer_format(cols.answer_format, value, choices, labels, task)
        answer = parse_answer(checker, where, cols.answer, value, choices, labels, fmt, task, cols.text_cells)
        if fmt == indexes.DETECT:
            numbers[item_id] = answer  # as written: counted from 0 or 1, settled once every row is read
    context = _context(checker, row.get(cols.context), f"{where}: {cols.context}") if cols.context else None
    tags: list[str] = []
    for column in cols.tags:
        value = row.get(column)
        values = value if isinstance(value, (list, tuple)) else [value]
        tags.extend(text_of(v) for v in values if text_of(v))
    group = text_of(_scalar(checker, row.get(cols.group), f"{where}: {cols.group}", "group")) if cols.group else ""
    flip = _flip(checker, cols, row, where, choices, labels, task) if task != OPEN else None
    item = Item(item_id, question, choices, answer, context or None, tuple(dict.fromkeys(tags)), group or None)
    return replace(item, flip=flip) if flip is not None else item


def _flip(
    checker: Checker, cols: _Columns, row: Mapping[str, Any], where: str, choices: Any, labels: Any, task: str
) -> int | None:
    """The answer under a horizontal flip, as a label or an option's text (None: empty, the answer stays)."""
    value = row.get(cols.flip) if cols.flip else None
    if value is None or text_of(value) == "":
        return None
    fmt = answer_format("auto", value, choices, labels, task)
    if fmt == indexes.DETECT:
        problem = f"flip answer {value!r} is a number"
        raise checker.error(f"{where}: {cols.flip}", problem, "write the label (B) or the option's text (right)")
    return parse_answer(checker, where, str(cols.flip), value, choices, labels, fmt, task, cols.text_cells)


def _references(checker: Checker, cols: _Columns, row: Mapping[str, Any], where: str) -> tuple[str, ...]:
    """Task open: the reference answer, then its aliases (distinct, none empty)."""
    answer = text_of(_scalar(checker, row.get(cols.answer), f"{where}: {cols.answer}", "the answer"))
    if not answer:
        raise checker.error(f"{where}: {cols.answer}", "answer is empty", "fill in the reference answer")
    extra = row.get(cols.aliases) if cols.aliases else None
    if extra is not None and not isinstance(extra, (list, tuple)):
        raise checker.error(
            f"{where}: {cols.aliases}", f"aliases is {kind(extra)}, not a list", "store aliases as a list"
        )
    aliases = [text_of(_scalar(checker, a, f"{where}: {cols.aliases}", "an alias")) for a in extra or []]
    return tuple(dict.fromkeys([answer, *(a for a in aliases if a)]))


def _choices(
    checker: Checker, cols: _Columns, row: Mapping[str, Any], where: str, task: str, labels: tuple[str, ...]
) -> tuple[str, ...]:
    if cols.choices is None:
        choices = FIXED_CHOICES[task]
    elif isinstance(cols.choices, str):
        value = row.get(cols.choices)
        if isinstance(value, dict):  # {"A": ..., "B": ...}: options keyed by their label (MedXpertQA)
            value = options_by_label(checker, f"{where}: {cols.choices}", value, labels)
        if isinstance(value, str):
            fix = "store choices as a list, or map data.fields.choices to a list of columns"
            raise checker.error(f"{where}: {cols.choices}", "choices is text, not a list", fix)
        if not isinstance(value, (list, tuple)):
            raise checker.error(
                f"{where}: {cols.choices}", f"choices is {kind(value)}, not a list", "store choices as a list"
            )
        choices = tuple(text_of(_scalar(checker, c, f"{where}: {cols.choices}", "a choice")) for c in value)
    else:
        choices = tuple(text_of(_scalar(checker, row.get(c), f"{where}: {c}", "a choice")) for c in cols.choices)
        while choices and not choices[-1]:  # separate columns may leave trailing options empty (4 of 5 used)
            column = cols.choices[len(choices) - 1]
            if column in row and row[column] is None:  # null, not deliberately empty or absent (OmniMedVQA)
                problem = "the option is null (missing)"
                raise checker.error(f"{where}: {column}", problem, 'fill it in, or write "" for an option not used')
            choices = choices[:-1]
        if cols.strip_labels:
            choices = strip_labels(checker, where, cols.choices, choices, labels)
    if len(choices) < 2:
        raise checker.error(f"{where}: choices", f"has {len(choices)} choice(s)", "give at least two choices")
    if any(not c for c in choices):
        raise checker.error(f"{where}: choices", "a choice is empty", "fill in every choice")
    if len(set(choices)) != len(choices):
        raise checker.error(f"{where}: choices", "choices repeat", "make the choices distinct")
    if len(choices) > len(labels):
        raise checker.error(
            f"{where}: choices", f"{len(choices)} choices but only {len(labels)} labels", "add labels in prompt.labels"
        )
    return choices


def answer_format(fmt: str, value: Any, choices: tuple[str, ...], labels: tuple[str, ...], task: str) -> str:
    """The row's answer format: the suite's, or for ``auto`` the one its answer cell looks like."""
    if fmt != "auto":
        return fmt
    return _detect_format(value, text_of(value), choices, labels[: len(choices)], task)


def parse_answer(
    checker: Checker,
    where: str,
    column: str,
    value: Any,
    choices: tuple[str, ...],
    labels: tuple[str, ...],
    fmt: str,
    task: str,
    text_cells: bool = False,
) -> int:
    """The answer cell as an index into ``choices``, whatever form the data uses.

    For ``index`` (base taken from the data) the number as written, 0 up to the number of
    choices: :func:`.indexes.settle` counts it once every row is read.
    """
    used = labels[: len(choices)]
    label_range = f"{used[0]}-{used[-1]}"
    if value is None or (isinstance(value, str) and not value.strip()):
        raise checker.error(f"{where}: {column}", "answer is empty", "fill in the answer")
    _scalar(checker, value, f"{where}: {column}", "the answer")
    text = text_of(value)
    if fmt == "auto":
        fmt = _detect_format(value, text, choices, used, task)
    if fmt == indexes.DETECT or fmt in indexes.BASES:
        number = indexes.whole_number(checker, f"{where}: {column}", value, text, text_cells)
        return indexes.in_range(checker, f"{where}: {column}", number, len(choices), fmt)
    if fmt == "letter":
        if text not in used:
            problem = f"answer '{text}' is not among the choices ({label_range})"
            raise checker.error(f"{where}: {column}", problem, "fix the answer, or set data.answer_format")
        return used.index(text)
    lowered = [c.strip().lower() for c in choices]
    if text.strip().lower() in lowered:
        return lowered.index(text.strip().lower())
    shown = ", ".join(choices) if task in FIXED_CHOICES else f"{label_range} or their texts"
    problem = f"answer '{text}' is not among the choices ({shown})"
    raise checker.error(f"{where}: {column}", problem, "fix the answer or the field mapping")


def _detect_format(value: Any, text: str, choices: tuple[str, ...], labels: tuple[str, ...], task: str) -> str:
    if isinstance(value, bool):
        return "text"
    if isinstance(value, (int, float)):
        return indexes.DETECT  # a decimal is refused there, in one line
    if task in FIXED_CHOICES:
        return "text"
    return "letter" if text in labels and text not in choices else "text"


def _context(checker: Checker, value: Any, where: str) -> str:
    """The context cell: text, or a list of paragraphs joined by line breaks (PubMedQA's ``CONTEXTS``)."""
    if isinstance(value, (list, tuple)):
        return "\n".join(text_of(_scalar(checker, v, where, "a context paragraph")) for v in value)
    return text_of(_scalar(checker, value, where, "context"))


def _scalar(checker: Checker, value: Any, where: str, what: str) -> Any:
    """A cell that must be text (or a number), never a list or an object that would be stringified."""
    if isinstance(value, (dict, list, tuple)):
        raise checker.error(where, f"{what} is {kind(value)}, not text", "store plain text in this column")
    return value


def text_of(value: Any) -> str:
    """A cell as stripped text (``3.0`` -> ``"3"``, ``None`` -> ``""``)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()
