"""The tasks after the tests (the search, the mutation report, the report files): a failure in one of them is one
line naming the task and the cause, and never costs the medmodel summary or the other tasks."""

from __future__ import annotations

import importlib
import json
from fnmatch import fnmatch

import pytest
from conftest import FORGET, Project

FRAGILE = '''
"""The oracle, healthy during the tests; built again after them (the search, the mutation report) it fails."""
import math, os
from oracle import Oracle
from pytest_medmodel import ChoiceResult

AFTER = []
"""Set by the conftest when the tests are over."""

class NaNOracle(Oracle):
    def loglikelihood(self, requests):
        return [ChoiceResult(tuple(math.nan for _ in r.continuations)) for r in requests]

def make():
    if AFTER and os.environ["FRAGILE_FAULT"] == "raise":
        raise RuntimeError("boom")
    return (NaNOracle if AFTER else Oracle)(name="fragile")
'''

CONFTEST = (
    FORGET
    + """
import pytest
import fragile

@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish():
    fragile.AFTER.append(True)
"""
)


MUTATION_BOOM = "medmodel mutation report: stopped: ModelUnusable: --medmodel=py:fragile:make: RuntimeError: boom (raised at fragile.py:*, in make)"
"""The factory raises when the mutation report builds its fresh copy of the model."""


def _fragile(project: Project, fault: str) -> None:
    (project.path / "fragile.py").write_text(FRAGILE)
    project.pytester.makeconftest(CONFTEST)
    project.env.setenv("FRAGILE_FAULT", fault)
    project.suite("facts", n=8)


def _run(project: Project, *args: str) -> pytest.RunResult:
    argv = ["suites", "--medmodel=py:fragile:make", "-p", "no:randomly", f"--medmodel-report={project.path / 'out'}"]
    return project.pytester.runpytest(*argv, *args)


def _report(project: Project) -> dict:
    return json.loads((project.path / "out" / "report.json").read_text())


@pytest.mark.parametrize(
    ("fault", "line"),
    [
        (
            "raise",
            "medmodel search: stopped: ModelUnusable: --medmodel=py:fragile:make: RuntimeError: boom (raised at fragile.py:*, in make)",
        ),
        ("nan", "medmodel search: stopped: AdapterFault: fragile: *log-likelihoods must be numbers up to 0 or -inf*"),
    ],
)
def test_a_search_that_fails_mid_way_is_one_line_and_the_summary_and_report_stay(
    project: Project, fault: str, line: str
) -> None:
    _fragile(project, fault)
    assert _run(project, "--snapshot-update").ret == 0
    result = _run(project, "--medmodel-search=4", "--medmodel-mutation-report=forget:every=2")
    assert result.ret == 0, "the tests passed; the search informs"
    text = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in text and "Traceback" not in text
    result.stdout.fnmatch_lines(["*medmodel summary*", "facts*8*100.0%*", line])
    assert len([x for x in result.stdout.lines if "medmodel search: stopped" in x]) == 1
    report = _report(project)
    assert [u for u in report["updates"] if u.startswith("medmodel search: stopped")], report["updates"]
    if fault == "nan":  # the mutation report ran before the search: its row (the suite's error) is there too
        assert [(m["mutation"], m["verdict"]) for m in report["mutations"]] == [("forget:every=2", "error")]
    else:  # the mutation report's model failed to build as well: its own line
        assert any(fnmatch(u, MUTATION_BOOM) for u in report["updates"]), report["updates"]


def test_a_mutation_report_that_fails_is_one_line_and_the_search_and_report_still_run(project: Project) -> None:
    _fragile(project, "raise")
    assert _run(project, "--snapshot-update").ret == 0
    result = _run(project, "--medmodel-mutation-report=forget:every=2")
    assert result.ret == 0
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    result.stdout.fnmatch_lines(["*medmodel summary*", "facts*8*100.0%*", MUTATION_BOOM])
    assert any(fnmatch(u, MUTATION_BOOM) for u in _report(project)["updates"])


def test_report_files_that_fail_are_one_line_and_the_summary_stays(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Through sys.modules: an earlier in-process run may have left a stale module as the package's attribute.
    report_files = importlib.import_module("pytest_medmodel.plugin.after_run.report_files")

    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("suites")

    monkeypatch.setattr(report_files, "build_report", broken)
    _fragile(project, "raise")
    result = _run(project, "--snapshot-update")
    assert result.ret == 0, "the baselines were written; the report is extra"
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    result.stdout.fnmatch_lines(
        [
            "*medmodel summary*",
            "baselines/fragile-make/facts.json: written*",
            "medmodel report: stopped: KeyError: 'suites'",
        ]
    )
    assert not (project.path / "out" / "report.json").exists()
