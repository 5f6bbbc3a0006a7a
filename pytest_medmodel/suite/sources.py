"""Reading a suite's rows: local JSONL/JSON/CSV/Parquet files or ``datasets`` sources.

Local files are read with the standard library (Parquet with pyarrow), which is
what collection wants: no dataset cache on disk and no heavy import for a
200-row file. Anything else goes through ``datasets.load_dataset``, imported only
then, so hub datasets, scripts-free builders and local folders all work.

A suite in an untrusted pull request must not read arbitrary files of the CI
machine: local data (and ``data_files``) must lie inside the project root unless
the project opts out (``medmodel_allow_outside_data``). Every way a file can be
unreadable (missing, a directory, not UTF-8, a broken row) is one line.
"""

from __future__ import annotations

import csv
import io
import json
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..text_safety import well_formed
from .derive import derive_rows, parse_derive
from .schema import DATA_KEYS, DATASET_KEYS, Checker
from .tsv import resolve_image_references
from .where import keep_rows, parse_where

LOCAL_FORMATS = (".jsonl", ".json", ".csv", ".tsv", ".parquet")
_OFFLINE = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
_MAX_CELL = 2**31 - 1
KEY_COLUMN = "_key"
"""The column that holds each object's key, for a JSON file of objects keyed by id."""


def read_rows(
    checker: Checker, suite_path: Path, data: Mapping[str, Any], root: Path | None = None
) -> tuple[list[dict[str, Any]], str]:
    """Return the raw rows of a suite's data section and a description of the source.

    ``root``: when given, local files must resolve (symlinks included) to a path inside it.
    """
    checker.mapping(data, "data", DATA_KEYS)
    limit = data.get("limit")
    if limit is not None and (isinstance(limit, bool) or limit < 1):
        raise checker.error("data.limit", f"{limit} is not a positive whole number", "write e.g. limit: 40")
    spec = parse_where(checker, data.get("where"))
    derived = parse_derive(checker, data.get("derive"))
    rows, source = _read_rows(checker, suite_path, data, root)
    shown = Path(source).name if "path" in data else source
    rows = derive_rows(checker, rows, derived, shown)  # before the filter, which may use them
    rows = [_well_formed(row) for row in keep_rows(checker, rows, spec, shown)]
    if spec:
        source = f"{source} (rows where {', '.join(f'{c} in {list(v)}' for c, v in spec)})"
    return (rows[:limit], f"{source} (first {limit} rows)") if limit else (rows, source)


def _well_formed(value: Any) -> Any:
    """A row with every lone surrogate (valid JSON: ``"\\udce9"``) made U+FFFD, in keys and values at any depth:
    the prompt, the item's hash and every file written later must be valid UTF-8."""
    if isinstance(value, str):
        return well_formed(value)
    if isinstance(value, dict):
        return {_well_formed(k): _well_formed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_well_formed(v) for v in value]
    return value


def _read_rows(
    checker: Checker, suite_path: Path, data: Mapping[str, Any], root: Path | None
) -> tuple[list[dict[str, Any]], str]:
    if "path" in data and "dataset" in data:
        raise checker.error("data", "has both 'path' and 'dataset'", "keep one of them")
    if "path" in data:
        file = local_file(checker, suite_path, data["path"], "data.path", root)
        return _read_local(checker, file), str(file)
    if "dataset" in data:
        spec = checker.mapping(data["dataset"], "data.dataset", DATASET_KEYS)
        if "path" not in spec:
            raise checker.error("data.dataset.path", "missing", "name the dataset, e.g. path: org/name")
        return _read_dataset(checker, suite_path, spec, root), f"datasets:{spec['path']}"
    raise checker.error("data", "needs 'path' or 'dataset'", "add data: {path: items.jsonl}")


