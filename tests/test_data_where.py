"""``data.where`` keeps a benchmark's published subset (closed questions, one language, one modality), and
``data.image_folder`` says where a benchmark's image paths start (SLAKE's ``imgs/``, PMC-VQA's ``figures/``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import suite_error

from pytest_medmodel import load_suite

ROWS = [
    {"id": "a", "question": "Is this a CT?", "answer": "yes", "q_lang": "en", "n": 1},
    {"id": "b", "question": "这是CT吗?", "answer": "no", "q_lang": "zh", "n": 2},
    {"id": "c", "question": "Which side?", "answer": "left", "q_lang": "en", "n": 3},
    {"id": "d", "question": "Is it normal?", "answer": "No", "q_lang": "en", "n": 3},
]


def _suite(tmp_path: Path, data: str, rows: list[dict] = ROWS) -> Path:
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    suite = tmp_path / "t.suite.yaml"
    suite.write_text(f"task: yes_no\ndata: {{path: d.jsonl, {data}}}\n")
    return suite


def test_where_keeps_the_rows_whose_every_column_matches(tmp_path: Path) -> None:
    suite = load_suite(_suite(tmp_path, "where: {q_lang: en, answer: ['yes', 'no', 'No']}"))
    assert [item.id for item in suite.items] == ["a", "d"]  # c is open, b is Chinese
    assert "rows where q_lang in ['en'], answer in ['yes', 'no', 'No']" in suite.source


def test_a_number_matches_the_same_number_and_limit_counts_kept_rows(tmp_path: Path) -> None:
    rows = [{**r, "answer": "yes"} for r in ROWS]
    assert [i.id for i in load_suite(_suite(tmp_path, "where: {n: 3}", rows)).items] == ["c", "d"]
    assert [i.id for i in load_suite(_suite(tmp_path, "where: {n: [1, 3]}, limit: 2", rows)).items] == ["a", "c"]


def test_a_changed_filter_that_keeps_other_rows_is_another_suite(tmp_path: Path) -> None:
    english = load_suite(_suite(tmp_path, "where: {q_lang: en, answer: ['yes', 'no', 'No']}")).fingerprint
    lowercase = load_suite(_suite(tmp_path, "where: {q_lang: en, answer: ['yes', 'no']}")).fingerprint
    same_rows = load_suite(_suite(tmp_path, "where: {answer: ['yes', 'No']}")).fingerprint
    assert english != lowercase
    assert english == same_rows  # the same items: the same predictions, so the same suite


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("{q_lnag: en}", "t.suite.yaml: data.where.q_lnag: column 'q_lnag' is not in the data; did you mean 'q_lang'?"),
        ("{zzz: en}", "data.where.zzz: column 'zzz' is not in the data; columns are: answer, id, n, q_lang, question"),
        ("{answer: [yes, no]}", "data.where.answer: True is a boolean (YAML reads unquoted yes/no as one); quote it"),
        ("{answer: []}", "data.where.answer: lists no value"),
        ("{answer: [[a]]}", "data.where.answer: expected text or a number, got a list"),
        ("{}", "data.where: is empty"),
        ("[q_lang]", "data.where: expected a mapping of column to value"),
        ("{q_lang: fr}", "data.where: no row of d.jsonl has q_lang in ['fr'] (4 rows read)"),
    ],
)
def test_a_bad_filter_is_one_line_naming_the_column(tmp_path: Path, where: str, expected: str) -> None:
    assert expected in suite_error(_suite(tmp_path, f"where: {where}"))


def _png(path: Path) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (90, 90, 90)).save(path)


def test_image_paths_start_at_the_image_folder(tmp_path: Path) -> None:
    """SLAKE's img_name (``xmlab1/source.jpg``) lies under ``imgs/`` beside the JSON file."""
    _png(tmp_path / "imgs" / "xmlab1" / "source.png")
    rows = [{"id": "a", "question": "Is this a CT?", "answer": "yes", "img_name": "xmlab1/source.png"}]
    suite = _suite(tmp_path, "image_folder: imgs, fields: {image: img_name}", rows)
    (item,) = load_suite(suite).items
    assert len(item.images) == 1
    assert "data.image_folder: folder not found: " in suite_error(_suite(tmp_path, "image_folder: pictures", rows))
    outside = suite_error(_suite(tmp_path, "image_folder: ..", rows), root=tmp_path)
    assert "data.image_folder: .. is outside the project root" in outside


def test_without_the_image_folder_the_paths_are_missing_files(tmp_path: Path) -> None:
    _png(tmp_path / "imgs" / "xmlab1" / "source.png")
    rows = [{"id": "a", "question": "Is this a CT?", "answer": "yes", "img_name": "xmlab1/source.png"}]
    assert "xmlab1/source.png" in suite_error(_suite(tmp_path, "fields: {image: img_name}", rows))
