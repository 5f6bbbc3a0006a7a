"""Suite files: the YAML schema, its validation, and the items a suite yields.

A suite is a recipe (ChEF's scenario + instruction + inferencer + metric, in
lm-evaluation-harness's task vocabulary): where items come from, how they are
prompted, how answers are scored, and which gates decide the build. Everything
here is plain Python with no pytest, torch or transformers import, so a suite can
be loaded and checked from a script, and collection stays cheap.

Every problem with a suite is raised as one :class:`SuiteError` whose message is
a single line naming the file, the field, what is wrong and what would be right.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

SUITE_SUFFIX = ".suite.yaml"
"""Suite files are recognised by this suffix only, so no other YAML is ever collected."""

TASKS = ("multiple_choice", "yes_no_maybe", "yes_no")
FIXED_CHOICES: dict[str, tuple[str, ...]] = {
    "yes_no_maybe": ("yes", "no", "maybe"),
    "yes_no": ("yes", "no"),
}
SCORING_METHODS = ("letter", "loglikelihood")
ANSWER_FORMATS = ("auto", "letter", "index", "index1", "text")
CHAT_MODES = ("auto", "always", "never")
DEFAULT_LABELS = tuple("ABCDEFGHIJ")
ROW_ID = "__row__"
"""Value of ``data.fields.id`` that numbers rows instead of reading an id column."""

_ITEM_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
_PLACEHOLDER = re.compile(r"(?<!\{)\{([^{}]*)\}(?!\})")
TEMPLATE_FIELDS = ("question", "context", "choices", "labels")


class SuiteError(Exception):
    """A suite that cannot be used, described in one line.

    Attributes:
        path: the suite file.
        field: the dotted key (or ``row N``/item id) that is wrong.
        problem: what is wrong.
        fix: what would be right.
    """

    def __init__(self, path: Path | str, field: str, problem: str, fix: str) -> None:
        self.path = str(path)
        self.field = field
        self.problem = problem
        self.fix = fix
        super().__init__(f"{self.path}: {field}: {problem}; {fix}")


@dataclass(frozen=True)
class Item:
    """One benchmark question, after field mapping and validation."""

    id: str
    """Stable identifier; becomes the test id ``item[<id>]`` and the baseline key."""
    question: str
    choices: tuple[str, ...]
    """Choice texts, in the order the prompt shows them."""
    answer: int
    """Index of the correct choice."""
    context: str | None = None
    """Optional passage shown before the question (PubMedQA-style abstracts)."""
    tags: tuple[str, ...] = ()
    """Subgroup labels (specialty, topic); usable with ``-k`` and ``-m``."""

    @property
    def content_hash(self) -> str:
        """Short hash of everything that defines the question.

        Stored per item in the baseline, so an item whose text or key changed
        since the baseline was recorded is not silently compared with it.
        """
        payload = [self.question, self.context, list(self.choices), self.answer]
        return _short_hash(payload, 12)


@dataclass(frozen=True)
class AccuracyGate:
    """Settings of the paired accuracy gate (see :mod:`pytest_medmodel.gates`)."""

    max_drop: float = 0.02
    """Largest tolerated absolute drop in accuracy on paired items."""
    alpha: float = 0.05
    """Significance level of the one-sided exact McNemar test."""
    min_accuracy: float | None = None
    """Optional absolute floor on current accuracy."""


@dataclass(frozen=True)
class PromptSpec:
    template: str
    labels: tuple[str, ...]
    chat_template: str
    system: str | None
    answer_prefix: str


@dataclass(frozen=True)
class ScoringSpec:
    method: str
    normalize: bool = False
    """Loglikelihood only: pick the answer by per-character normalised log-likelihood (acc_norm)."""


@dataclass(frozen=True)
class Suite:
    """A loaded, validated suite file."""

    path: Path
    name: str
    description: str
    task: str
    prompt: PromptSpec
    scoring: ScoringSpec
    accuracy_gate: AccuracyGate
    items: tuple[Item, ...]
    source: str
    """Human description of where the items came from (for messages)."""

    def item(self, item_id: str) -> Item:
        return self._by_id[item_id]

    @functools.cached_property
    def _by_id(self) -> dict[str, Item]:
        return {item.id: item for item in self.items}

    @property
    def fixed_choices(self) -> bool:
        return self.task in FIXED_CHOICES

    def choice_key(self, item: Item, index: int) -> str:
        """How an answer is written in baselines and messages: the label, or the word."""
        return item.choices[index] if self.fixed_choices else self.prompt.labels[index]

    @functools.cached_property
    def fingerprint(self) -> str:
        """Hash of everything that shapes predictions: prompt, scoring and items."""
        payload = {
            "task": self.task,
            "prompt": [
                self.prompt.template,
                list(self.prompt.labels),
                self.prompt.chat_template,
                self.prompt.system,
                self.prompt.answer_prefix,
            ],
            "scoring": [self.scoring.method, self.scoring.normalize],
            "items": [[it.id, it.content_hash] for it in self.items],
        }
        return _short_hash(payload, 16)

    @property
    def gate_names(self) -> tuple[str, ...]:
        return ("accuracy",)


def _short_hash(payload: Any, length: int) -> str:
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:length]


def is_suite_path(path: Path | str) -> bool:
    return str(path).endswith(SUITE_SUFFIX)


def suite_stem(path: Path | str) -> str:
    name = Path(path).name
    return name[: -len(SUITE_SUFFIX)] if name.endswith(SUITE_SUFFIX) else Path(path).stem


# --------------------------------------------------------------------------- schema

# Each key maps to (expected python types, description of the expected value).
_TOP_KEYS = {
    "name": ((str,), "a short name (letters, digits, _ . -)"),
    "description": ((str,), "text"),
    "task": ((str,), f"one of {', '.join(TASKS)}"),
    "data": ((dict,), "a mapping with 'path' or 'dataset'"),
    "prompt": ((dict,), "a mapping"),
    "scoring": ((str, dict), f"one of {', '.join(SCORING_METHODS)} or a mapping with 'method'"),
    "gates": ((dict,), "a mapping of gate name to settings"),
}
_DATA_KEYS = {
    "path": ((str,), "a .jsonl, .json, .csv or .parquet file relative to the suite"),
    "dataset": ((dict,), "datasets.load_dataset arguments: path, name, split, data_files, revision"),
    "fields": ((dict,), "a mapping of item field to column"),
    "answer_format": ((str,), f"one of {', '.join(ANSWER_FORMATS)}"),
}
_DATASET_KEYS = {
    "path": ((str,), "a hub id or builder name such as 'json'"),
    "name": ((str,), "a configuration name"),
    "split": ((str,), "a split name such as 'test'"),
    "data_files": ((str, list, dict), "files for builders such as 'json' or 'csv'"),
    "revision": ((str,), "a git revision of the dataset repository"),
}
_FIELD_KEYS = {
    "id": ((str,), f"a column name, or {ROW_ID} to number rows"),
    "question": ((str,), "a column name"),
    "context": ((str, type(None)), "a column name"),
    "choices": ((str, list), "a list column, or a list of columns"),
    "answer": ((str,), "a column name"),
    "tags": ((str, list, type(None)), "a column (text or list), or a list of columns"),
}
_PROMPT_KEYS = {
    "template": ((str,), "text with {question}, {context}, {choices}, {labels} placeholders"),
    "labels": ((list, str), "a list of labels such as [A, B, C, D]"),
    "chat_template": ((str, bool), "auto, always or never"),
    "system": ((str, type(None)), "a system message"),
    "answer_prefix": ((str,), "text after which the answer is scored, e.g. 'Answer:'"),
}
_SCORING_KEYS = {
    "method": ((str,), f"one of {', '.join(SCORING_METHODS)}"),
    "normalize": ((bool,), "true or false"),
}
_GATE_KEYS = {"accuracy": ((dict,), "a mapping with max_drop, alpha, min_accuracy")}
_ACCURACY_KEYS = {
    "max_drop": ((int, float), "a number between 0 and 1"),
    "alpha": ((int, float), "a number between 0 and 1"),
    "min_accuracy": ((int, float, type(None)), "a number between 0 and 1"),
}

_DEFAULT_FIELDS = {
    "id": "id",
    "question": "question",
    "context": "context",
    "choices": "choices",
    "answer": "answer",
    "tags": "tags",
}


class _Checker:
    """Validates nested mappings against the key tables above, with did-you-mean."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def error(self, field: str, problem: str, fix: str) -> SuiteError:
        return SuiteError(self.path, field, problem, fix)

    def mapping(self, value: Any, where: str, keys: Mapping[str, tuple[tuple[type, ...], str]]) -> dict:
        if not isinstance(value, dict):
            raise self.error(where or "(top level)", f"expected a mapping, got {_kind(value)}", "write key: value pairs")
        for key, val in value.items():
            dotted = f"{where}.{key}" if where else str(key)
            if key not in keys:
                close = difflib.get_close_matches(str(key), list(keys), n=1, cutoff=0.6)
                hint = f"did you mean '{close[0]}'?" if close else f"known keys: {', '.join(keys)}"
                raise self.error(dotted, "unknown key", hint)
            types, expected = keys[key]
            if isinstance(val, bool) and bool not in types:
                raise self.error(dotted, f"expected {expected}, got a boolean", f"write {expected}")
            if not isinstance(val, types):
                raise self.error(dotted, f"expected {expected}, got {_kind(val)}", f"write {expected}")
        return value

    def choice(self, value: str, where: str, allowed: Sequence[str]) -> str:
        if value not in allowed:
            close = difflib.get_close_matches(value, list(allowed), n=1, cutoff=0.5)
            hint = f"did you mean '{close[0]}'?" if close else f"use one of {', '.join(allowed)}"
            raise self.error(where, f"unknown value '{value}'", hint)
        return value

    def fraction(self, value: Any, where: str) -> float:
        value = float(value)
        if not 0.0 <= value <= 1.0:
            raise self.error(where, f"{value} is outside [0, 1]", "write a fraction such as 0.05")
        return value


