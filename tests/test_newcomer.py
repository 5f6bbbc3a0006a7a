"""What a newcomer tripped on: gates that tag selection switched off, silent regressions, blind gates,
one error at a time, a YAML file pytest said it could not find."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import Project, expect_lines, outcomes


def _recorded(project: Project, n: int = 40) -> None:
    project.suite("facts", n=n, prefix="fa")
    assert project.run("--snapshot-update").ret == 0


def test_selecting_items_by_tag_or_keyword_also_runs_their_gate_on_those_items(project: Project) -> None:
    _recorded(project)
    odd_flips = [f"fa-{i:03d}" for i in range(1, 40, 2)][:8]
    result = project.run("-m", "even", flips=odd_flips)
    assert result.ret == 0
    assert outcomes(result) == {"passed": 21, "deselected": 20}  # 20 even items and the gate
    expect_lines(result, ["facts*20*100.0%*100.0%*+0.0*0/0*passed"])  # paired on the selected items only
    result = project.run("-m", "odd", flips=odd_flips)
    assert result.ret == 1
    expect_lines(result, ["*accuracy on 20 paired items*", "facts*20*60.0%*100.0%*-40.0*8/0*failed"])
    result = project.run("-k", "odd", flips=odd_flips)
    assert result.ret == 1 and "failed" in outcomes(result)
    result = project.run("-k", "fa-001", flips=odd_flips)
    # One item and its gate (one flip: not significant).
    assert outcomes(result) == {"regressed": 1, "passed": 1, "deselected": 39}


def test_an_expression_against_the_gate_still_turns_it_off_and_the_summary_warns(project: Project) -> None:
    _recorded(project)
    for args in (["-m", "not medmodel_gate"], ["-k", "not gate"], ["-m", "even and not medmodel_gate"]):
        result = project.run(*args, flips=["fa-000"])
        assert result.ret == 0
        assert "gate" not in " ".join(outcomes(result)) and "failed" not in outcomes(result)
        expect_lines(
            result,
            ["facts*not run", "facts: warning: * item(s) ran but no gate of this suite did, so nothing was gated*"],
        )


def test_the_summary_names_regressed_and_improved_items_when_the_gate_passes(project: Project) -> None:
    project.suite("facts", n=40, prefix="fa")
    assert project.run("--snapshot-update", flips=["fa-005"]).ret == 0
    result = project.run(flips=["fa-003"])
    assert result.ret == 0
    expect_lines(
        result,
        [
            "facts*40*97.5%*97.5%*+0.0*1/1*passed",
            "facts: regressed (baseline->current): fa-003 D->A",
            "facts: improved (baseline->current): fa-005 C->B",
        ],
    )


@pytest.mark.slow
def test_a_gate_whose_baseline_sits_at_chance_says_it_is_blind(project: Project) -> None:
    project.suite("facts", n=40, prefix="fa")
    at_chance = [f"fa-{i:03d}" for i in range(40) if i % 4]  # 10 of 40 right: 25%, chance for four options
    assert project.run("--snapshot-update", flips=at_chance).ret == 0
    result = project.run(flips=at_chance)
    expect_lines(
        result,
        [
            "facts*40*25.0%*25.0%*+0.0*0/0*1*blind*passed",
            "blind gates (they cannot catch a damaged model: a baseline at chance, or too few items; -v says which): "
            "facts",
        ],
    )
    result = project.run("-v", flips=at_chance)
    expect_lines(
        result,
        [
            "facts*40*25.0%*25.0%*+0.0*0/0*1*blind*passed",
            "facts: blind gate: the baseline is indistinguishable from chance (40 items at 25.0%, chance 25.0%)*",
        ],
    )
    project.suite("known", n=40, prefix="kn")
    assert project.run("--snapshot-update", "-k", "kn-").ret == 0
    result = project.run("-k", "kn-")
    expect_lines(result, ["known*40*100.0%*100.0%*+0.0*0/0*1*21.8*passed"])
    assert "blind gate" not in result.stdout.str()


def test_a_malformed_suite_reports_every_bad_row(project: Project) -> None:
    rows = [
        {"id": "a", "question": "q?", "choices": ["x", "y"], "answer": "C"},
        {"id": "a", "question": "q?", "choices": ["x", "y"], "answer": "A"},
        {"id": "b", "question": "", "choices": ["x", "y"], "answer": "A"},
        {"id": "c", "question": "q?", "choices": ["x"], "answer": "A"},
    ]
    project.suite("broken", rows=rows, extra_yaml="gates: {accuracy: {max_drop: 2}}\n")
    result = project.run()
    assert result.ret == 2
    expect_lines(
        result,
        [
            "*broken.suite.yaml: gates.accuracy.max_drop: *",
            "*broken.suite.yaml: row 1 (id a): answer: answer 'C' is not among the choices*",
            "*broken.suite.yaml: row 2 (id a): id: duplicate item id 'a'*",
            "*broken.suite.yaml: row 3 (id b): question: question is empty*",
            "*broken.suite.yaml: row 4 (id c): choices: has 1 choice(s)*",
        ],
    )


def test_a_yaml_file_named_on_the_command_line_that_is_not_a_suite_says_why(project: Project) -> None:
    path = project.suite("facts", n=4)
    path.rename(path.with_name("facts.yaml"))
    result = project.pytester.runpytest("suites/facts.yaml", "--medmodel=py:oracle:make")
    assert result.ret == 2
    expect_lines(
        result,
        [
            "*facts.yaml is not collected: pytest-medmodel collects suites named *.suite.yaml*rename it to facts.suite.yaml"
        ],
    )
    result = project.pytester.runpytest("suites", "--medmodel=py:oracle:make")
    assert result.ret == 5  # a folder walk ignores other YAML files, as before


def test_a_yaml_file_named_beside_its_folder_or_in_capitals_still_says_why(project: Project) -> None:
    """pytest drops an argument inside a folder argument (``suites suites/sub/items.yaml``): the file was then
    walked past like any other YAML, silently; and ``items.YAML`` was "not found"."""
    project.suite("facts", n=4)
    (project.path / "suites" / "sub").mkdir()
    (project.path / "suites" / "sub" / "items.yaml").write_text("task: multiple_choice\n")
    (project.path / "suites" / "sub" / "extra.YAML").write_text("task: multiple_choice\n")
    hint = "*{} is not collected: pytest-medmodel collects suites named *.suite.yaml*rename it to {}.suite.yaml"
    for args, name in (
        (["suites", "suites/sub/items.yaml"], "items"),
        (["suites/sub/extra.YAML"], "extra"),
        (["suites", f"{project.path}/suites/sub/items.yaml"], "items"),
    ):
        result = project.pytester.runpytest(*args, "--collect-only", "-q", "--medmodel=py:oracle:make")
        assert result.ret == 2, (args, result.stdout.lines[-3:])
        expect_lines(result, [hint.format(Path(name).name + (".YAML" if name == "extra" else ".yaml"), name)])
    assert project.pytester.runpytest("suites", "--collect-only", "-q").ret == 0  # the walk alone: quiet, as before


@pytest.mark.slow
def test_a_py_spec_finds_the_adapter_module_in_the_project_root_without_pythonpath(project: Project) -> None:
    proj = project.path / "proj"
    (proj / "suites" / "data").mkdir(parents=True)
    (proj / "pytest.ini").write_text("[pytest]\nmedmodel = py:own_adapter_in_root:make\n")
    (proj / "own_adapter_in_root.py").write_text((project.path / "oracle.py").read_text())
    project.suite("facts", n=4)
    for name in ("answer_key.json", "suites/facts.suite.yaml", "suites/data/facts.jsonl"):
        (proj / name).write_text((project.path / name).read_text())
    # The subprocess's working folder (on its PYTHONPATH) is the parent, not the project root.
    result = project.pytester.runpytest_subprocess("proj/suites", "-p", "no:randomly", "--snapshot-update")
    assert result.ret == 0, result.stdout.str()
    assert (proj / "baselines" / "own_adapter_in_root-make" / "facts.json").is_file()
    result = project.pytester.runpytest_subprocess("proj/suites", "--medmodel=py:no_such_module_here:make")
    result.stdout.fnmatch_lines(["*cannot import no_such_module_here (No module named 'no_such_module_here'*"])


def test_no_cache_computes_everything_afresh_and_leaves_the_cache_as_it_was(project: Project) -> None:
    _recorded(project, n=8)
    project.clear_calls()
    assert project.run().ret == 0 and project.calls() == []
    result = project.run("--medmodel-no-cache")
    assert result.ret == 0 and sum(project.calls()) == 8
    expect_lines(result, ["inference: 1 shard(s), 8 item(s) computed*; 0 read from the prediction cache"])
    project.clear_calls()
    assert project.run().ret == 0 and project.calls() == []  # the cache still holds the first run's answers
    assert not list((project.path / ".pytest_cache" / "d" / "medmodel" / "runs").glob("*/predictions.sqlite3"))
    project.clear_calls()
    assert project.run("--cache-clear").ret == 0 and sum(project.calls()) == 8


@pytest.mark.slow
def test_workers_progress_reaches_the_controllers_terminal(project: Project) -> None:
    project.suite("facts", n=40)
    result = project.run("-n", "2", "--medmodel-shard-size=10", "--medmodel-progress=always", subprocess=True)
    assert result.ret == 1  # no baseline yet
    expect_lines(result, ["[medmodel] [gw?] inferring facts shard ?/4 (10 items, letter)"])
    worker_lines = [line for line in result.stdout.lines if line.startswith("[medmodel] [gw")]
    assert {line.split()[1] for line in worker_lines} <= {"[gw0]", "[gw1]"}
    # Every shard's start line reached the controller, once (which worker took which shard varies).
    assert sorted(line.split()[5] for line in worker_lines if " inferring " in line) == ["1/4", "2/4", "3/4", "4/4"]
    assert not list((project.path / ".pytest_cache" / "d" / "medmodel" / "progress").glob("*.log"))
    quiet = project.run("-n", "2", "--medmodel-shard-size=10", subprocess=True)  # not a terminal: as before
    assert "[medmodel] [gw" not in quiet.stdout.str()


def test_junit_xml_shows_regressions_as_plain_text_properties(project: Project) -> None:
    import xml.etree.ElementTree as ET

    _recorded(project, n=8)
    assert project.run("--junitxml=out.xml", flips=["fa-002"]).ret == 0
    cases = {case.get("name"): case for case in ET.parse(project.path / "out.xml").getroot().iter("testcase")}
    regressed = {p.get("name"): p.get("value") for p in cases["item[fa-002]"].iter("property")}
    assert regressed == {
        "medmodel.outcome": "regressed",
        "medmodel.answer": "D",
        "medmodel.key": "C",
        "medmodel.baseline_answer": "C",
    }
    assert {p.get("name"): p.get("value") for p in cases["item[fa-001]"].iter("property")}["medmodel.outcome"] == (
        "passed"
    )
    gate = {p.get("name"): p.get("value") for p in cases["gate[accuracy]"].iter("property")}
    assert gate["medmodel.regressed"] == "1" and gate["medmodel.delta"] == "-0.125"


def test_the_baseline_folder_has_a_flag(project: Project) -> None:
    project.suite("facts", n=4, prefix="fa")
    assert project.run("--snapshot-update", "--medmodel-baseline-dir=ci/golden").ret == 0
    assert (project.path / "ci" / "golden" / "oracle-make" / "facts.json").is_file()
    assert not (project.path / "baselines").exists()
    assert project.run("--medmodel-baseline-dir=ci/golden").ret == 0
    assert project.run().ret == 1  # the default folder has no baseline


def test_log_prompts_writes_every_request_verbatim(project: Project) -> None:
    import json

    project.suite("facts", n=6, prefix="fa")
    result = project.run("--medmodel-log-prompts=logs/prompts.jsonl", "-k", "fa-001 or fa-004")
    assert result.ret == 1  # no baseline: the gate fails, the log is written all the same
    records = [json.loads(line) for line in (project.path / "logs" / "prompts.jsonl").read_text().splitlines()]
    assert [r["item"] for r in records] == ["fa-001", "fa-004"]
    assert records[0] == {
        "suite": "facts",
        "item": "fa-001",
        "variant": "",
        "kind": "choice",
        "context": "Question: [fa-001] Which option is right?\nA. alpha\nB. beta\nC. gamma\nD. delta\n"
        "Answer with the letter of the correct option.\nAnswer:",
        "continuations": [" A", " B", " C", " D"],
    }
    project.run("--medmodel-log-prompts=logs/prompts.jsonl", "-k", "fa-002")
    assert len((project.path / "logs" / "prompts.jsonl").read_text().splitlines()) == 1  # one run's requests


@pytest.mark.slow
def test_log_prompts_leaves_no_lock_file_behind_serially_or_under_xdist(project: Project) -> None:
    import json

    project.suite("facts", n=12, prefix="fa")
    for extra in ([], ["-n", "2"]):
        project.run(
            "--medmodel-log-prompts=logs/prompts.jsonl", "--medmodel-shard-size=3", *extra, subprocess=bool(extra)
        )
        assert sorted(p.name for p in (project.path / "logs").iterdir()) == ["prompts.jsonl"], extra
        records = [json.loads(line) for line in (project.path / "logs" / "prompts.jsonl").read_text().splitlines()]
        # Whole lines only (never interleaved); under -n a gate may log a shard another worker computed.
        assert sorted({r["item"] for r in records}) == [f"fa-{i:03d}" for i in range(12)], extra


def test_serial_progress_lines_start_their_own_line_without_blank_lines(project: Project) -> None:
    project.suite("facts", n=20, prefix="fa")
    result = project.run("--medmodel-shard-size=10", "-q")
    lines = result.stdout.lines
    progress = [i for i, line in enumerate(lines) if line.startswith("[medmodel] inferring")]
    assert len(progress) == 2, lines
    assert all(lines[i - 1].strip() for i in progress), "no blank line before a progress line"
    assert not any("[medmodel]" in line and not line.startswith("[medmodel]") for line in lines)


def _summary(result: pytest.RunResult) -> list[str]:
    """The lines under ``medmodel summary``, up to the next section."""
    lines = result.stdout.lines
    start = next(i for i, line in enumerate(lines) if "medmodel summary" in line) + 1
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("="))
    return lines[start:end]


@pytest.mark.slow
def test_a_healthy_run_ends_short_with_what_to_do_next(project: Project) -> None:
    perturbed = "perturbations: [shuffle_choices, typos]\n"
    project.suite("facts", n=40, prefix="fa", extra_yaml=perturbed)
    project.suite("probes", n=12, prefix="pr", task="yes_no_maybe", scoring="loglikelihood")
    first = _summary(project.run())
    assert first[-1] == (
        "next: record this model's answers as baselines with --snapshot-update and commit them; "
        "later runs gate against them"
    )
    recorded = _summary(project.run("--snapshot-update"))
    assert recorded[-1].startswith("next: commit the baseline files written above; runs without --snapshot-update")

    healthy = _summary(project.run())
    assert all(len(line) <= 120 for line in healthy), max(healthy, key=len)
    assert len(healthy) <= 8, healthy  # table (3), model, inference, details hint, next (may fold in two)
    assert healthy[0].startswith("suite ") and healthy[1].startswith("facts ") and healthy[2].startswith("probes ")
    assert "details: -v adds each suite's metrics, tags, calibration and robustness lines" in healthy
    assert healthy[-1].startswith("next: see which damage these suites would catch with --medmodel-mutation-report")
    assert not [
        line for line in healthy if line.startswith(("facts: under", "facts: calibration", "facts: accuracy by"))
    ]

    detailed = _summary(project.run("-v"))
    assert all(len(line) <= 120 for line in detailed), max(detailed, key=len)
    for wanted in ("facts: accuracy by tag (items): even 100.0% (20), odd 100.0% (20)", "facts: under typos: accuracy"):
        assert any(line.startswith(wanted) for line in detailed), wanted
    calibration = next(i for i, line in enumerate(detailed) if line.startswith("facts: calibration on 40 items"))
    assert detailed[calibration + 1].startswith("    "), "a long line is folded, its numbers kept"
    assert "details: -v" not in " ".join(detailed) and detailed[-1].startswith("next: ")

    failing = _summary(project.run(flips=[f"fa-{i:03d}" for i in range(0, 40, 2)]))
    assert any(line.startswith("facts: under typos: accuracy") for line in failing), "a failed suite shows its details"
    assert not any(line.startswith(("probes: acc ", "probes: calibration")) for line in failing), "a passing one not"
    assert failing[-1].startswith("next: each failed gate says why above; an intended change is recorded with")
