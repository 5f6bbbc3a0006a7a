"""Extending the plugin: each kind of extension is one registered function or class in one file.

Every test here writes that one function or class into a project's conftest.py,
runs the real plugin on a suite that uses it, and checks the result reached the
tests, the summary or the baseline.
"""

from __future__ import annotations

import hashlib
import json

import pytest
from conftest import Project, expect_lines, outcomes

from pytest_medmodel import SuiteError, load_suite, suite_variants

GATE = """
from pytest_medmodel import GateContext, GateResult, Param, gate

@gate("no_worse_than", params={"floor": Param((int, float), "a number between 0 and 1", 0.5, fraction=True)})
def no_worse_than(ctx: GateContext) -> GateResult:
    accuracy = ctx.comparison.correct / ctx.comparison.n
    ok = accuracy >= ctx.settings["floor"]
    return GateResult("no_worse_than", "passed" if ok else "failed", f"accuracy {accuracy:.2f} vs floor {ctx.settings['floor']}")
"""


def test_a_registered_gate_runs_as_its_own_test_and_decides_alone(project: Project) -> None:
    """Regression: judge_gate ignored its gate name and always ran the accuracy gate."""
    project.pytester.makeconftest(GATE)
    project.suite("mini", 8, extra_yaml="gates:\n  no_worse_than: {floor: 0.9}\n")
    assert project.run("--snapshot-update").ret == 0
    flips = ["mi-001"]  # 7/8 = 0.875: below the floor, but no significant drop for the accuracy gate
    result = project.run(flips=flips)
    assert result.ret == 1
    assert outcomes(result) == {"failed": 1, "passed": 8, "regressed": 1}
    expect_lines(result, ["*_ gate[no_worse_than] _*", "accuracy 0.88 vs floor 0.9", "*medmodel summary*"])
    expect_lines(result, ["FAILED suites/mini.suite.yaml::gate[no_worse_than]*"])
    expect_lines(result, ["mini*8*87.5%*1 failed (no_worse_than), 1 passed"])
    assert project.run().ret == 0


def test_gate_settings_are_checked_like_every_suite_key(project: Project) -> None:
    project.pytester.makeconftest(GATE)
    project.suite("mini", 4, extra_yaml="gates:\n  no_worse_than: {flor: 0.9}\n")
    result = project.run()
    expect_lines(result, ["*mini.suite.yaml: gates.no_worse_than.flor: unknown key; did you mean 'floor'?"])
    project.suite("mini", 4, extra_yaml="gates:\n  no_wrse_than: {}\n")
    expect_lines(project.run(), ["*mini.suite.yaml: gates.no_wrse_than: unknown key; did you mean 'no_worse_than'?"])


def test_a_registered_metric_is_recorded_in_the_baseline(project: Project) -> None:
    project.pytester.makeconftest(
        '''
        from pytest_medmodel import metric

        @metric("overconfident", recorded=True)
        def overconfident(entry):
            """Wrong with more than 50% confidence."""
            return float(not entry.correct and (entry.confidence or 0) > 0.5)
        '''
    )
    project.suite("mini", 8)
    project.run("--snapshot-update", flips=["mi-000", "mi-001"])
    metrics = project.baseline("mini")["metrics"]
    # The oracle puts 0.5748 on its pick, so both wrong answers are overconfident: 2 of 8.
    assert metrics["overconfident"] == 0.25 and metrics["accuracy"] == 0.75


PERTURBATION = """
import dataclasses
from pytest_medmodel import perturbation

@perturbation("shout")
def shout(suffix: str = "!"):
    def apply(variant, rng):
        return dataclasses.replace(variant, question=variant.question.upper() + suffix)
    return apply
"""


