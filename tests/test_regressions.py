"""Regressions found in review of the first release; each test failed on that code.

(Bug 2, gate dispatch, is in test_extending.py; bugs 4 and 12, generation, in
test_generation.py; bug 5, probabilities under ``normalize``, in test_units.py.)
"""

from __future__ import annotations

import dataclasses
import sqlite3
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import Project, expect_lines, outcomes

from pytest_medmodel import load_suite
from pytest_medmodel.execution.run_stats import RunStats
from pytest_medmodel.plugin.progress import Progress
from pytest_medmodel.report.summary import RunSummary
from pytest_medmodel.report.terminal import summary_lines


def _junit(project: Project, *args: str, flips: tuple[str, ...] = ()) -> ET.Element:
    project.run(f"--junitxml={project.path / 'junit.xml'}", *args, flips=flips)
    return ET.parse(project.path / "junit.xml").getroot()


def test_item_locations_and_junit_files_name_the_suite(project: Project) -> None:
    """Bug 1: reportinfo pointed at pytest_medmodel/collect.py."""
    project.suite("mini", 3)
    project.run("--snapshot-update")
    root = _junit(project, "-o", "junit_family=xunit1")
    files = {case.get("file") for case in root.iter("testcase")}
    assert files == {"suites/mini.suite.yaml"}
    durations = project.run("--durations=2", "--durations-min=0")
    expect_lines(durations, ["*slowest 2 durations*", "*s * suites/mini.suite.yaml::*"])


def test_junit_carries_suite_metrics_on_gates_and_no_internal_data(project: Project) -> None:
    """Bug 6: every item carried its record as a Python repr, every gate the whole comparison.

    Items now carry four plain-text properties (issue 7: a CI viewer must see a regression)."""
    project.suite("mini", 8)
    project.run("--snapshot-update")
    root = _junit(project, flips=("mi-001",))
    properties = {
        case.get("name"): {p.get("name"): p.get("value") for p in case.iter("property")}
        for case in root.iter("testcase")
    }
    item_keys = {"medmodel.outcome", "medmodel.answer", "medmodel.key", "medmodel.baseline_answer"}
    assert all(set(props) == item_keys for name, props in properties.items() if name.startswith("item"))
    assert properties["item[mi-001]"]["medmodel.outcome"] == "regressed"
    gate = properties["gate[accuracy]"]
    assert gate["medmodel.accuracy"] == "0.875" and gate["medmodel.baseline_accuracy"] == "1.0"
    assert gate["medmodel.regressed"] == "1" and gate["medmodel.n"] == "8" and gate["medmodel.p_value"] == "0.5"
    assert "{" not in "".join(v for props in properties.values() for v in props.values())


def test_csv_cells_with_line_breaks_and_an_excel_byte_order_mark(tmp_path: Path) -> None:
    """Bug 3: quoted cells with line breaks were split into broken rows; the BOM renamed the first column."""
    text = 'id,question,a,b,answer\r\nc1,"A 60-year-old man.\r\nWhich drug?",aspirin,"heparin, IV",B\r\nc2,Is it?,yes,no,A\r\n'
    (tmp_path / "items.csv").write_bytes("\ufeff".encode() + text.encode())
    (tmp_path / "x.suite.yaml").write_text(
        "data:\n  path: items.csv\n  fields: {choices: [a, b]}\n  answer_format: letter\n"
    )
    first, second = load_suite(tmp_path / "x.suite.yaml").items
    assert first.id == "c1" and first.question == "A 60-year-old man.\nWhich drug?"  # line breaks read as \\n
    assert first.choices == ("aspirin", "heparin, IV") and first.answer == 1
    assert second.id == "c2" and second.answer == 0


def test_items_per_second_under_xdist_uses_wall_clock_time() -> None:
    """Bug 7: the rate divided by worker-seconds summed across workers."""
    stats = RunStats(shards_computed=2, requests_computed=40)
    stats.merge({"intervals": [[100.0, 110.0]]})  # worker gw0 infers for 10 s
    stats.merge({"intervals": [[101.0, 109.0], [112.0, 114.0]]})  # gw1 overlaps it, then 2 s alone
    assert stats.busy_seconds == pytest.approx(20.0) and stats.wall_seconds == pytest.approx(12.0)
    (line,) = summary_lines(RunSummary(inference=stats, updates=["x"]))[:1]
    assert line.startswith("inference: 2 shard(s), 40 item(s) computed in 12.0 s (3.3 items/s)")


@dataclasses.dataclass(frozen=True)
class _FrozenOracle:
    """A frozen adapter with no name or fingerprint attribute (reads answers from the project's key)."""

    key: dict

    def loglikelihood(self, requests):  # noqa: ANN001, ANN201
        from pytest_medmodel import ChoiceResult

        return [
            ChoiceResult(tuple(-0.1 if k == self.key[r.meta["item"]] else -3.0 for k in range(len(r.continuations))))
            for r in requests
        ]


