"""``python -m pytest_medmodel diff``: a model change reviewed from two versions of a committed baseline."""

from __future__ import annotations

import shutil
import subprocess
import sys

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
