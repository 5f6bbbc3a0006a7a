"""The suite file's schema: which keys exist, what each must hold, and the checker that says so.

Every problem becomes one :class:`~pytest_medmodel.suite.types.SuiteError` line naming
the file, the dotted field, what is wrong and what would be right, with a
did-you-mean for near-miss keys and values. Registered components (scorers,
gates, perturbations) declare their settings as :class:`Param` tables and are
checked by the same code.
"""

from __future__ import annotations

import difflib
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .types import TASKS, SuiteError

KeyTable = Mapping[str, tuple[tuple[type, ...], str]]
"""Key -> (accepted Python types, description of the expected value)."""

ANSWER_FORMATS = ("auto", "letter", "index", "index0", "index1", "text")
CHAT_MODES = ("auto", "always", "never")
ROW_ID = "__row__"
"""Value of ``data.fields.id`` that numbers rows instead of reading an id column."""
IMAGE_FIELDS = ("image", *(f"image{n}" for n in range(1, 10)))
"""Template placeholders for an item's images: ``{image}`` (its first) and ``{image1}`` .. ``{image9}``."""
TEMPLATE_FIELDS = ("question", "context", "choices", "labels", *IMAGE_FIELDS)

TOP_KEYS: KeyTable = {
    "name": ((str,), "a short name (letters, digits, _ . -)"),
    "description": ((str,), "text"),
    "task": ((str,), f"one of {', '.join(TASKS)}"),
    "data": ((dict,), "a mapping with 'path' or 'dataset'"),
    "prompt": ((dict,), "a mapping"),
    "scoring": ((str, dict), "a scoring method name or a mapping with 'method'"),
    "gates": ((dict,), "a mapping of gate name to settings"),
    "alpha": ((int, float), "a number between 0 and 1: the suite's false-alarm budget, shared by its gates"),
    "perturbations": ((list,), "a list of perturbation names or {name: ..., id: ...} mappings"),
    "search": ((dict,), "a mapping with candidates and items: search this suite after every run"),
    "few_shot": ((dict,), "a mapping with k (and from, pick, seed): solved examples before each item"),
    "images": ((dict,), "how images are decoded: window [centre, width], frame, slice_axis, slice_index, volume"),
}
FEW_SHOT_KEYS: KeyTable = {
    "k": ((int,), "how many examples (0 or more)"),
    "from": ((dict,), "a data source like data: ({path: ...} or {dataset: ...}); default: the suite's own items"),
    "pick": ((str,), "first, random or balanced"),
    "seed": ((int,), "a whole number (pick: random)"),
}
SEARCH_KEYS: KeyTable = {
    "candidates": ((int,), "a positive whole number of candidate changes per item"),
    "items": ((int,), "a positive whole number of right answers to search"),
}
DATA_KEYS: KeyTable = {
    "path": ((str,), "a .jsonl, .json, .csv, .tsv or .parquet file relative to the suite"),
    "dataset": ((dict,), "datasets.load_dataset arguments: path, name, split, data_files, revision"),
    "fields": ((dict,), "a mapping of item field to column"),
    "answer_format": ((str,), f"one of {', '.join(ANSWER_FORMATS)}"),
    "limit": ((int,), "a positive whole number: only the first N rows are items"),
    "strip_choice_labels": ((bool,), "true: each option cell starts with its own label ('A:text'), which is removed"),
    "where": ((dict,), "a mapping of column to value (or list of values): only rows that match are items"),
    "image_folder": ((str,), "a folder, relative to the data file, that image paths start from (e.g. imgs)"),
    "derive": ((dict,), "a mapping of new column to {from: <column>, match: <pattern>} or {template: '{a}/{b}'}"),
    "items_per_row": ((list,), "a list of {suffix, <field>: <column>} mappings: each row becomes one item per entry"),
}
DATASET_KEYS: KeyTable = {
    "path": ((str,), "a hub id or builder name such as 'json'"),
    "name": ((str,), "a configuration name"),
    "split": ((str,), "a split name such as 'test'"),
    "data_files": ((str, list, dict), "files for builders such as 'json' or 'csv'"),
    "revision": ((str,), "a git revision of the dataset repository"),
}
FIELD_KEYS: KeyTable = {
    "id": ((str,), f"a column name, or {ROW_ID} to number rows"),
    "question": ((str,), "a column name"),
    "context": ((str, type(None)), "a column name"),
    "choices": ((str, list), "a list column, or a list of columns"),
    "answer": ((str,), "a column name"),
    "tags": ((str, list, type(None)), "a column (text or list), or a list of columns"),
    "group": ((str, type(None)), "a column naming each item's probe group (items scored together)"),
    "aliases": ((str, type(None)), "a list column of other accepted answers (task open)"),
    "flip": ((str, type(None)), "a column with the answer after a horizontal flip (laterality); empty: it stays"),
    "image": ((str, type(None)), "a column with each item's image: a path relative to the data file, base64, an Image"),
    "images": ((str, type(None)), "a list column of each item's images (in {image1}, {image2} order)"),
    "window": ((str, type(None)), "a column with an item's own DICOM/NIfTI window [centre, width]"),
}
PROMPT_KEYS: KeyTable = {
    "template": ((str,), "text with {question}, {context}, {choices}, {labels} placeholders"),
    "labels": ((list, str), "a list of labels such as [A, B, C, D]"),
    "chat_template": ((str, bool), "auto, always or never"),
    "system": ((str, type(None)), "a system message"),
    "answer_prefix": ((str,), "text after which the answer is scored, e.g. 'Answer:'"),
    "image_position": ((str,), "before or after: where images go when the template has no {image} placeholder"),
    "choices_in_question": ((bool,), "true: the question text already lists the labelled options (MedXpertQA)"),
    "choice_format": (
        (str,),
        "how each option reads in {choices}: text with {label} and {choice}, e.g. '{label}:{choice}'",
    ),
}
DEFAULT_FIELDS = {
    "id": "id",
    "question": "question",
    "context": "context",
    "choices": "choices",
    "answer": "answer",
    "tags": "tags",
    "group": "group",
    "aliases": "aliases",
    "flip": "flip",
    "image": "image",
    "images": "images",
    "window": "window",
}


