"""The plugin is off until a run asks for it: a project without suites pays nothing and loses nothing.

pytest loads the plugin in every run of every project where the package is
installed. A run that names no model, passes no ``--medmodel*`` flag and collects
no suite must build nothing, register no plugin object, touch no file and import
almost none of the package; the moment it collects a suite, everything is there.
Each after-run task is a plugin object registered only when its flag asks for it.
"""

from __future__ import annotations

import json

import pytest
from conftest import Project

WATCH = """
import json, os, sys

def pytest_sessionfinish(session):
    plugins = sorted(n for n, _ in session.config.pluginmanager.list_name_plugin() if n and n.startswith("medmodel"))
    modules = sorted(m for m in sys.modules if m.startswith("pytest_medmodel"))
    with open(os.environ["WATCH_OUT"], "w") as handle:
        json.dump({"plugins": plugins, "modules": modules}, handle)
"""


def _watched(project: Project, monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[pytest.RunResult, dict]:
    out = project.path / "watch.json"
    monkeypatch.setenv("WATCH_OUT", str(out))
    (project.path / "conftest.py").write_text(WATCH)
    result = project.pytester.runpytest_subprocess(*args, "-p", "no:randomly", "-p", "no:cacheprovider")
    return result, json.loads(out.read_text())


def test_a_project_without_suites_gets_no_plugin_objects_no_file_changes_and_few_imports(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project.path / "tests").mkdir()
    (project.path / "tests" / "test_plain.py").write_text("def test_ok():\n    assert True\n")
    user_files = [project.path / "baselines" / ".notes.tmp", project.path / "baselines" / "keep" / ".swap.json.1.tmp"]
    for path in user_files:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("a user's file")
    result, seen = _watched(project, monkeypatch, "tests")
    assert result.ret == 0
    assert seen["plugins"] == ["medmodel"]  # the hooks module alone: no controller, selection or task objects
    assert all(path.read_text() == "a user's file" for path in user_files)
    heavy = [
        m
        for m in seen["modules"]
        if m.split(".")[1:2] and m.split(".")[1] in ("gates", "execution", "report", "baselines", "loading")
    ]
    assert heavy == [] and len(seen["modules"]) < 25, seen["modules"]
    assert "medmodel summary" not in result.stdout.str()


def test_collecting_a_suite_turns_the_plugin_on(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    project.suite("mini", 4)
    result, seen = _watched(project, monkeypatch, "suites", "--co", "-q")
    assert result.ret == 0
    assert seen["plugins"] == ["medmodel", "medmodel-controller", "medmodel-selection"]
    result.stdout.fnmatch_lines(["suites/mini.suite.yaml::item[mi-000]"])


@pytest.mark.parametrize(
    ("flag", "task"),
    [
        ("--medmodel-report=out", "medmodel-report"),
        ("--medmodel-search", "medmodel-search"),
        ("--medmodel-mutation-report=noise:scale=0.1", "medmodel-mutation-report"),
    ],
)
def test_an_after_run_task_is_a_plugin_object_only_when_its_flag_asks(
    project: Project, monkeypatch: pytest.MonkeyPatch, flag: str, task: str
) -> None:
    project.suite("mini", 4)
    _, without = _watched(project, monkeypatch, "suites", "--medmodel=py:oracle:make", "--co", "-q")
    _, with_flag = _watched(project, monkeypatch, "suites", "--medmodel=py:oracle:make", flag, "--co", "-q")
    tasks = ("medmodel-report", "medmodel-search", "medmodel-mutation-report")
    assert [p for p in without["plugins"] if p in tasks] == []
    assert [p for p in with_flag["plugins"] if p in tasks] == [task]


def test_a_medmodel_flag_alone_turns_the_plugin_on(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    (project.path / "tests").mkdir()
    (project.path / "tests" / "test_plain.py").write_text("def test_ok():\n    assert True\n")
    _, seen = _watched(project, monkeypatch, "tests", "--medmodel-limit=3")
    assert "medmodel-controller" in seen["plugins"]


@pytest.mark.slow
def test_under_xdist_a_project_without_suites_keeps_xdist_s_own_scheduler(project: Project) -> None:
    (project.path / "tests").mkdir()
    for n in range(4):
        (project.path / "tests" / f"test_plain{n}.py").write_text("def test_ok():\n    assert True\n")
    result = project.pytester.runpytest_subprocess("tests", "-n", "2", "-v", "-p", "no:randomly")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["scheduling tests via LoadScheduling", "*4 passed*"])
