"""What a pull request can commit under ``baselines/`` must never make the plugin write outside it.

A committed update journal, a profile folder that is a symlink, a baseline folder that is
a symlink, and files that merely look like the plugin's temporaries: each is a case a
hostile or careless change can put in any CI run (issue 17, finding 1).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import Project, expect_lines

from pytest_medmodel.baselines.update import JOURNAL, JOURNAL_FORMAT


def _journal(project: Project, files: dict[str, str]) -> Path:
    folder = project.path / "baselines"
    folder.mkdir(exist_ok=True)
    journal = folder / JOURNAL
    journal.write_text(json.dumps({"format": JOURNAL_FORMAT, "files": files}))
    return journal


@pytest.mark.parametrize(
    "name",
    ["demo/../../../escaped.txt", "ABSOLUTE", "demo/notes.txt", "demo/sub/deeper.json", "../escaped.json", "x.json"],
)
def test_a_committed_journal_naming_anything_but_a_baseline_file_is_refused_and_kept(
    project: Project, name: str
) -> None:
    outside = project.path.parent / f"outside-{project.path.name}"
    outside.mkdir()
    target = str(outside / "escaped.json") if name == "ABSOLUTE" else name
    journal = _journal(project, {target: '{"pwned": true}'})
    (project.path / "tests").mkdir()
    (project.path / "tests" / "test_plain.py").write_text("def test_ok():\n    assert True\n")
    before = journal.read_bytes()
    plain = project.pytester.runpytest("tests", "-p", "no:randomly")  # no suites, no --medmodel: the plugin is off
    assert plain.ret == 0 and JOURNAL not in plain.stdout.str() and "medmodel summary" not in plain.stdout.str()
    assert journal.read_bytes() == before  # not even read
    project.suite("mini", 4)
    result = project.run()  # a suite run: the journal is looked at, and refused
    written = [p for p in (*outside.rglob("*"), *project.path.parent.glob("escaped*")) if p.is_file()]
    assert written == []
    assert not (project.path / "baselines" / "demo" / "notes.txt").exists()
    assert not (project.path / "baselines" / "demo" / "sub").exists()
    assert journal.read_bytes() == before  # left in place for a person to look at
    expect_lines(result, [f"*baselines/{JOURNAL}: refused*{json.dumps(target)[1:-1]}*left in place*"])


def test_a_journal_through_a_profile_symlink_leaving_the_project_is_refused(project: Project) -> None:
    outside = project.path.parent / f"outside-{project.path.name}"
    outside.mkdir()
    (project.path / "baselines").mkdir()
    os.symlink(outside, project.path / "baselines" / "demo")
    journal = _journal(project, {"demo/mini.json": '{"pwned": true}'})
    project.suite("mini", 4)
    result = project.run()
    assert list(outside.iterdir()) == []
    assert journal.is_file()
    expect_lines(result, [f"*baselines/{JOURNAL}: refused*demo/mini.json*outside*"])


def test_a_good_journal_is_still_completed(project: Project) -> None:
    project.suite("mini", 4)
    assert project.run("--snapshot-update").ret == 0
    good = (project.path / "baselines" / "oracle-make" / "mini.json").read_text()
    (project.path / "baselines" / "oracle-make" / "mini.json").write_text(good.replace('"A"', '"B"', 1))
    journal = _journal(project, {"oracle-make/mini.json": good})
    result = project.run()
    assert not journal.exists()
    assert (project.path / "baselines" / "oracle-make" / "mini.json").read_text() == good
    expect_lines(
        result, ["*completed an update that a killed run left half done: 1 baseline file(s) (oracle-make/mini.json)"]
    )


def test_snapshot_update_never_follows_a_profile_symlink_out_of_the_project(project: Project) -> None:
    outside = project.path.parent / f"outside-{project.path.name}"
    outside.mkdir()
    (project.path / "baselines").mkdir()
    os.symlink(outside, project.path / "baselines" / "oracle-make")
    project.suite("mini", 4)
    result = project.run("--snapshot-update")
    assert result.ret != 0
    assert list(outside.iterdir()) == []
    expect_lines(result, ["*baselines left untouched:*oracle-make/mini.json*outside the baseline folder*"])


def test_a_baseline_folder_that_is_a_symlink_out_of_the_project_is_never_written(project: Project) -> None:
    outside = project.path.parent / f"outside-{project.path.name}"
    outside.mkdir()
    os.symlink(outside, project.path / "baselines")
    project.suite("mini", 4)
    result = project.run("--snapshot-update")
    assert result.ret != 0
    assert list(outside.rglob("*")) == []
    expect_lines(result, ["*baselines left untouched:*outside the project*"])


def test_a_baseline_symlink_out_of_the_project_is_not_read_either(project: Project) -> None:
    outside = project.path.parent / f"outside-{project.path.name}"
    (outside / "oracle-make").mkdir(parents=True)
    project.suite("mini", 4)
    assert project.run("--snapshot-update").ret == 0
    recorded = project.path / "baselines" / "oracle-make" / "mini.json"
    os.replace(recorded, outside / "oracle-make" / "mini.json")
    os.symlink(outside / "oracle-make" / "mini.json", recorded)
    result = project.run()
    assert result.ret != 0
    expect_lines(result, ["*oracle-make/mini.json*outside the baseline folder*"])


def test_the_sweep_of_temporaries_touches_only_the_plugins_own(project: Project) -> None:
    folder = project.path / "baselines"
    (folder / "notes").mkdir(parents=True)
    (folder / "keep").mkdir()
    theirs = [folder / ".notes.tmp", folder / "notes" / ".draft.tmp", folder / "keep" / ".editor-swap.tmp"]
    for path in theirs:
        path.write_text("a user's file")
    ours = [folder / f".{JOURNAL}.123.tmp", folder / "keep" / ".mini.json.456.tmp"]
    for path in ours:
        path.write_text("{")
    (project.path / "tests").mkdir()
    (project.path / "tests" / "test_plain.py").write_text("def test_ok():\n    assert True\n")
    project.suite("mini", 4)
    assert project.run("--snapshot-update").ret == 0
    assert all(p.read_text() == "a user's file" for p in theirs)
    assert not any(p.exists() for p in ours)
