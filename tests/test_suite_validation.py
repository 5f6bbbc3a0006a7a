"""Every malformed suite fails collection with one line: file, field, problem, fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import Project

from pytest_medmodel import SuiteError, load_suite

GOOD_ROWS = [
    {"id": "a1", "question": "Which?", "choices": ["x", "y", "z"], "answer": "B"},
    {"id": "a2", "question": "Which else?", "choices": ["x", "y", "z"], "answer": "C"},
]


def _write(tmp: Path, yaml_text: str, rows: list[dict] | None = GOOD_ROWS, data_name: str = "items.jsonl") -> Path:
    if rows is not None:
        (tmp / data_name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    suite = tmp / "bad.suite.yaml"
    suite.write_text(yaml_text)
    return suite


BAD_SUITES = {
    "unknown top-level key": (
        "task: multiple_choice\ndata: {path: items.jsonl}\nscorng: letter\n",
        GOOD_ROWS,
        "bad.suite.yaml: scorng: unknown key; did you mean 'scoring'?",
    ),
    "unknown nested key": (
        "data: {path: items.jsonl}\nprompt: {tempalte: 'Q: {question}'}\n",
        GOOD_ROWS,
        "bad.suite.yaml: prompt.tempalte: unknown key; did you mean 'template'?",
    ),
    "unknown field mapping key": (
        "data:\n  path: items.jsonl\n  fields: {qestion: question}\n",
        GOOD_ROWS,
        "bad.suite.yaml: data.fields.qestion: unknown key; did you mean 'question'?",
    ),
    "missing data file": (
        "data: {path: nowhere.jsonl}\n",
        None,
        "bad.suite.yaml: data.path: file not found: */nowhere.jsonl; give a path relative to the suite file",
    ),
    "duplicate item ids": (
        "data: {path: items.jsonl}\n",
        [GOOD_ROWS[0], {**GOOD_ROWS[1], "id": "a1"}],
        "bad.suite.yaml: row 2 (id a1): id: duplicate item id 'a1' (first at row 1); make item ids unique",
    ),
    "answer letter not among the choices": (
        "data: {path: items.jsonl}\n",
        [GOOD_ROWS[0], {**GOOD_ROWS[1], "answer": "E"}],
        "bad.suite.yaml: row 2 (id a2): answer: answer 'E' is not among the choices (A-C or their texts); fix the answer or the field mapping",
    ),
    "answer index out of range": (
        "data: {path: items.jsonl}\n",
        [GOOD_ROWS[0], {**GOOD_ROWS[1], "answer": 4}],
        "bad.suite.yaml: row 2 (id a2): answer: answer index 4 is not among the 3 choices (counted from 0 or 1); fix the answer, or set data.answer_format",
    ),
    "yes/no/maybe answer that is not a word of the task": (
        "task: yes_no_maybe\ndata: {path: items.jsonl}\n",
        [{"id": "y1", "question": "Did it?", "context": "A study.", "answer": "probably"}],
        "bad.suite.yaml: row 1 (id y1): answer: answer 'probably' is not among the choices (yes, no, maybe); fix the answer or the field mapping",
    ),
    "mapped column missing from the data": (
        "data:\n  path: items.jsonl\n  fields: {question: questoin}\n",
        GOOD_ROWS,
        "bad.suite.yaml: data.fields.question: column 'questoin' is not in the data; did you mean 'question'?",
    ),
    "unknown task": (
        "task: multiple_choise\ndata: {path: items.jsonl}\n",
        GOOD_ROWS,
        "bad.suite.yaml: task: unknown value 'multiple_choise'; did you mean 'multiple_choice'?",
    ),
    "unknown scoring method": (
        "data: {path: items.jsonl}\nscoring: {method: logprob}\n",
        GOOD_ROWS,
        "bad.suite.yaml: scoring.method: unknown value 'logprob'; use one of letter, loglikelihood, generate",
    ),
    "unknown template placeholder": (
        "data: {path: items.jsonl}\nprompt: {template: 'Q: {question} {choice}'}\n",
        GOOD_ROWS,
        "bad.suite.yaml: prompt.template: unknown placeholder '{choice}'; did you mean '{choices}'?",
    ),
    "wrong value type": (
        "data: {path: items.jsonl}\ngates: {accuracy: {max_drop: lots}}\n",
        GOOD_ROWS,
        "bad.suite.yaml: gates.accuracy.max_drop: expected a number between 0 and 1, got text; write a number between 0 and 1",
    ),
    "fraction out of range": (
        "data: {path: items.jsonl}\ngates: {accuracy: {max_drop: 5}}\n",
        GOOD_ROWS,
        "bad.suite.yaml: gates.accuracy.max_drop: 5.0 is outside [0, 1]; write a fraction such as 0.05",
    ),
    "a gate's own alpha": (
        "data: {path: items.jsonl}\ngates: {accuracy: {alpha: 0.05}}\n",
        GOOD_ROWS,
        "bad.suite.yaml: gates.accuracy.alpha: a gate no longer has its own alpha: every gate of a suite shares "
        "the suite's alpha (Holm), so that the suite as a whole keeps its false-alarm rate; delete it and write "
        "alpha: 0.05 at the top of the suite file (default 0.01)",
    ),
    "a perturbation gate's own alpha": (
        "data: {path: items.jsonl}\nperturbations: [{name: reverse_choices, gates: {accuracy: {alpha: 0.05}}}]\n",
        GOOD_ROWS,
        "bad.suite.yaml: perturbations[0].gates.accuracy.alpha: a gate no longer has its own alpha: *",
    ),
    "suite alpha out of range": (
        "data: {path: items.jsonl}\nalpha: 0\n",
        GOOD_ROWS,
        "bad.suite.yaml: alpha: 0 leaves no room for a test; write a level such as 0.01",
    ),
    "unknown tolerance": (
        "data: {path: items.jsonl}\ngates: {accuracy: {tolerance: strict}}\n",
        GOOD_ROWS,
        "bad.suite.yaml: gates.accuracy.tolerance: unknown value 'strict'; use point or margin",
    ),
    "invalid YAML": (
        "data: {path: items.jsonl\ntask: [\n",
        GOOD_ROWS,
        "bad.suite.yaml: line *: invalid YAML (*); fix the YAML syntax",
    ),
    "no data section": (
        "task: multiple_choice\n",
        GOOD_ROWS,
        "bad.suite.yaml: data: missing; add data: {path: items.jsonl} (relative to the suite)",
    ),
    "choices stored as text": (
        "data: {path: items.jsonl}\n",
        [{"id": "a1", "question": "Which?", "choices": "x, y, z", "answer": "B"}],
        "bad.suite.yaml: row 1 (id a1): choices: choices is text, not a list; store choices as a list, or map data.fields.choices to a list of columns",
    ),
    "item id that would break test ids": (
        "data: {path: items.jsonl}\n",
        [{**GOOD_ROWS[0], "id": "a 1]"}],
        "bad.suite.yaml: row 1 (id a 1]): id: item id 'a 1]' has characters that break test ids; use letters, digits, '_', '.', ':' and '-'",
    ),
}


@pytest.mark.parametrize("case", list(BAD_SUITES), ids=list(BAD_SUITES))
def test_bad_suite_fails_collection_with_one_line(project: Project, case: str) -> None:
    yaml_text, rows, expected = BAD_SUITES[case]
    suites = project.path / "suites"
    suites.mkdir()
    _write(suites, yaml_text, rows)
    result = project.run()
    assert result.ret == pytest.ExitCode.INTERRUPTED  # collection error stops the run
    lines = result.stdout.lines
    header = next(i for i, line in enumerate(lines) if "ERROR collecting suites/bad.suite.yaml" in line)
    body = lines[header + 1]
    # Exactly one line between the section header and the next separator.
    assert lines[header + 2].startswith("=") or lines[header + 2].startswith("_"), lines[header : header + 4]
    assert body.startswith(str(suites / "bad.suite.yaml")), body
    from fnmatch import fnmatch

    assert fnmatch(body, "*" + expected.replace("[", "[[]")), f"\n{body}\n!=\n{expected}"


def test_other_yaml_files_are_never_collected(project: Project) -> None:
    (project.path / "config.yaml").write_text("not: [a suite")
    (project.path / "suites").mkdir()
    (project.path / "suites" / "notes.yml").write_text("anything")
    result = project.pytester.runpytest("--collect-only")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED


def test_field_mapping_separate_choice_columns_and_index_answers(tmp_path: Path) -> None:
    rows = [
        {
            "qid": 7,
            "stem": "Which drug?",
            "opa": "aspirin",
            "opb": "heparin",
            "opc": "insulin",
            "opd": "",
            "cop": 1,
            "subject": "pharmacology",
        },
        {
            "qid": 8,
            "stem": "Which organ?",
            "opa": "liver",
            "opb": "pancreas",
            "opc": "kidney",
            "opd": "heart",
            "cop": 3,
            "subject": "anatomy",
        },
    ]
    suite = _write(
        tmp_path,
        "data:\n  path: items.jsonl\n  answer_format: index1\n  fields:\n    id: qid\n    question: stem\n    choices: [opa, opb, opc, opd]\n    answer: cop\n    tags: subject\n",
        rows,
    )
    loaded = load_suite(suite)
    first, second = loaded.items
    assert first.id == "7" and first.choices == ("aspirin", "heparin", "insulin") and first.answer == 0
    assert second.answer == 2 and second.tags == ("anatomy",)


def test_csv_and_answer_text(tmp_path: Path) -> None:
    (tmp_path / "items.csv").write_text("id,question,a,b,answer\nc1,Is it?,yes,no,no\n")
    suite = _write(tmp_path, "data:\n  path: items.csv\n  fields: {choices: [a, b]}\n", rows=None)
    (item,) = load_suite(suite).items
    assert item.choices == ("yes", "no") and item.answer == 1


def test_parquet_source(tmp_path: Path) -> None:
    pyarrow = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    table = pyarrow.table({"id": ["p1"], "question": ["Q?"], "choices": [["a", "b", "c"]], "answer": ["C"]})
    pq.write_table(table, tmp_path / "items.parquet")
    suite = _write(tmp_path, "data: {path: items.parquet}\n", rows=None)
    assert load_suite(suite).items[0].answer == 2


def test_datasets_source_with_local_builder(tmp_path: Path) -> None:
    (tmp_path / "items.jsonl").write_text(json.dumps(GOOD_ROWS[0]) + "\n")
    suite = _write(tmp_path, "data:\n  dataset: {path: json, data_files: items.jsonl, split: train}\n", rows=None)
    assert load_suite(suite).items[0].id == "a1"


def test_datasets_source_that_cannot_load_is_one_line(tmp_path: Path) -> None:
    suite = _write(tmp_path, "data:\n  dataset: {path: nobody/does-not-exist}\n", rows=None)
    with pytest.raises(SuiteError) as info:
        load_suite(suite)
    assert str(info.value).startswith(f"{suite}: data.dataset: load_dataset('nobody/does-not-exist') failed: ")
    assert "\n" not in str(info.value)
    # Offline (as the tests run), the way out is a local copy: the line says how to point the suite at one.
    assert str(info.value).endswith(
        "offline (HF_HUB_OFFLINE or HF_DATASETS_OFFLINE is set), hub datasets load only from the local cache: "
        "load it once where the hub is reachable, or save it to a file and point data.path at it "
        "(docs/suites.md, 'A local copy of a hub dataset')"
    )


def test_suite_fingerprint_follows_content(tmp_path: Path) -> None:
    suite = _write(tmp_path, "data: {path: items.jsonl}\n")
    first = load_suite(suite)
    assert load_suite(suite).fingerprint == first.fingerprint
    suite.write_text("data: {path: items.jsonl}\nprompt: {answer_prefix: 'The answer is'}\n")
    assert load_suite(suite).fingerprint != first.fingerprint


def test_two_suites_with_the_same_name_would_share_a_baseline(project: Project) -> None:
    for folder in ("a", "b"):
        (project.path / "suites" / folder).mkdir(parents=True)
        _write(project.path / "suites" / folder, "data: {path: items.jsonl}\n")
    result = project.run()
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(
        [
            "*suites/b/bad.suite.yaml: name: suite name 'bad' is also used by *suites/a/bad.suite.yaml (both would share baselines/<profile>/bad.json); set a distinct name: in one of them"
        ]
    )


def test_index_answers_state_or_show_their_base_and_csv_writes_them_as_text(tmp_path: Path) -> None:
    rows = [{**GOOD_ROWS[0], "answer": 1}, {**GOOD_ROWS[1], "answer": 2}]  # 0- or 1-based: the data cannot say
    with pytest.raises(SuiteError, match="the answers are 1 to 2 only"):
        load_suite(_write(tmp_path, "data: {path: items.jsonl}\n", rows))
    assert [
        i.answer for i in load_suite(_write(tmp_path, "data: {path: items.jsonl, answer_format: index0}\n", rows)).items
    ] == [1, 2]
    assert [
        i.answer for i in load_suite(_write(tmp_path, "data: {path: items.jsonl, answer_format: index1}\n", rows)).items
    ] == [0, 1]
    shown = [{**GOOD_ROWS[0], "answer": 0}, {**GOOD_ROWS[1], "answer": 2}]  # a 0: counted from 0
    assert [i.answer for i in load_suite(_write(tmp_path, "data: {path: items.jsonl}\n", shown)).items] == [0, 2]
    (tmp_path / "items.csv").write_text("id,question,a,b,c,answer\nc1,Is it?,x,y,z,2\nc2,Or?,x,y,z,3\n")
    csv = "data: {path: items.csv, answer_format: index, fields: {choices: [a, b, c]}}\n"
    assert [i.answer for i in load_suite(_write(tmp_path, csv, rows=None)).items] == [1, 2]  # a 3 of 3: from 1