@dataclass(frozen=True)
class Param:
    """One setting of a registered component, as a suite writes it."""

    types: tuple[type, ...]
    description: str
    """What a valid value looks like, e.g. ``a number between 0 and 1``."""
    default: Any = None
    fraction: bool = False
    """The value must lie in [0, 1]."""


class Checker:
    """Validates one suite file's mappings and values, raising one-line :class:`SuiteError`."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def error(self, field: str, problem: str, fix: str) -> SuiteError:
        return SuiteError(self.path, field, problem, fix)

    def mapping(self, value: Any, where: str, keys: KeyTable) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.error(where or "(top level)", f"expected a mapping, got {kind(value)}", "write key: value pairs")
        for key, val in value.items():
            dotted = f"{where}.{key}" if where else str(key)
            if key not in keys:
                close = difflib.get_close_matches(str(key), list(keys), n=1, cutoff=0.6)
                hint = f"did you mean '{close[0]}'?" if close else f"known keys: {', '.join(keys) or '(none)'}"
                raise self.error(dotted, "unknown key", hint)
            self.typed(val, dotted, *keys[key])
        return value

    def typed(self, value: Any, where: str, types: tuple[type, ...], expected: str) -> Any:
        if isinstance(value, bool) and bool not in types:
            raise self.error(where, f"expected {expected}, got a boolean", f"write {expected}")
        if not isinstance(value, types):
            raise self.error(where, f"expected {expected}, got {kind(value)}", f"write {expected}")
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

    def level(self, value: Any, where: str) -> float:
        """A significance level: a fraction strictly between 0 and 1."""
        alpha = self.fraction(value, where)
        if not 0 < alpha < 1:
            raise self.error(where, f"{alpha:g} leaves no room for a test", "write a level such as 0.01")
        return alpha

    def no_own_alpha(self, settings: Any, where: str, default: float) -> None:
        """A gate's own ``alpha`` (before a suite's gates shared one) is refused with the line to write now."""
        if isinstance(settings, dict) and "alpha" in settings:
            raise self.error(
                f"{where}.alpha",
                "a gate no longer has its own alpha: every gate of a suite shares the suite's alpha (Holm), "
                "so that the suite as a whole keeps its false-alarm rate",
                f"delete it and write alpha: {settings['alpha']} at the top of the suite file (default {default})",
            )

    def params(self, value: Any, where: str, params: Mapping[str, Param]) -> dict[str, Any]:
        """Check a component's settings against its :class:`Param` table; fill in defaults."""
        raw = self.mapping(value, where, {k: (p.types, p.description) for k, p in params.items()})
        settings = {k: p.default for k, p in params.items()}
        for key, val in raw.items():
            if val is None:
                continue  # null means "the default"
            if params[key].fraction:
                val = self.fraction(val, f"{where}.{key}")
            settings[key] = val
        return settings


def kind(value: Any) -> str:
    """How a YAML value is described in messages."""
    if value is None:
        return "nothing (null)"
    names = {dict: "a mapping", list: "a list", str: "text", bool: "a boolean", int: "a number", float: "a number"}
    return names.get(type(value), type(value).__name__)


def template_fields(template: str) -> set[str]:
    """The placeholder names a template uses (``{{`` and ``}}`` are literal braces); ValueError if malformed."""
    return {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}