def local_file(checker: Checker, suite_path: Path, relative: str, field: str, root: Path | None) -> Path:
    """A data file named in a suite, checked: inside the root, and a regular file."""
    file = (suite_path.parent / relative).resolve()
    if root is not None and not file.is_relative_to(root.resolve()):
        raise checker.error(
            field,
            f"{file} is outside the project root {root}",
            "keep data inside the repository, or set the ini key medmodel_allow_outside_data = true",
        )
    try:
        mode = os.stat(file).st_mode
    except FileNotFoundError:
        raise checker.error(field, f"file not found: {file}", "give a path relative to the suite file") from None
    except OSError as exc:
        raise checker.error(
            field, f"{file} cannot be read ({exc.strerror})", "check the path and permissions"
        ) from None
    if stat.S_ISDIR(mode):
        raise checker.error(field, f"{file} is a directory", "name a data file inside it")
    if not stat.S_ISREG(mode):
        raise checker.error(field, f"{file} is not a regular file", "name a data file")
    return file


def _read_local(checker: Checker, file: Path) -> list[dict[str, Any]]:
    suffix = file.suffix.lower()
    if suffix not in LOCAL_FORMATS:
        raise checker.error("data.path", f"unsupported file type '{suffix}'", f"use one of {', '.join(LOCAL_FORMATS)}")
    if suffix == ".parquet":
        return _read_parquet(checker, file)
    if suffix == ".csv":
        return _read_csv(checker, file)
    if suffix == ".tsv":  # VLMEvalKit's layout: tab-separated, base64 images, shared pictures by reference
        return resolve_image_references(checker, file, _read_csv(checker, file, "\t"))
    text = read_text(checker, file, "data.path")
    if suffix == ".json":
        return _read_json(checker, file, text)
    rows = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            problem = f"{file.name} line {line_no} is not valid JSON ({exc.msg})"
            raise checker.error("data.path", problem, "fix that line") from None
        if not isinstance(row, dict):
            problem = f"{file.name} line {line_no} is not an object"
            raise checker.error("data.path", problem, "write one JSON object per line")
        rows.append(row)
    return rows


def read_text(checker: Checker, file: Path, field: str) -> str:
    """A file as UTF-8 text (a leading byte-order mark is dropped), or one line saying why not."""
    try:
        return file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        problem = f"{file.name} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})"
        raise checker.error(field, problem, "save it as UTF-8") from None
    except OSError as exc:
        raise checker.error(field, f"{file.name} cannot be read ({exc.strerror})", "check the permissions") from None


class _Object(dict[str, Any]):
    """A JSON object that remembers the keys it had more than once (``json`` keeps the last silently)."""

    repeated: dict[str, int]


def _object(pairs: list[tuple[str, Any]]) -> _Object:
    out = _Object(pairs)
    counts: dict[str, int] = {}
    for key, _ in pairs:
        counts[key] = counts.get(key, 0) + 1
    out.repeated = {k: n for k, n in counts.items() if n > 1}
    return out


def _read_json(checker: Checker, file: Path, text: str) -> list[dict[str, Any]]:
    try:
        value = json.loads(text, object_pairs_hook=_object)
    except json.JSONDecodeError as exc:
        problem = f"{file.name} is not valid JSON (line {exc.lineno}: {exc.msg})"
        raise checker.error("data.path", problem, "fix the file") from None
    if isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
        # {"<id>": {...}, ...}: objects keyed by their id (PubMedQA's published ori_pqal.json).
        # The key becomes the column KEY_COLUMN (map it with fields: {id: _key}).
        repeated = getattr(value, "repeated", {})
        if repeated:  # the last one would win and the first item vanish without a word
            key, times = next(iter(repeated.items()))
            more = f" (and {len(repeated) - 1} more ids)" if len(repeated) > 1 else ""
            problem = f"{file.name}: id '{key}' appears {times} times{more}; JSON keeps only the last"
            raise checker.error("data.path", problem, "give each item its own id, or remove the duplicate")
        value = [{KEY_COLUMN: str(k), **v} for k, v in value.items()]
    elif isinstance(value, dict):
        # {"data": [...]} and similar single-key wrappers.
        lists = [v for v in value.values() if isinstance(v, list)]
        value = lists[0] if len(lists) == 1 else None
    if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
        raise checker.error("data.path", f"{file.name} is not a list of objects", "store one object per item")
    return value


