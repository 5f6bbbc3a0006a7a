"""Benchmarks that write the options into the question (MedXpertQA: "... Answer Choices: (A) .. (E) ..") and
publish them as an object keyed by label: ``prompt.choices_in_question`` shows them once, refuses a template
that lists them again and any perturbation that would move them; an options object is read in label order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_medmodel import load_suite
from pytest_medmodel.perturb.plan import SuiteVariants
from pytest_medmodel.suite.types import SuiteError

ROWS = [
    {"id": "q1", "question": "Which? Answer Choices: (A) x (B) y (C) z", "options": {"A": "x", "B": "y", "C": "z"},
     "label": "B"},
    {"id": "q2", "question": "Else? Answer Choices: (A) u (B) v", "options": {"B": "v", "A": "u"}, "label": "A"},
]  # fmt: skip
PROMPT = "prompt: {template: 'Q: {question}\\nA:', choices_in_question: true, answer_prefix: ''}\n"


def _suite(tmp_path: Path, prompt: str = PROMPT, extra: str = "", rows: list[dict] = ROWS) -> Path:
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    suite = tmp_path / "t.suite.yaml"
    data = "data: {path: d.jsonl, fields: {choices: options, answer: label}, answer_format: letter}\n"
    suite.write_text(data + prompt + "scoring: {method: generate}\n" + extra)
    return suite


def _error(suite: Path) -> str:
    with pytest.raises(SuiteError) as info:
        SuiteVariants(load_suite(suite)).selected()
    assert "\n" not in str(info.value)
    return str(info.value)


def test_an_options_object_is_read_in_label_order_and_the_question_shows_them(tmp_path: Path) -> None:
    suite = load_suite(_suite(tmp_path))
    assert [item.choices for item in suite.items] == [("x", "y", "z"), ("u", "v")]
    assert [item.answer for item in suite.items] == [1, 0]
    assert "{choices}" not in suite.prompt.template


def test_without_the_setting_a_template_that_never_shows_the_options_is_refused(tmp_path: Path) -> None:
    prompt = "prompt: {template: 'Q: {question}\\nA:', answer_prefix: ''}\n"
    assert "prompt.template: generate scoring asks for an option's label" in _error(_suite(tmp_path, prompt))


def test_a_template_that_lists_the_options_again_is_refused(tmp_path: Path) -> None:
    prompt = "prompt: {template: 'Q: {question}\\n{choices}', choices_in_question: true}\n"
    message = _error(_suite(tmp_path, prompt))
    assert "prompt.template: shows {choices}, but prompt.choices_in_question says the question already" in message


@pytest.mark.parametrize("perturbation", ["shuffle_choices", "reverse_choices", "add_distractor", "relabel_choices"])
def test_a_perturbation_that_moves_the_options_is_refused(tmp_path: Path, perturbation: str) -> None:
    message = _error(_suite(tmp_path, extra=f"perturbations: [{perturbation}]\n"))
    assert f"perturbations: {perturbation}: moves, adds or relabels the options" in message


def test_a_perturbation_that_leaves_the_options_alone_is_kept(tmp_path: Path) -> None:
    variants = SuiteVariants(load_suite(_suite(tmp_path, extra="perturbations: [change_case]\n"))).selected()
    assert sorted(variants) == ["q1", "q1/change_case", "q2", "q2/change_case"]


@pytest.mark.parametrize(
    ("options", "shown"),
    [({"A": "x", "C": "z"}, "['A', 'C']"), ({"a": "x", "b": "y"}, "['a', 'b']")],
)
def test_options_keyed_by_anything_but_the_first_labels_are_refused(tmp_path: Path, options: dict, shown: str) -> None:
    rows = [{**ROWS[0], "options": options, "label": "A"}]
    message = _error(_suite(tmp_path, rows=rows))
    assert f"row 1 (id q1): options: options are keyed {shown}, not by the labels" in message