def test_a_metric_of_the_whole_vector_is_one_registered_function_recorded_and_shown(project: Project) -> None:
    """ECE-like metrics are not means of item values: ``whole=True`` hands the function every entry at once."""
    project.pytester.makeconftest(
        '''
        from pytest_medmodel import metric

        @metric("overconfidence", whole=True, recorded=True, label="overconfidence", format="percent")
        def overconfidence(entries):
            """Mean confidence minus accuracy, over the entries with a confidence."""
            sure = [e for e in entries if e.confidence is not None]
            return sum(e.confidence - e.correct for e in sure) / len(sure) if sure else None
        '''
    )
    project.suite("mini", 8)
    project.run("--snapshot-update", flips=["mi-000", "mi-001"])
    metrics = project.baseline("mini")["metrics"]
    # The oracle puts 0.5748 on every pick; 6 of 8 are right: 0.5748 - 0.75.
    assert metrics["overconfidence"] == pytest.approx(0.5748 - 0.75, abs=1e-3)
    # A project's own metric is shown in every report as it registered itself, without a scorer naming it.
    result = project.run("-v", "--medmodel-report=out", flips=["mi-000", "mi-001"])
    expect_lines(result, ["mini: overconfidence -17.5% on 8 items"])
    markdown = (project.path / "out" / "report.md").read_text()
    assert "- **mini**: overconfidence -17.5% on 8 items" in markdown
    assert "<td>metric overconfidence</td><td>-17.5%</td>" in (project.path / "out" / "report.html").read_text()


def test_reports_show_a_metric_as_it_was_registered() -> None:
    from pytest_medmodel.metrics.base import METRICS, metric
    from pytest_medmodel.report.metric_lines import metric_lines

    @metric("share_hedged", label="hedged answers", format="percent")
    def share_hedged(entry):  # type: ignore[no-untyped-def]
        return float((entry.confidence or 1.0) < 0.4)

    shown = metric_lines({"share_hedged": 0.25, "acc": 0.5, "acc_norm": 0.625, "unknown_here": 3}, 8)
    assert shown == [
        "hedged answers 25.0%, unknown_here 3 on 8 items",
        "acc 50.0%, acc_norm 62.5% on 8 items (lm-evaluation-harness definitions)",
    ]
    assert METRICS.get("n").shown(110) == "110" and METRICS.get("f1").shown(0.1234) == "0.123"
    assert not METRICS.is_builtin("share_hedged") and METRICS.is_builtin("acc")
    with pytest.raises(ValueError, match="format must be one of percent, number, count"):
        metric("bad", format="permille")


def test_a_registered_perturbation_makes_variant_tests_recorded_beside_the_original(project: Project) -> None:
    project.pytester.makeconftest(PERTURBATION)
    perturbations = "perturbations:\n  - shout\n  - {name: shout, id: whisper, suffix: '...'}\n  - reverse_choices\n"
    project.suite("mini", 4, scoring="loglikelihood", extra_yaml=perturbations)
    collected = project.pytester.runpytest("suites", "--collect-only", "-q")
    expect_lines(
        collected,
        [
            "suites/mini.suite.yaml::item[mi-000]",
            "suites/mini.suite.yaml::item[mi-000/shout]",
            "suites/mini.suite.yaml::item[mi-000/whisper]",
            "suites/mini.suite.yaml::item[mi-000/reverse_choices]",
        ],
    )
    update = project.pytester.runpytest("suites", "--medmodel=py:content_oracle:make", "--snapshot-update")
    assert update.ret == 0, update.stdout.str()
    baseline = project.baseline("mini", profile="content_oracle-make")
    items = baseline["items"]
    assert len(items) == 16 and baseline["metrics"]["n"] == 4  # metrics count the originals
    # Reversed choices: the key "gamma" (C, index 2 of 4) is shown as B, and a reader still answers it.
    assert items["mi-002"]["answer"] == "C" and items["mi-002/reverse_choices"]["answer"] == "B"
    assert items["mi-002/reverse_choices"]["correct"] is True
    assert len({items["mi-000"]["hash"], items["mi-000/shout"]["hash"], items["mi-000/whisper"]["hash"]}) == 3
    selected = project.pytester.runpytest("suites", "--medmodel=py:content_oracle:make", "-k", "shout")
    # The gates of the suite and of 'shout' come along, and say they have no original item to compare.
    assert outcomes(selected) == {"passed": 4, "skipped": 3, "deselected": 16}