def _kind(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    return {dict: "a mapping", list: "a list", str: "text", bool: "a boolean", int: "a number", float: "a number"}.get(
        type(value), type(value).__name__
    )


# --------------------------------------------------------------------------- loading


def load_suite(path: Path | str) -> Suite:
    """Load and validate one suite file, reading its items.

    Raises:
        SuiteError: anything wrong with the file, its data or its items.
    """
    path = Path(path)
    checker = _Checker(path)
    raw = _read_yaml(path)
    top = checker.mapping(raw, "", _TOP_KEYS)

    name = top.get("name", suite_stem(path))
    if not re.match(r"^[A-Za-z0-9_.-]+$", name):
        raise checker.error("name", f"'{name}' is not a usable file name", "use letters, digits, '_', '.', '-'")
    task = checker.choice(top.get("task", "multiple_choice"), "task", TASKS)
    if "data" not in top:
        raise checker.error("data", "missing", "add data: {path: items.jsonl} (relative to the suite)")
    scoring = _parse_scoring(checker, top.get("scoring", "letter"))
    prompt = _parse_prompt(checker, top.get("prompt", {}), task, scoring)
    gate = _parse_gates(checker, top.get("gates", {}))

    from . import data as data_module

    rows, source = data_module.read_rows(checker, path, top["data"])
    items = _build_items(checker, top["data"], rows, task, prompt)
    if not prompt.template:
        has_context = any(item.context for item in items)
        prompt = replace(prompt, template=default_template(task, scoring, has_context))
    return Suite(
        path=path,
        name=name,
        description=top.get("description", ""),
        task=task,
        prompt=prompt,
        scoring=scoring,
        accuracy_gate=gate,
        items=tuple(items),
        source=source,
    )


def _read_yaml(path: Path) -> Any:
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SuiteError(path, "(file)", f"cannot be read ({exc.strerror})", "check the path and permissions") from None
    try:
        return yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "(yaml)"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SuiteError(path, where, f"invalid YAML ({problem})", "fix the YAML syntax") from None


def _parse_scoring(checker: _Checker, value: Any) -> ScoringSpec:
    if isinstance(value, str):
        return ScoringSpec(method=checker.choice(value, "scoring", SCORING_METHODS))
    spec = checker.mapping(value, "scoring", _SCORING_KEYS)
    method = checker.choice(spec.get("method", "letter"), "scoring.method", SCORING_METHODS)
    normalize = spec.get("normalize", False)
    if normalize and method != "loglikelihood":
        raise checker.error("scoring.normalize", "only applies to loglikelihood scoring", "remove it or use method: loglikelihood")
    return ScoringSpec(method=method, normalize=normalize)


def default_template(task: str, scoring: ScoringSpec, has_context: bool) -> str:
    """The prompt used when a suite does not write its own."""
    head = "Context: {context}\n" if has_context else ""
    if scoring.method == "letter":
        return head + "Question: {question}\n{choices}\nAnswer with the letter of the correct option."
    if task == "multiple_choice":
        # lm-evaluation-harness ARC style: the option text itself is the continuation.
        return head + "Question: {question}"
    words = "yes, no or maybe" if task == "yes_no_maybe" else "yes or no"
    return head + f"Question: {{question}}\nAnswer {words}."


def _parse_prompt(checker: _Checker, value: Any, task: str, scoring: ScoringSpec) -> PromptSpec:
    spec = checker.mapping(value, "prompt", _PROMPT_KEYS)
    labels = spec.get("labels", DEFAULT_LABELS)
    if isinstance(labels, str):
        labels = list(labels) if " " not in labels and "," not in labels else re.split(r"[,\s]+", labels.strip())
    labels = tuple(str(lab) for lab in labels)
    if not labels or any(not lab.strip() for lab in labels) or len(set(labels)) != len(labels):
        raise checker.error("prompt.labels", f"labels {list(labels)} must be distinct and non-empty", "write e.g. [A, B, C, D]")
    template = spec.get("template")
    if template is not None:
        for match in _PLACEHOLDER.finditer(template):
            placeholder = match.group(1)
            if placeholder not in TEMPLATE_FIELDS:
                close = difflib.get_close_matches(placeholder, TEMPLATE_FIELDS, n=1, cutoff=0.5)
                hint = f"did you mean '{{{close[0]}}}'?" if close else f"use {', '.join('{%s}' % f for f in TEMPLATE_FIELDS)}; write {{{{ }}}} for a literal brace"
                raise checker.error("prompt.template", f"unknown placeholder '{{{placeholder}}}'", hint)
        if "{question}" not in template:
            raise checker.error("prompt.template", "has no {question} placeholder", "add {question} where the question goes")
    chat = spec.get("chat_template", "auto")
    if isinstance(chat, bool):
        chat = "always" if chat else "never"
    chat = checker.choice(chat, "prompt.chat_template", CHAT_MODES)
    return PromptSpec(
        template=template or "",  # filled in per data (context or not) in _build_items
        labels=labels,
        chat_template=chat,
        system=spec.get("system"),
        answer_prefix=spec.get("answer_prefix", "Answer:"),
    )


def _parse_gates(checker: _Checker, value: Any) -> AccuracyGate:
    gates = checker.mapping(value, "gates", _GATE_KEYS)
    acc = checker.mapping(gates.get("accuracy", {}), "gates.accuracy", _ACCURACY_KEYS)
    kwargs: dict[str, Any] = {}
    for key in ("max_drop", "alpha", "min_accuracy"):
        if acc.get(key) is not None:
            kwargs[key] = checker.fraction(acc[key], f"gates.accuracy.{key}")
    if kwargs.get("alpha", 0.05) <= 0:
        raise checker.error("gates.accuracy.alpha", "must be above 0", "write a level such as 0.05")
    return AccuracyGate(**kwargs)


def _build_items(checker: _Checker, data: Mapping[str, Any], rows: Sequence[Mapping[str, Any]], task: str, prompt: PromptSpec) -> list[Item]:
    fields = dict(_DEFAULT_FIELDS)
    explicit = checker.mapping(data.get("fields", {}), "data.fields", _FIELD_KEYS)
    fields.update(explicit)
    answer_format = checker.choice(data.get("answer_format", "auto"), "data.answer_format", ANSWER_FORMATS)
    if not rows:
        raise checker.error("data", "the data source has no rows", "point data at a file with items")

    columns = set(rows[0].keys())

    def column_error(key: str, column: str) -> SuiteError:
        close = difflib.get_close_matches(column, sorted(columns), n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'?" if close else f"columns are: {', '.join(sorted(columns))}"
        return checker.error(f"data.fields.{key}", f"column '{column}' is not in the data", hint)

    for key in ("id", "question", "answer"):
        column = fields[key]
        if key == "id" and column == ROW_ID:
            continue
        if column not in columns:
            raise column_error(key, column)
    context_col = fields.get("context")
    if context_col is not None and context_col not in columns:
        if "context" in explicit:
            raise column_error("context", context_col)
        context_col = None
    tags_cols = fields.get("tags")
    if isinstance(tags_cols, str):
        tags_cols = [tags_cols]
    if tags_cols:
        missing = [c for c in tags_cols if c not in columns]
        if missing:
            if "tags" in explicit:
                raise column_error("tags", missing[0])
            tags_cols = []
    choices_spec = fields.get("choices")
    if task in FIXED_CHOICES:
        if "choices" in explicit:
            raise checker.error("data.fields.choices", f"task {task} has fixed choices {list(FIXED_CHOICES[task])}", "remove the choices mapping")
        choices_spec = None
    else:
        for column in [choices_spec] if isinstance(choices_spec, str) else list(choices_spec or []):
            if column not in columns:
                raise column_error("choices", column)

    items: list[Item] = []
    seen: dict[str, int] = {}
    for index, row in enumerate(rows):
        row_no = index + 1
        item_id = f"row-{row_no:05d}" if fields["id"] == ROW_ID else _text(row.get(fields["id"]))
        where = f"row {row_no}" + (f" (id {item_id})" if item_id else "")
        if not item_id:
            raise checker.error(f"{where}: {fields['id']}", "item id is empty", "give every row a unique id")
        if not _ITEM_ID.match(item_id):
            raise checker.error(f"{where}: {fields['id']}", f"item id '{item_id}' has characters that break test ids", "use letters, digits, '_', '.', ':' and '-'")
        if item_id in seen:
            raise checker.error(f"{where}: {fields['id']}", f"duplicate item id '{item_id}' (first at row {seen[item_id]})", "make item ids unique")
        seen[item_id] = row_no
        question = _text(row.get(fields["question"]))
        if not question:
            raise checker.error(f"{where}: {fields['question']}", "question is empty", "fill in the question text")
        if choices_spec is None:
            choices = FIXED_CHOICES[task]
        elif isinstance(choices_spec, str):
            value = row.get(choices_spec)
            if isinstance(value, str):
                raise checker.error(f"{where}: {choices_spec}", "choices is text, not a list", "store choices as a list, or map data.fields.choices to a list of columns")
            if not isinstance(value, (list, tuple)):
                raise checker.error(f"{where}: {choices_spec}", f"choices is {_kind(value)}, not a list", "store choices as a list")
            choices = tuple(_text(c) for c in value)
        else:
            choices = tuple(_text(row.get(c)) for c in choices_spec)
            # Separate columns may leave trailing options empty (4 of 5 used).
            while choices and not choices[-1]:
                choices = choices[:-1]
        if len(choices) < 2:
            raise checker.error(f"{where}: choices", f"has {len(choices)} choice(s)", "give at least two choices")
        if any(not c for c in choices):
            raise checker.error(f"{where}: choices", "a choice is empty", "fill in every choice")
        if len(set(choices)) != len(choices):
            raise checker.error(f"{where}: choices", "choices repeat", "make the choices distinct")
        if len(choices) > len(prompt.labels):
            raise checker.error(f"{where}: choices", f"{len(choices)} choices but only {len(prompt.labels)} labels", "add labels in prompt.labels")
        answer = _parse_answer(checker, where, fields["answer"], row.get(fields["answer"]), choices, prompt.labels, answer_format, task)
        context = _text(row.get(context_col)) if context_col else None
        tags: list[str] = []
        for column in tags_cols or []:
            value = row.get(column)
            values = value if isinstance(value, (list, tuple)) else [value]
            tags.extend(_text(v) for v in values if _text(v))
        items.append(Item(id=item_id, question=question, choices=choices, answer=answer, context=context or None, tags=tuple(dict.fromkeys(tags))))
    return items


def _parse_answer(checker: _Checker, where: str, column: str, value: Any, choices: tuple[str, ...], labels: tuple[str, ...], fmt: str, task: str) -> int:
    used_labels = labels[: len(choices)]
    label_range = f"{used_labels[0]}-{used_labels[-1]}"
    if value is None or (isinstance(value, str) and not value.strip()):
        raise checker.error(f"{where}: {column}", "answer is empty", "fill in the answer")
    text = _text(value)
    if fmt == "auto":
        if isinstance(value, bool):
            fmt = "text"
        elif isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
            fmt = "index"
        elif task in FIXED_CHOICES:
            fmt = "text"
        elif text in used_labels and text not in choices:
            fmt = "letter"
        else:
            fmt = "text"
    if fmt in ("index", "index1"):
        try:
            number = int(float(text))
        except ValueError:
            raise checker.error(f"{where}: {column}", f"answer '{text}' is not a number", "set data.answer_format to letter or text") from None
        index = number - (1 if fmt == "index1" else 0)
        if not 0 <= index < len(choices):
            base = "1-based" if fmt == "index1" else "0-based"
            raise checker.error(f"{where}: {column}", f"answer index {number} is not among the {len(choices)} choices ({base})", "fix the answer, or set data.answer_format")
        return index
    if fmt == "letter":
        if text not in used_labels:
            raise checker.error(f"{where}: {column}", f"answer '{text}' is not among the choices ({label_range})", "fix the answer, or set data.answer_format")
        return used_labels.index(text)
    lowered = [c.strip().lower() for c in choices]
    if text.strip().lower() in lowered:
        return lowered.index(text.strip().lower())
    shown = ", ".join(choices) if task in FIXED_CHOICES else f"{label_range} or their texts"
    raise checker.error(f"{where}: {column}", f"answer '{text}' is not among the choices ({shown})", "fix the answer or the field mapping")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()