def _read_csv(checker: Checker, file: Path, delimiter: str = ",") -> list[dict[str, Any]]:
    """A CSV (or, with a tab, TSV) file with a header row, as Excel and pandas write it.

    The csv module parses the file itself, so quoted cells may hold line breaks,
    and the byte-order mark Excel puts first is dropped (it would otherwise become
    part of the first column's name). A row with more or fewer cells than the
    header (an unquoted comma, a lost cell) is an error, never a shifted row.
    """
    text = read_text(checker, file, "data.path")
    csv.field_size_limit(max(csv.field_size_limit(), _MAX_CELL))  # a base64 picture is one (long) cell
    stream = io.StringIO(text, newline="")
    reader = csv.DictReader(stream, delimiter=delimiter, restkey="\0extra", restval="\0missing")
    rows = []
    try:
        for row in reader:
            if "\0extra" in row or "\0missing" in row.values():
                cells = "more" if "\0extra" in row else "fewer"
                problem = f"{file.name} line {reader.line_num} has {cells} cells than the header"
                raise checker.error("data.path", problem, "quote cells that contain commas, and fill every column")
            rows.append(dict(row))
    except csv.Error as exc:
        raise checker.error("data.path", f"{file.name} is not valid CSV ({exc})", "fix the file") from None
    return rows


def _read_parquet(checker: Checker, file: Path) -> list[dict[str, Any]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise checker.error("data.path", "reading Parquet needs pyarrow", "pip install pyarrow") from None
    try:
        return list(pq.read_table(file).to_pylist())
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types; the message says which
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise checker.error(
            "data.path", f"{file.name} is not a readable Parquet file ({first})", "fix the file"
        ) from None


def _read_dataset(
    checker: Checker, suite_path: Path, spec: Mapping[str, Any], root: Path | None
) -> list[dict[str, Any]]:
    try:
        import datasets
    except ImportError:
        raise checker.error("data.dataset", "needs the 'datasets' package", "pip install datasets") from None
    kwargs: dict[str, Any] = {"split": spec.get("split", "test")}
    if spec.get("name"):
        kwargs["name"] = spec["name"]
    if spec.get("revision"):
        kwargs["revision"] = spec["revision"]
    if "data_files" in spec:
        kwargs["data_files"] = _resolve_files(checker, suite_path, spec["data_files"], root)
    try:
        dataset = datasets.load_dataset(spec["path"], **kwargs)
    except Exception as exc:  # noqa: BLE001 - datasets raises many types; the message is what helps
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        offline = any(os.environ.get(v, "").lower() in ("1", "true", "yes") for v in _OFFLINE)
        fix = (
            "offline (HF_HUB_OFFLINE or HF_DATASETS_OFFLINE is set), hub datasets load only from the local cache: "
            "load it once where the hub is reachable, or save it to a file and point data.path at it "
            "(docs/suites.md, 'A local copy of a hub dataset')"
            if offline
            else "check the name and split, or save the dataset to a file and point data.path at it"
        )
        raise checker.error("data.dataset", f"load_dataset('{spec['path']}') failed: {first}", fix) from None
    return [dict(row) for row in dataset]


def _resolve_files(checker: Checker, suite_path: Path, files: Any, root: Path | None) -> Any:
    """Make relative data_files relative to the suite, like data.path (and confined the same way)."""
    if isinstance(files, str):
        candidate = suite_path.parent / files
        if candidate.exists():
            return str(local_file(checker, suite_path, files, "data.dataset.data_files", root))
        return files
    if isinstance(files, list):
        return [_resolve_files(checker, suite_path, f, root) for f in files]
    if isinstance(files, dict):
        return {k: _resolve_files(checker, suite_path, v, root) for k, v in files.items()}
    return files