SHUFFLE = """
import dataclasses
from pytest_medmodel import perturbation

@perturbation("shuffle")
def shuffle():
    def apply(variant, rng):
        order = list(range(len(variant.choices)))
        rng.shuffle(order)
        return variant.reordered(order)
    return apply
"""


def test_seeded_perturbations_give_the_same_variants_every_time(project: Project) -> None:
    """The rng is seeded from suite, item and perturbation only: two runs, two orders of tests, one text."""
    from pytest_medmodel import load_suite, suite_variants
    from pytest_medmodel.perturb.base import seed_for

    project.pytester.makeconftest(SHUFFLE)
    suite_file = project.suite("mini", 12, extra_yaml="perturbations: [shuffle]\n")
    project.pytester.runpytest("--collect-only")  # imports the conftest, which registers the perturbation
    first = suite_variants(load_suite(suite_file))
    again = suite_variants(load_suite(suite_file))
    assert {k: v.choices for k, v in first.items()} == {k: v.choices for k, v in again.items()}
    shuffled = [v for k, v in first.items() if k.endswith("/shuffle")]
    assert any(v.choices != first[v.item_id].choices for v in shuffled)  # the rng is really used
    assert len({v.choices for v in shuffled}) > 1  # and differs per item
    # sha256 of the spec, not Python's salted hash(): the same seed on every machine and process.
    assert seed_for("mini", "mi-000", "shuffle", {}) == int(
        hashlib.sha256(json.dumps(["mini", "mi-000", "shuffle", {}], sort_keys=True).encode()).hexdigest()[:16], 16
    )
    assert project.run("--snapshot-update").ret == 0
    forward = project.baseline("mini")
    reverse = project.run("--snapshot-update", "--medmodel-shard-size", "5")  # other shards, same variants
    assert reverse.ret == 0 and project.baseline("mini") == forward


def test_perturbations_are_checked(project: Project) -> None:
    project.pytester.makeconftest(PERTURBATION)
    project.suite("mini", 2, extra_yaml="perturbations:\n  - {name: shuot}\n")
    expect_lines(
        project.run(), ["*mini.suite.yaml: perturbations[0].name: unknown perturbation 'shuot'; did you mean 'shout'?"]
    )
    project.suite("mini", 2, extra_yaml="perturbations:\n  - {name: shout, volume: 11}\n")
    expect_lines(project.run(), ["*mini.suite.yaml: perturbations[0].volume: unknown setting; shout takes suffix"])
    project.suite("mini", 2, extra_yaml="perturbations:\n  - {name: shout, suffix: 3}\n")  # its annotation says str
    expect_lines(project.run(), ["*mini.suite.yaml: perturbations[0].suffix: expected a text, got int; write a text"])


@pytest.mark.parametrize(
    ("setting", "line"),
    [
        ("{name: typos, rate: abc}", "perturbations[0].rate: expected a number, got str; write a number"),
        (
            "{name: typos, rate: 5}",
            "perturbations[0]: rate=5 must lie in [0, 1]; see the typos perturbation's settings",
        ),
        (
            "{name: change_case, mode: sideways}",
            "perturbations[0]: mode='sideways' must be 'lower', 'upper' or 'random'; see the change_case perturbation's settings",
        ),
        (
            "{name: relabel_choices, labels: A}",
            "perturbations[0].labels: expected a list of texts, got str; write a list of texts",
        ),
        (
            "{name: typos, fields: [question, 3]}",
            "perturbations[0].fields: expected a list of texts; write a list of texts",
        ),
    ],
)
def test_built_in_perturbation_settings_are_checked_when_the_suite_loads(
    project: Project, setting: str, line: str
) -> None:
    """Like a gate's settings: the line names the setting, before any item is built."""
    path = project.suite("mini", 2, extra_yaml=f"perturbations:\n  - {setting}\n")
    with pytest.raises(SuiteError) as caught:
        load_suite(path)
    assert str(caught.value).endswith(f"mini.suite.yaml: {line}")


