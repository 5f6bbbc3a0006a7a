"""An item's images, read from its row: which columns, where paths point, how each is decoded.

A row names its images in an ``image`` column (one value, or a list) or an
``images`` list column: a path relative to the data file, base64 text (a
VLMEvalKit TSV's long value, or a ``data:`` URI), or a ``datasets`` Image value.
Each becomes an :class:`~pytest_medmodel.images.ImageRef` whose digest is
computed now, so a missing, empty, oversized or unrecognised image is a
collection error naming the row and the file, before any model runs. Decoding
(and so a truncated file or a decompression bomb) waits until a model needs the
picture; that failure is the item's alone (see :mod:`pytest_medmodel.execution.shards`).

Paths are resolved from the data file's folder (the suite's, for a ``datasets``
source) and must stay inside the project root, as data files must.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..images import DecodeSettings, ImageError, ImageRef, ImageSource
from .schema import IMAGE_FIELDS, Checker
from .types import Item

BASE64_MIN_CHARS = 512
"""A text value at least this long is read as base64 (no image path is that long; VLMEvalKit's TSVs
store images as plain base64 without a ``data:`` prefix). Shorter text is a path."""


@dataclass(frozen=True)
class ImageColumns:
    """The columns a suite's images come from (None: the suite has no such column)."""

    image: str | None = None
    images: str | None = None
    window: str | None = None

    @property
    def any(self) -> bool:
        return self.image is not None or self.images is not None


@dataclass(frozen=True)
class ImageReading:
    """Where an item's image paths start and must stay, and the suite's decoding settings."""

    base: Path
    """The folder relative paths start from: the data file's."""
    root: Path | None
    """Paths must resolve inside this folder (the project root); None: inside ``base``."""
    settings: DecodeSettings = DecodeSettings()


def suite_settings(checker: Checker, value: Any) -> DecodeSettings:
    """The suite's ``images:`` mapping (window, frame, slice), checked; one line naming the key otherwise."""
    try:
        return DecodeSettings.from_json(value, "images")
    except ImageError as exc:
        raise checker.error("images", exc.problem, exc.fix) from None


def image_folder(checker: Checker, base: Path, folder: str, fence: Path) -> Path:
    """``data.image_folder``: the folder image paths start from, relative to the data file's, checked to exist
    (once, rather than as a missing file on every row) and to lie inside the project."""
    where = "data.image_folder"
    resolved = (base / folder).resolve()
    if Path(folder).is_absolute() or not resolved.is_relative_to(fence.resolve()):
        raise checker.error(where, f"{folder} is outside the project root {fence}", "give a folder inside the project")
    if not resolved.is_dir():
        fix = "give the folder, relative to the data file, that holds the images (unpack the benchmark's archive there)"
        raise checker.error(where, f"folder not found: {resolved}", fix)
    return resolved


def item_images(
    checker: Checker, columns: ImageColumns, reading: ImageReading, row: Mapping[str, Any], where: str
) -> tuple[ImageRef, ...]:
    """The row's images as references with their digests (empty when the row has none)."""
    values: list[tuple[str, Any]] = []
    if columns.image is not None and row.get(columns.image) not in (None, ""):
        value = row[columns.image]
        many = value if isinstance(value, (list, tuple)) else [value]
        values += [(columns.image, v) for v in many]
    if columns.images is not None and row.get(columns.images) not in (None, ""):
        value = row[columns.images]
        if not isinstance(value, (list, tuple)):
            raise checker.error(f"{where}: {columns.images}", "is not a list of images", "write a list, e.g. [a.png]")
        values += [(columns.images, v) for v in value]
    if not values:
        return ()
    settings = _item_settings(checker, columns, reading, row, where)
    refs = []
    for number, (column, value) in enumerate(values, start=1):
        shown = value if isinstance(value, str) and len(value) < BASE64_MIN_CHARS else f"{where}, image {number}"
        try:
            refs.append(ImageRef.of(_source(value, shown, reading), settings))
        except ImageError as exc:
            raise checker.error(
                f"{where}: {column}", f"{exc.shown}: {exc.problem}", exc.fix or "fix the image"
            ) from None
    return tuple(refs)


def _source(value: Any, shown: str, reading: ImageReading) -> ImageSource:
    if isinstance(value, str) and len(value) >= BASE64_MIN_CHARS and not value.lstrip().startswith("data:"):
        return ImageSource.from_base64(value, shown)
    return ImageSource.from_column(value, shown, reading.base, reading.root)


def _item_settings(
    checker: Checker, columns: ImageColumns, reading: ImageReading, row: Mapping[str, Any], where: str
) -> DecodeSettings:
    """The suite's settings, with the item's own window where its row gives one."""
    window = row.get(columns.window) if columns.window is not None else None
    if window in (None, ""):
        return reading.settings
    try:
        return replace(reading.settings, window=DecodeSettings.from_json({"window": window}, where).window)
    except ImageError as exc:
        raise checker.error(f"{where}: {columns.window}", exc.problem, exc.fix) from None


def image_numbers(template: str) -> list[int]:
    """The images a template places, by number: ``{image}`` is 1, ``{image2}`` is 2 (in the order they appear)."""
    fields = [field for _, field, _, _ in string.Formatter().parse(template) if field is not None]
    return [1 if field == "image" else int(field[5:]) for field in fields if field in IMAGE_FIELDS]


def check_image_placeholders(checker: Checker, template: str, items: Sequence[Item], few_shot: bool = False) -> None:
    """A template that places images places every image of every item, and only images they have.

    An image the template does not place would never reach the model: refused, so no
    image is ever dropped silently. Without placeholders, every image goes before (or
    after) the item's text, as ``prompt.image_position`` says.
    """
    if few_shot and any(item.images for item in items):
        problem = "solved examples with images are not supported yet (each example's image would be left out)"
        raise checker.error("few_shot", problem, "remove few_shot from a suite whose items have images")
    placed = image_numbers(template)
    if not placed:
        return
    distinct = sorted(set(placed))
    if distinct != list(range(1, len(distinct) + 1)):
        problem = f"places images {distinct}, not 1 to {len(distinct)}"
        raise checker.error("prompt.template", problem, "number the placeholders {image1}, {image2}, ... from 1")
    for item in items:
        if len(item.images) != len(distinct):
            problem = f"places {len(distinct)} image(s), but item {item.id} has {len(item.images)}"
            fix = "give every item that many images, or drop the {image} placeholders (prompt.image_position)"
            raise checker.error("prompt.template", problem, fix)