def test_adapters_are_never_modified_and_need_not_score_choices(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bug 8: check_adapter set attributes on user adapters and demanded loglikelihood from all of them."""
    project.suite("mini", 4)
    project.pytester.makeconftest(
        f"""
        import json, os, pathlib, pytest
        from {__name__} import _FrozenOracle

        class Slotted:
            __slots__ = ()
            def generate(self, requests):
                return ["A" for _ in requests]

        @pytest.fixture(scope="session")
        def medmodel(request):
            if os.environ.get("ADAPTER") == "slotted":
                return Slotted()
            return _FrozenOracle(json.loads(pathlib.Path("answer_key.json").read_text()))
        """
    )
    frozen = project.pytester.runpytest("suites", "--snapshot-update")
    assert frozen.ret == 0, frozen.stdout.str()
    assert project.baseline("mini", profile="_FrozenOracle")["model"] == {"fingerprint": None, "name": "_FrozenOracle"}
    monkeypatch.setenv("ADAPTER", "slotted")
    # A generate-only adapter (slotted: nothing can be set on it) scores the letter suite by generation (issue 11).
    generate_only = project.pytester.runpytest("suites", "--snapshot-update")
    assert generate_only.ret == 0, generate_only.stdout.str()
    expect_lines(
        generate_only,
        ["mini: scored by generation (extract: letter) instead of letter: the model returns no log-probabilities"],
    )
    assert project.baseline("mini", profile="Slotted")["scoring"] == "generate"


def test_tags_never_become_another_plugins_marker(project: Project) -> None:
    """Bug 9: a tag such as ``order`` silently became pytest-order's marker."""
    project.pytester.makeconftest(
        'def pytest_configure(config):\n    config.addinivalue_line("markers", "order(n): run order (pytest-order)")\n'
    )
    rows = [
        {
            "id": f"t-{i}",
            "question": f"Q{i}?",
            "choices": ["x", "y"],
            "answer": "A",
            "tags": ["order" if i else "cardiology"],
        }
        for i in range(3)
    ]
    project.suite("mini", rows=rows)
    # The gate comes along with the selected items (and fails: no baseline was recorded).
    assert outcomes(project.run("-m", "tag_order", "--strict-markers")) == {"passed": 2, "failed": 1, "deselected": 1}
    assert outcomes(project.run("-m", "order", "--strict-markers"))["deselected"] == 4
    assert outcomes(project.run("-m", "cardiology", "--strict-markers")) == {"passed": 1, "failed": 1, "deselected": 2}


def test_adapters_without_a_fingerprint_leave_nothing_in_the_persistent_cache(project: Project) -> None:
    """Bug 10: their results were stored under run-unique keys in the persistent cache, which only grew."""
    project.suite("mini", 6)
    project.pytester.makeconftest(
        """
        import pytest
        from oracle import Oracle

        @pytest.fixture(scope="session")
        def medmodel():
            model = Oracle()
            model.fingerprint = None
            return model
        """
    )
    for _ in range(2):
        assert project.run("--snapshot-update", "--medmodel-shard-size", "4").ret == 0
    cache = project.path / ".pytest_cache" / "d" / "medmodel"
    with sqlite3.connect(cache / "predictions.sqlite3") as db:
        assert db.execute("SELECT COUNT(*) FROM results").fetchone() == (0,)
    assert not any((cache / "runs").iterdir())
    assert project.calls() == [4, 2, 4, 2]  # computed once per shard in each run, never served across runs


def test_progress_lines_use_only_the_terminal_reporters_public_api() -> None:
    """Bug 11: progress wrote through pytest's private ``_tw`` without a guard."""

    class Reporter:  # what a third-party terminal reporter may look like: no _tw
        def __init__(self) -> None:
            self.lines: list[str] = []

        def write_line(self, line: str) -> None:
            self.lines.append(line)

    class Plugins:
        def __init__(self, reporter: object) -> None:
            self.reporter = reporter

        def get_plugin(self, name: str) -> object:
            return self.reporter if name == "terminalreporter" else None

    class Config:
        def __init__(self, reporter: object) -> None:
            self.pluginmanager = Plugins(reporter)

    reporter = Reporter()
    Progress(Config(reporter))("inferring mini shard 1/1")  # type: ignore[arg-type]
    assert reporter.lines == ["[medmodel] inferring mini shard 1/1"]
    Progress(Config(None))("no terminal")  # type: ignore[arg-type]  # -p no:terminal: silently nothing


def test_a_cached_rerun_never_loads_the_model(project: Project, tiny_llama_dir: Path) -> None:
    """A rerun whose predictions are all cached computes the fingerprint from the files and loads nothing."""
    project.suite("ynm", 6, task="yes_no_maybe", scoring="loglikelihood")
    first = project.pytester.runpytest("suites", f"--medmodel={tiny_llama_dir}", "--snapshot-update")
    assert first.ret == 0
    expect_lines(
        first,
        [
            "[medmodel] loading the model: tiny-llama (cpu, float32)",
            "[medmodel] model ready in * s: tiny-llama (LlamaForCausalLM, cpu, float32)",
        ],
    )
    expect_lines(first, ["model: tiny-llama (LlamaForCausalLM, cpu, float32); profile tiny-llama"])
    again = project.pytester.runpytest("suites", f"--medmodel={tiny_llama_dir}")
    assert again.ret == 0
    expect_lines(
        again,
        [
            "model: tiny-llama (cpu, float32); not loaded: every prediction came from the cache; profile tiny-llama",
            "inference: 0 shard(s), 0 item(s) computed in 0.0 s; 6 read from the prediction cache",
        ],
    )


def test_a_project_without_suites_is_left_alone(pytester: pytest.Pytester) -> None:
    """The plugin loads in every pytest run where it is installed; with no suite it must not touch the cache."""
    pytester.makeini("[pytest]\n")
    pytester.makepyfile(test_plain="def test_one():\n    assert True\n")
    assert pytester.runpytest().ret == 0
    assert not (pytester.path / ".pytest_cache" / "d" / "medmodel").exists()
