"""``data.derive``: columns made from a row's own cells (ProbMed's category inside ``qa_type``), usable as
tags, groups and filters; every misuse is one line naming the derived column."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import suite_error

from pytest_medmodel import load_suite
from pytest_medmodel.suite import derive

ROWS = [
    {"img": "7", "qa_type": "modality_gt", "question": "Is this a CT?", "answer": "yes"},
    {"img": "7", "qa_type": "modality_hallu", "question": "Is this an MRI?", "answer": "no"},
    {"img": "7", "qa_type": "entity_gt_2", "question": "Is there a nodule?", "answer": "yes"},
    {"img": "8", "qa_type": "abnormality", "question": "Is anything abnormal?", "answer": "no"},
]
DERIVE = "{kind: {from: qa_type, match: '(modality|entity|abnormality)(?:_|$)'}, probe: {template: '{img}/{kind}'}}"


def _suite(
    tmp_path: Path, derive_spec: str = DERIVE, extra: str = "", rows: list[dict] = ROWS, fields: str = "{id: __row__}"
) -> Path:
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    suite = tmp_path / "t.suite.yaml"
    suite.write_text(f"task: yes_no\ndata:\n  path: d.jsonl\n  derive: {derive_spec}\n  fields: {fields}\n{extra}")
    return suite


def test_derived_columns_become_tags_and_groups(tmp_path: Path) -> None:
    suite = load_suite(_suite(tmp_path, fields="{id: __row__, group: probe, tags: kind}"))
    assert [item.tags for item in suite.items] == [("modality",), ("modality",), ("entity",), ("abnormality",)]
    assert [item.group for item in suite.items] == ["7/modality", "7/modality", "7/entity", "8/abnormality"]


def test_a_pattern_without_a_group_keeps_the_whole_match_and_a_filter_can_use_it(tmp_path: Path) -> None:
    spec = "{role: {from: qa_type, match: '[a-z]+'}, probe: {template: '{img}-{role}'}}"
    suite = load_suite(_suite(tmp_path, spec, "  where: {role: modality}\n", fields="{id: __row__, group: probe}"))
    assert [item.group for item in suite.items] == ["7-modality", "7-modality"]


def test_the_derived_values_are_part_of_the_fingerprint(tmp_path: Path) -> None:
    grouped = "{id: __row__, group: probe}"
    first = load_suite(_suite(tmp_path, fields=grouped)).fingerprint
    coarser = "{kind: {from: qa_type, match: '[a-z]'}, probe: {template: '{img}/{kind}'}}"
    assert load_suite(_suite(tmp_path, coarser, fields=grouped)).fingerprint != first


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("[a, b]", "data.derive: expected a mapping of new column to {from: <column>, match: <pattern>}"),
        ("{}", "data.derive: is empty"),
        ("{kind: {from: qa_type}}", "data.derive.kind: needs from and match, or a template"),
        ("{kind: {from: qa_type, match: '(a'}}", "data.derive.kind.match: is not a regular expression"),
        ("{kind: {template: 'x', match: 'a'}}", "data.derive.kind: has both template and from/match"),
        ("{kind: {template: 'no columns'}}", "data.derive.kind.template: names no column"),
        ("{kind: {template: '{}/x'}}", "data.derive.kind.template: has an empty or unusable {placeholder}"),
        ("{kind: {form: qa_type, match: a}}", "data.derive.kind.form: unknown key; did you mean 'from'?"),
        ("{kind: {from: qa_typ, match: a}}", "data.derive.kind: column 'qa_typ' is not in the data"),
        ("{answer: {from: qa_type, match: a}}", "data.derive.answer: d.jsonl already has a column 'answer'"),
        (
            "{kind: {from: qa_type, match: '(modality|entity)'}}",
            "data.derive.kind: row 4 of d.jsonl: qa_type 'abnormality' does not match '(modality|entity)'",
        ),
    ],
)
def test_a_misused_derive_is_one_line_naming_the_column(tmp_path: Path, spec: str, expected: str) -> None:
    assert expected in suite_error(_suite(tmp_path, spec))


def test_a_list_cell_is_refused_not_stringified(tmp_path: Path) -> None:
    rows = [{**ROWS[0], "qa_type": ["modality_gt"]}]
    message = suite_error(_suite(tmp_path, "{kind: {from: qa_type, match: a}}", rows=rows))
    assert "data.derive.kind: row 1 of d.jsonl: qa_type is a list, not text" in message


def test_a_pattern_that_runs_too_long_is_stopped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(derive, "PATTERN_SECONDS", 0.01)
    rows = [{**ROWS[0], "qa_type": "a" * 40 + "!"}]
    message = suite_error(_suite(tmp_path, "{kind: {from: qa_type, match: '(a|aa)+$'}}", rows=rows))
    assert "the pattern ran over 0.01 s" in message
