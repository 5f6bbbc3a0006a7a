"""One typed value per suite crosses to the reporting process, and each suite is compared and summarised once.

Before, the reporting process learned a suite through a 14-key dict, every gate
test recomputed the suite's summary row, and the controller computed the
comparison and the row again (with arguments that had drifted from the gates').
"""

from __future__ import annotations

import pytest
from conftest import Project

from pytest_medmodel.loading.recipe import load_suite
from pytest_medmodel.plugin import controller as controller_module
from pytest_medmodel.plugin import session as session_module
from pytest_medmodel.plugin.payloads import ProcessReport
from pytest_medmodel.report import facts as facts_module
from pytest_medmodel.report.facts import SuiteFacts
from pytest_medmodel.report.summary import ModelSummary

GATES = "perturbations:\n  - {name: shuffle_choices, id: shuffle}\ngates:\n  accuracy: {}\n  agreement: {}\n  ece: {}\n  brier: {}\n"


def _count_summaries(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    real = facts_module.suite_row

    def counting(key, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(key)
        return real(key, *args, **kwargs)

    monkeypatch.setattr(session_module, "suite_row", counting)
    monkeypatch.setattr(controller_module, "suite_row", counting)
    return calls


def test_a_suite_is_summarised_once_in_a_run_whatever_its_number_of_gates(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.suite("mini", 12, extra_yaml=GATES)
    project.run("--snapshot-update")
    calls = _count_summaries(monkeypatch)
    result = project.run()
    assert result.ret == 0
    assert calls == ["suites/mini.suite.yaml"]  # by the first gate; the controller took the row it sent


def test_the_controller_summarises_a_suite_whose_gates_did_not_run(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.suite("mini", 12, extra_yaml=GATES)
    project.run("--snapshot-update")
    calls = _count_summaries(monkeypatch)
    result = project.run("-m", "not medmodel_gate")
    assert result.ret == 0
    assert calls == ["suites/mini.suite.yaml"]
    result.stdout.fnmatch_lines(["*mini*"])


def test_suite_facts_survive_the_trip_through_plain_data(project: Project) -> None:
    path = project.suite("mini", 6, extra_yaml=GATES)
    suite = load_suite(path)
    facts = SuiteFacts.of(suite, ["mi-000", "mi-001"], chat="no chat template")
    assert SuiteFacts.from_json(facts.to_json()) == facts
    assert facts.pairing.keys == ("mi-000", "mi-001") and facts.pairing.clusters == suite.cluster_by_item()
    report = ProcessReport(
        ModelSummary("m", "fp", "p", "a model"), suites={"s": facts}, run_id="r", metrics_known=("n",)
    )
    assert ProcessReport.from_json(report.to_json()) == report
