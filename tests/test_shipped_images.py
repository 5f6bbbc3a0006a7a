"""The DICOM files and the fundus photograph the shipped suites dicom_windows and fundus_sides show.

They are real files from PyPI packages, copied by scripts/make_windows_and_sides.py:
no copy may carry more than the script's whitelist (no name, ID, date or private
tag), and the script must still write exactly the committed bytes and answer keys.
"""

from __future__ import annotations

import importlib.util
import io
import json
from pathlib import Path
from types import ModuleType

import pytest

pydicom = pytest.importorskip("pydicom")

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "make_windows_and_sides.py"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_windows_and_sides", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _shipped() -> list[Path]:
    return sorted((ROOT / "suites" / "images" / "dicom").glob("*.dcm"))


def test_the_shipped_dicom_files_carry_only_the_whitelist() -> None:
    script = _script()
    allowed = {*script.KEEP, *script.EMPTY, *script.NEW_UIDS, "PatientIdentityRemoved", "DeidentificationMethod"}
    assert [p.name for p in _shipped()] == sorted(name for name, _, _ in script.SOURCES)
    for path in _shipped():
        dataset = pydicom.dcmread(path)
        keywords = {element.keyword for element in dataset}
        assert keywords <= allowed, (path.name, keywords - allowed)
        assert not any(element.tag.is_private for element in dataset), path.name
        assert all(str(dataset.get(k, "")) == "" for k in script.EMPTY), path.name
        assert dataset.PatientIdentityRemoved == "YES"
        meta = {element.keyword for element in dataset.file_meta}
        assert "SourceApplicationEntityTitle" not in meta, path.name
        assert dataset.file_meta.ImplementationVersionName == "PYTEST_MEDMODEL", path.name


def test_the_script_writes_the_committed_dicom_files_and_keys() -> None:
    """Every element and the pixel data as committed (bytes may differ under another pydicom's writer), and
    every copy decodes to the package file's pixels under each window of the suite (the script checks that)."""
    pytest.importorskip("data_store", reason="pydicom-data is not installed")
    for path, data in _script().dicom_outputs().items():
        stale = f"{path.relative_to(ROOT)}: rerun scripts/make_windows_and_sides.py"
        if path.suffix == ".dcm":
            written, committed = pydicom.dcmread(io.BytesIO(data)), pydicom.dcmread(path)
            assert written == committed and written.file_meta == committed.file_meta, stale
        else:
            assert path.read_bytes() == data, stale


def test_the_dicom_keys_are_the_files_own_tags() -> None:
    rows = [json.loads(line) for line in (ROOT / "suites" / "data" / "dicom_windows.jsonl").read_text().splitlines()]
    for row in rows:
        dataset = pydicom.dcmread(ROOT / "suites" / "data" / row["image"], stop_before_pixels=True)
        key = row["choices"]["ABCDE".index(row["answer"])]
        if row["asks"] == "modality":
            assert key == {"CT": "CT", "MR": "MRI"}[dataset.Modality], row["id"]
        else:
            named = (dataset.get("BodyPartExamined") or dataset.StudyDescription).upper()
            assert key == {"PANCREAS": "Abdomen", "HEAD": "Head", "SHOULDER": "Shoulder"}[named], row["id"]


def test_the_script_writes_the_committed_fundus_photograph_and_its_items() -> None:
    pytest.importorskip("skimage", reason="scikit-image is not installed")
    for path, data in _script().fundus_outputs().items():
        assert path.read_bytes() == data, f"{path.relative_to(ROOT)}: rerun scripts/make_windows_and_sides.py"
