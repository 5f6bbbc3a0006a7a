"""Options that carry their own label (PMC-VQA's ``A:Diffuse uptake pattern``): ``data.strip_choice_labels``
reads the text without it, ``prompt.choice_format`` writes the options as the benchmark's prompt does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import suite_error

from pytest_medmodel import load_suite
from pytest_medmodel.scoring.base import SCORERS
from pytest_medmodel.suite.types import Variant

ROW = {"id": "q1", "question": "Which uptake?", "a": "A:Diffuse", "b": "B.Focal", "c": "C:None", "answer": "B"}


def _suite(tmp_path: Path, extra: str = "", row: dict = ROW) -> Path:
    (tmp_path / "d.jsonl").write_text(json.dumps(row) + "\n")
    suite = tmp_path / "t.suite.yaml"
    suite.write_text(
        "data: {path: d.jsonl, strip_choice_labels: true, fields: {choices: [a, b, c]}, answer_format: letter}\n"
        "prompt: {template: \"Q: {question}\\n{choices}\\n\", answer_prefix: '', chat_template: never" + extra + "}\n"
    )
    return suite


def test_labels_are_stripped_and_written_back_by_the_choice_format(tmp_path: Path) -> None:
    plain = load_suite(_suite(tmp_path))
    assert plain.items[0].choices == ("Diffuse", "Focal", "None")
    request = SCORERS.get("letter").request(plain, Variant.of(plain.items[0]), None)
    assert request.context == "Q: Which uptake?\nA. Diffuse\nB. Focal\nC. None\n"
    formatted = load_suite(_suite(tmp_path, ", choice_format: '{label}:{choice}'"))
    request = SCORERS.get("letter").request(formatted, Variant.of(formatted.items[0]), None)
    assert request.context == "Q: Which uptake?\nA:Diffuse\nB:Focal\nC:None\n"
    assert formatted.fingerprint != plain.fingerprint


def test_a_suite_without_a_choice_format_keeps_its_fingerprint(tmp_path: Path) -> None:
    default = load_suite(_suite(tmp_path)).fingerprint
    assert load_suite(_suite(tmp_path, ", choice_format: '{label}. {choice}'")).fingerprint == default


def test_a_cell_without_its_label_is_one_line(tmp_path: Path) -> None:
    message = suite_error(_suite(tmp_path, row={**ROW, "c": "B:None"}))
    assert "row 1 (id q1): c: option 'B:None' does not start with its label 'C:'" in message


@pytest.mark.parametrize(
    ("fmt", "problem"),
    [
        ("'{label}'", "prompt.choice_format: has {label}; use exactly {label} and {choice}"),
        ("'{label}: {text}'", "prompt.choice_format: has {label}, {text}"),
        ("'{label'", "prompt.choice_format: is not a valid format"),
    ],
)
def test_a_bad_choice_format_is_one_line(tmp_path: Path, fmt: str, problem: str) -> None:
    assert problem in suite_error(_suite(tmp_path, f", choice_format: {fmt}"))


def test_an_option_a_json_row_leaves_out_is_not_there_a_null_one_is_refused(tmp_path: Path) -> None:
    """OmniMedVQA writes option_C and option_D only for questions that have them, the first row included."""
    two = {"id": "q1", "question": "Organ?", "option_A": "Eye", "option_B": "Lung", "answer": "Eye"}
    three = {"id": "q2", "question": "Modality?", "option_A": "CT", "option_B": "MRI", "option_C": "X-ray"}
    four = {"id": "q3", "question": "Plane?", "option_A": "Axial", "option_B": "Coronal", "option_C": "Sagittal"}
    rows = [two, {**three, "answer": "MRI"}, {**four, "option_D": "Oblique", "answer": "Axial"}]
    (tmp_path / "d.json").write_text(json.dumps(rows))
    suite = tmp_path / "t.suite.yaml"
    suite.write_text("data: {path: d.json, fields: {choices: [option_A, option_B, option_C, option_D]}}\n")
    choices = [("Eye", "Lung"), ("CT", "MRI", "X-ray"), ("Axial", "Coronal", "Sagittal", "Oblique")]
    assert [item.choices for item in load_suite(suite).items] == choices
    (tmp_path / "d.json").write_text(json.dumps([rows[0], {**rows[1], "option_D": None}, rows[2]]))
    assert "row 2 (id q2): option_D: the option is null (missing)" in suite_error(suite)
    (tmp_path / "d.json").write_text(json.dumps(rows[:2]))  # no row has option_D: a typo, or a column to drop
    assert "data.fields.choices: column 'option_D' is not in the data" in suite_error(suite)
