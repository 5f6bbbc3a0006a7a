"""Reading a suite's rows: local JSONL/JSON/CSV/Parquet files or ``datasets`` sources.

Local files are read with the standard library (Parquet with pyarrow), which is
what collection wants: no dataset cache on disk and no heavy import for a
200-row file. Anything else goes through ``datasets.load_dataset``, imported only
then, so hub datasets, scripts-free builders and local folders all work.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .schema import DATA_KEYS, DATASET_KEYS, Checker

LOCAL_FORMATS = (".jsonl", ".json", ".csv", ".parquet")


def read_rows(checker: Checker, suite_path: Path, data: Mapping[str, Any]) -> tuple[list[dict[str, Any]], str]:
    """Return the raw rows of a suite's data section and a description of the source."""
    checker.mapping(data, "data", DATA_KEYS)
    if "path" in data and "dataset" in data:
        raise checker.error("data", "has both 'path' and 'dataset'", "keep one of them")
    if "path" in data:
        file = (suite_path.parent / data["path"]).resolve()
        if not file.is_file():
            raise checker.error("data.path", f"file not found: {file}", "give a path relative to the suite file")
        return _read_local(checker, file), str(file)
    if "dataset" in data:
        spec = checker.mapping(data["dataset"], "data.dataset", DATASET_KEYS)
        if "path" not in spec:
            raise checker.error("data.dataset.path", "missing", "name the dataset, e.g. path: org/name")
        return _read_dataset(checker, suite_path, spec), f"datasets:{spec['path']}"
    raise checker.error("data", "needs 'path' or 'dataset'", "add data: {path: items.jsonl}")


def _read_local(checker: Checker, file: Path) -> list[dict[str, Any]]:
    suffix = file.suffix.lower()
    if suffix not in LOCAL_FORMATS:
        raise checker.error("data.path", f"unsupported file type '{suffix}'", f"use one of {', '.join(LOCAL_FORMATS)}")
    if suffix == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise checker.error("data.path", "reading Parquet needs pyarrow", "pip install pyarrow") from None
        return pq.read_table(file).to_pylist()
    if suffix == ".csv":
        return _read_csv(checker, file)
    text = file.read_text(encoding="utf-8")
    if suffix == ".json":
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise checker.error(
                "data.path", f"{file.name} is not valid JSON (line {exc.lineno}: {exc.msg})", "fix the file"
            ) from None
        if isinstance(value, dict):
            # {"data": [...]} and similar single-key wrappers.
            lists = [v for v in value.values() if isinstance(v, list)]
            value = lists[0] if len(lists) == 1 else None
        if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
            raise checker.error("data.path", f"{file.name} is not a list of objects", "store one object per item")
        return value
    rows = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise checker.error(
                "data.path", f"{file.name} line {line_no} is not valid JSON ({exc.msg})", "fix that line"
            ) from None
        if not isinstance(row, dict):
            raise checker.error(
                "data.path", f"{file.name} line {line_no} is not an object", "write one JSON object per line"
            )
        rows.append(row)
    return rows


def _read_csv(checker: Checker, file: Path) -> list[dict[str, Any]]:
    """A CSV file with a header row, as Excel and pandas write it.

    The csv module parses the file itself (``newline=""``), so quoted cells may hold
    line breaks, and ``utf-8-sig`` drops the byte-order mark Excel puts first, which
    would otherwise become part of the first column's name.
    """
    with open(file, encoding="utf-8-sig", newline="") as handle:
        try:
            return [dict(row) for row in csv.DictReader(handle)]
        except csv.Error as exc:
            raise checker.error("data.path", f"{file.name} is not valid CSV ({exc})", "fix the file") from None


def _read_dataset(checker: Checker, suite_path: Path, spec: Mapping[str, Any]) -> list[dict[str, Any]]:
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
        kwargs["data_files"] = _resolve_files(suite_path, spec["data_files"])
    try:
        dataset = datasets.load_dataset(spec["path"], **kwargs)
    except Exception as exc:  # datasets raises many types; the message is what helps
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise checker.error(
            "data.dataset",
            f"load_dataset('{spec['path']}') failed: {first}",
            "check the name, split and network/offline settings",
        ) from None
    return [dict(row) for row in dataset]


def _resolve_files(suite_path: Path, files: Any) -> Any:
    """Make relative data_files relative to the suite, like data.path."""
    if isinstance(files, str):
        candidate = suite_path.parent / files
        return str(candidate) if candidate.exists() else files
    if isinstance(files, list):
        return [_resolve_files(suite_path, f) for f in files]
    if isinstance(files, dict):
        return {k: _resolve_files(suite_path, v) for k, v in files.items()}
    return files
