"""``python -m pytest_medmodel diff``: a model change reviewed from two versions of a committed baseline."""

from __future__ import annotations

import shutil
import subprocess
import sys
from typing import Any

import pytest
from conftest import Project


def test_diff_of_two_baseline_files_and_of_git_revisions(project: Project) -> None:
    project.suite("facts", n=40)
    assert project.run("--snapshot-update").ret == 0
    path = project.path / "baselines" / "oracle-make" / "facts.json"
    old = project.path / "old.json"
    shutil.copy(path, old)
    for command in (
        ["init", "-q"],
        ["add", "baselines"],
        ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "b"],
    ):
        subprocess.run(["git", *command], cwd=project.path, check=True)
    flips = [f"fa-{i:03d}" for i in range(0, 40, 4)]  # ten answers now wrong
    assert project.run("--snapshot-update", flips=flips).ret == 0  # a deliberate change, recorded

    def diff(*args: str) -> list[str]:
        done = subprocess.run(
            [sys.executable, "-m", "pytest_medmodel", "diff", *args], cwd=project.path, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout.splitlines()

    lines = diff(str(old), str(path))
    assert lines[1] == "model: oracle (oracle:) -> oracle (oracle:" + ",".join(sorted(flips)) + ")"
    assert (
        lines[2]
        == "accuracy on 40 paired items: 100.0% [91.2%, 100.0%] -> 75.0% [59.8%, 85.8%] (95% Wilson), -25.0 points"
    )
    assert lines[3].startswith("regressed 10, improved 0; one-sided exact McNemar p = 0.0009766 that it got worse")
    assert lines[4].startswith("answers changed on 10 of 40 items (25.0%;")
    assert "  fa-000: A -> B (regressed)" in lines
    assert diff("baselines/oracle-make/facts.json") == [  # committed version against the file on disk
        line.replace(str(old), "HEAD:baselines/oracle-make/facts.json").replace(
            str(path), "baselines/oracle-make/facts.json"
        )
        for line in lines
    ]
    assert diff("HEAD:baselines/oracle-make/facts.json", "baselines/oracle-make/facts.json")[1:] == lines[1:]
    done = subprocess.run(
        [sys.executable, "-m", "pytest_medmodel", "diff", "HEAD~5:nothing.json", str(path)],
        cwd=project.path,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and done.stdout.startswith("error: HEAD~5:nothing.json: git cannot show it")


def _git_project(project: Project) -> None:
    project.suite("facts", n=4)
    assert project.run("--snapshot-update").ret == 0
    for command in (
        ["init", "-q"],
        ["add", "baselines"],
        ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "b"],
    ):
        subprocess.run(["git", *command], cwd=project.path, check=True)


def _medmodel(project: Project, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_medmodel", *args], cwd=project.path, capture_output=True, text=True
    )


def test_a_spec_that_looks_like_an_option_never_reaches_git(project: Project) -> None:
    """``--output=FILE:x`` given to ``git show`` made git write FILE: a spec starting with '-' is refused."""
    _git_project(project)
    facts = "baselines/oracle-make/facts.json"
    target = project.path / "written"
    for args in (
        ["--", f"--output={target}:x", facts],
        ["--", facts, f"--output={target}:x"],
        ["--", f"--output={target}:x"],
        ["--", "-p"],
    ):
        done = _medmodel(project, "diff", *args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        lines = done.stdout.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and "starts with '-'" in lines[0], lines
        assert done.stderr == ""
        assert not list(project.path.glob("written*")), "git wrote a file"


def test_git_gets_the_end_of_options_marker(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """Belt and braces: whatever reaches git is read as a revision, never as an option."""
    from pytest_medmodel.baselines import diff as baseline_diff

    seen: list[list[str]] = []
    real = subprocess.run

    def spy(argv: list[str], **kwargs: Any) -> Any:
        seen.append(list(argv))
        return real(argv, **kwargs)

    _git_project(project)
    monkeypatch.setattr(baseline_diff.subprocess, "run", spy)
    baseline_diff.load_version("HEAD:baselines/oracle-make/facts.json", cwd=project.path)
    assert seen == [["git", "show", "--end-of-options", "HEAD:baselines/oracle-make/facts.json"]]


@pytest.mark.parametrize("encoding", ["utf-16", "binary"])
def test_a_baseline_that_is_not_utf8_is_one_line(project: Project, encoding: str) -> None:
    _git_project(project)
    path = project.path / "baselines" / "oracle-make" / "facts.json"
    text = path.read_text(encoding="utf-8")
    data = text.encode("utf-16") if encoding == "utf-16" else bytes(range(255, -1, -1)) * 4
    other = project.path / "other.json"
    other.write_bytes(data)
    done = _medmodel(project, "diff", str(path), str(other))
    assert (done.returncode, done.stderr) == (2, ""), done.stderr
    assert done.stdout.splitlines() == [f"error: {other}: not UTF-8 text (byte 0xff at offset 0)"], done.stdout
    path.write_bytes(data)  # the file on disk against its committed version: the committed one is fine
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "x"], cwd=project.path)
    done = _medmodel(
        project, "diff", "HEAD:baselines/oracle-make/facts.json", "HEAD~1:baselines/oracle-make/facts.json"
    )
    assert (done.returncode, done.stderr) == (2, ""), done.stderr
    assert done.stdout.splitlines() == [
        "error: HEAD:baselines/oracle-make/facts.json: not UTF-8 text (byte 0xff at offset 0)"
    ], done.stdout