def test_suite_variants_checks_variants_as_collection_does(project: Project) -> None:
    """A variant the prompt cannot show (two options, one label) fails in the API too, in one line."""
    path = project.suite("mini", 2, extra_yaml="perturbations:\n  - {name: relabel_choices, labels: ['1']}\n")
    with pytest.raises(SuiteError, match="shows 4 choices but the prompt has 1 labels"):
        suite_variants(load_suite(path))


def test_a_registered_model_resolver_serves_its_specs(project: Project) -> None:
    project.pytester.makeconftest(
        """
        from oracle import Oracle
        from pytest_medmodel import ModelHandle, model_resolver

        @model_resolver("staging", priority=5)
        def staging(spec, options):
            if not spec.startswith("staging:"):
                return None
            return ModelHandle.wrap(Oracle(name=spec), profile="staging", where=spec)
        """
    )
    project.suite("mini", 4)
    result = project.pytester.runpytest("suites", "--medmodel=staging:v2", "--snapshot-update")
    assert result.ret == 0, result.stdout.str()
    assert project.baseline("mini", profile="staging")["model"]["name"] == "staging:v2"


def test_hooks_make_the_adapter_modify_variants_and_see_gate_results(project: Project) -> None:
    project.pytester.makeconftest(
        """
        import dataclasses, json, pathlib
        from oracle import Oracle

        def pytest_medmodel_make_adapter(config, spec, options):
            return Oracle(name="from-hook") if spec == "nightly" else None

        def pytest_medmodel_modify_variants(config, suite, item, variants):
            if item.id == "mi-001":
                variants.append(dataclasses.replace(variants[0].reordered([1, 0, 2, 3]), name="swap"))

        def pytest_medmodel_gate_result(config, suite, result):
            pathlib.Path("gates.jsonl").open("a").write(json.dumps([suite.name, result.gate, result.status, dict(result.numbers)]) + "\\n")
        """
    )
    project.suite("mini", 4)
    result = project.pytester.runpytest("suites", "--medmodel=nightly", "--snapshot-update", "-v")
    assert result.ret == 0, result.stdout.str()
    # The oracle answers by position (the key's original index, 1), which the swap moved: shown B is alpha.
    expect_lines(result, ["suites/mini.suite.yaml::item[mi-001/swap] XFAIL*"])
    baseline = project.baseline("mini", profile="nightly")
    assert baseline["model"]["name"] == "from-hook"
    assert baseline["items"]["mi-001/swap"]["answer"] == "B" and baseline["items"]["mi-001/swap"]["correct"] is False
    (line,) = (project.path / "gates.jsonl").read_text().splitlines()
    suite, gate_name, status, numbers = json.loads(line)
    assert (suite, gate_name, status, numbers["n"]) == ("mini", "accuracy", "failed", 4)  # no baseline yet


BORROWING = """
import dataclasses
from pytest_medmodel import perturbation

@perturbation("borrow_question")
def borrow_question():
    def apply(variant, rng, suite):
        other = rng.choice([it for it in suite.items if it.id != variant.item_id])
        return dataclasses.replace(variant, question=other.question + " " + variant.question)
    return apply
"""


def test_a_perturbation_can_see_the_other_items_of_its_suite(project: Project) -> None:
    """A swapped-image ablation needs another item; the pick is seeded, so every run and worker agrees."""
    project.pytester.makeconftest(BORROWING)
    path = project.suite("mini", 6, extra_yaml="perturbations:\n  - borrow_question\n")
    project.pytester.syspathinsert()
    project.pytester.runpytest("suites", "--collect-only", "-q")  # registers the conftest's perturbation
    first = suite_variants(load_suite(path))
    again = suite_variants(load_suite(path))
    borrowed = {k: v.question for k, v in first.items() if k.endswith("/borrow_question")}
    assert borrowed == {k: v.question for k, v in again.items() if k.endswith("/borrow_question")}
    for key, question in borrowed.items():
        own = first[key.split("/")[0]].question
        assert question.endswith(own) and question != own  # another item's question, then its own
    assert project.run("--snapshot-update").ret == 0
