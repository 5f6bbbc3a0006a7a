"""``data.items_per_row``: one record of the data, several items (MediConfusion's two images per question),
grouped by the record's id; every misuse is one line naming the key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import suite_error

from pytest_medmodel import load_suite

PAIRS = {
    "p1": {"q": "Which organ?", "a": "Liver", "b": "Lung", "key_1": "A", "key_2": "B", "cat_1": ["x"], "cat_2": "y"},
    "p2": {"q": "Which side?", "a": "Left", "b": "Right", "key_1": "B", "key_2": "A", "cat_1": [], "cat_2": "z"},
}
ENTRIES = "[{suffix: '1', answer: key_1, tags: cat_1}, {suffix: '2', answer: key_2, tags: cat_2}]"


def _suite(tmp_path: Path, entries: str = ENTRIES, fields: str = "id: _key, ", data: object = PAIRS) -> Path:
    (tmp_path / "pairs.json").write_text(json.dumps(data))
    suite = tmp_path / "p.suite.yaml"
    suite.write_text(
        f"data:\n  path: pairs.json\n  fields: {{{fields}question: q, choices: [a, b]}}\n  items_per_row: {entries}\n"
    )
    return suite


def test_each_row_becomes_one_item_per_entry_grouped_by_the_row(tmp_path: Path) -> None:
    suite = load_suite(_suite(tmp_path))
    assert [item.id for item in suite.items] == ["p1:1", "p1:2", "p2:1", "p2:2"]
    assert [item.group for item in suite.items] == ["p1", "p1", "p2", "p2"]
    assert [item.answer for item in suite.items] == [0, 1, 1, 0]
    assert [item.tags for item in suite.items] == [("x",), ("y",), (), ("z",)]
    assert suite.items[0].question == suite.items[1].question and suite.items[0].choices == ("Liver", "Lung")
    assert "set_accuracy" in suite.gate_names  # the groups bring the probe-group gate, as a group column does


def test_rows_without_ids_are_numbered_and_their_items_named_after_the_number(tmp_path: Path) -> None:
    rows = [dict(v) for v in PAIRS.values()]
    suite = load_suite(_suite(tmp_path, fields="id: __row__, ", data=rows))
    assert [item.id for item in suite.items] == ["row-00001:1", "row-00001:2", "row-00002:1", "row-00002:2"]


def test_which_column_an_entry_reads_is_part_of_the_fingerprint(tmp_path: Path) -> None:
    first = load_suite(_suite(tmp_path)).fingerprint
    swapped = "[{suffix: '1', answer: key_2}, {suffix: '2', answer: key_1}]"
    assert load_suite(_suite(tmp_path, swapped)).fingerprint != first
    assert load_suite(_suite(tmp_path)).fingerprint == first


def test_a_bad_row_names_the_items_id_and_the_entrys_column(tmp_path: Path) -> None:
    data = {**PAIRS, "p2": {**PAIRS["p2"], "key_2": "C"}}
    message = suite_error(_suite(tmp_path, data=data))
    assert "row 2 (id p2:2): key_2: answer 'C' is not among the choices (A-B or their texts)" in message


@pytest.mark.parametrize(
    ("entries", "fields", "expected"),
    [
        ("{suffix: '1'}", "id: _key, ", "data.items_per_row: expected a list of {suffix, <field>: <column>} mappings"),
        ("[{suffix: '1', answer: key_1}]", "id: _key, ", "expected a list of two or more entries, got a list of 1"),
        ("[{answer: key_1}, {suffix: '2', answer: key_2}]", "id: _key, ", "data.items_per_row[1].suffix: missing"),
        (
            "[{suffix: 'a:b', answer: key_1}, {suffix: '2', answer: key_2}]",
            "id: _key, ",
            "data.items_per_row[1].suffix: 'a:b' is not a usable suffix",
        ),
        (
            "[{suffix: '1', answer: key_1}, {suffix: '1', answer: key_2}]",
            "id: _key, ",
            "data.items_per_row[2].suffix: '1' is used twice",
        ),
        ("[{suffix: '1'}, {suffix: '2', answer: key_2}]", "id: _key, ", "data.items_per_row[1]: changes no field"),
        (
            "[{suffix: '1', answr: key_1}, {suffix: '2', answer: key_2}]",
            "id: _key, ",
            "data.items_per_row[1].answr: unknown key; did you mean 'answer'?",
        ),
        (
            "[{suffix: '1', id: key_1}, {suffix: '2', answer: key_2}]",
            "id: _key, ",
            "data.items_per_row[1].id: cannot differ between the items of a row",
        ),
        (ENTRIES, "id: _key, group: q, ", "data.fields.group: the items of a row are grouped by the row's id"),
        (ENTRIES, "id: pair, ", "data.fields.id: column 'pair' (each row's id, which names its items) is not in"),
        (
            "[{suffix: '1', answer: key_9}, {suffix: '2', answer: key_2}]",
            "id: _key, ",
            "data.items_per_row[1].answer: column 'key_9' is not in the data; did you mean 'key_2'?",
        ),
    ],
)
def test_a_misused_items_per_row_is_one_line_naming_the_key(
    tmp_path: Path, entries: str, fields: str, expected: str
) -> None:
    assert expected in suite_error(_suite(tmp_path, entries, fields))


def test_a_row_without_an_id_is_refused(tmp_path: Path) -> None:
    rows = [{"name": "p1", **PAIRS["p1"]}, {"name": "", **PAIRS["p2"]}]
    message = suite_error(_suite(tmp_path, fields="id: name, ", data=rows))
    assert "data.fields.id: row 2 has no id in 'name' to name its items after" in message


def test_a_data_column_named_like_the_derived_ones_is_refused(tmp_path: Path) -> None:
    rows = [{"name": "p1", "_item_id": "x", **PAIRS["p1"]}]
    message = suite_error(_suite(tmp_path, fields="id: name, ", data=rows))
    assert "data.items_per_row: the data has a column '_item_id' of its own" in message
