"""VLMEvalKit's TSV files: one row per question, images as base64 in an ``image`` column.

VLMEvalKit (``vlmeval/dataset/image_base.py``) stores a picture that several
questions share once: the other rows' ``image`` cell holds a short value, at most
64 characters, that is the ``index`` of the row with the picture; a longer value is
base64, however short the picture. The reader here follows the same rule: it puts
the picture itself in the referring cells, so each item carries its image (and items
sharing a picture share its digest, one cluster for every statistic), and marks
every longer value as base64 (a ``data:`` URI), so a small picture is not taken for
a path. A short value that is no row's index is left as it is, a path.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .schema import Checker

REFERENCE_MAX_CHARS = 64
"""VLMEvalKit's rule: an ``image`` value this short is another row's ``index``, not base64."""


def resolve_image_references(checker: Checker, file: Path, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows with each reference to another row's picture replaced by that picture's base64."""
    if not rows or "image" not in rows[0]:
        return list(rows)
    if "index" not in rows[0]:
        return [{**row, "image": _marked(row["image"])} for row in rows]
    pictures = {str(row["index"]): _marked(row["image"]) for row in rows}
    out = []
    for number, row in enumerate(rows, start=1):
        value = row["image"]
        if isinstance(value, str) and value and len(value) <= REFERENCE_MAX_CHARS and value in pictures:
            target = pictures[value]
            if len(target) <= REFERENCE_MAX_CHARS:
                problem = (
                    f"{file.name} row {number}: image '{value}' names index {value}, whose image is a reference too"
                )
                raise checker.error("data.path", problem, "point it at the row that holds the picture")
            row = {**row, "image": target}
        out.append({**row, "image": _marked(row["image"])})
    return out


def _marked(value: Any) -> Any:
    """A value over the reference length as a ``data:`` URI: base64, as VLMEvalKit reads it."""
    if isinstance(value, str) and len(value) > REFERENCE_MAX_CHARS and not value.lstrip().startswith("data:"):
        return "data:;base64," + value
    return value
