"""Probe groups: set accuracy, confusion, yes-ratio and F1 beside their chance levels; the set_accuracy gate."""

from __future__ import annotations

import pytest
from conftest import Project, expect_lines

from pytest_medmodel.metrics.probes import group_stats
from pytest_medmodel.records import INVALID, ItemScore

YES_NO = ["yes", "no"]


def _yes_no(item: str, chosen: int | None, key: int) -> ItemScore:
    shown = INVALID if chosen is None else YES_NO[chosen]
    return ItemScore(item, "", chosen, chosen == key, shown, YES_NO[key], "h")


def test_group_figures_by_hand() -> None:
    # Four pairs of yes/no twins (keys yes/no). g1 right twice; g2 answers "no" twice (confused);
    # g3 answers "yes" twice (confused); g4: one invalid answer, one right.
    probes = {
        f"{g}{m}": {"group": g, "choices": YES_NO, "answer": 0 if m == "a" else 1}
        for g in ("g1", "g2", "g3", "g4")
        for m in ("a", "b")
    }
    scores = [
        _yes_no("g1a", 0, 0), _yes_no("g1b", 1, 1),
        _yes_no("g2a", 1, 0), _yes_no("g2b", 1, 1),
        _yes_no("g3a", 0, 0), _yes_no("g3b", 0, 1),
        _yes_no("g4a", None, 0), _yes_no("g4b", 1, 1),
    ]  # fmt: skip
    stats = group_stats(scores, probes)
    assert stats is not None
    assert stats.groups == 4 and stats.set_accuracy == 0.25 and stats.set_chance == 0.25
    # Every pair has different keys; g2 and g3 gave one answer to both (g4's invalid answer is no answer).
    assert stats.contrast_groups == 4 and stats.confusion == 0.5 and stats.confusion_chance == 0.5
    # Valid answers: yes, no, no, no, yes, yes, no -> 3 of 7 are "yes"; the invalid one is never a "yes".
    assert stats.yes_ratio == pytest.approx(3 / 7) and stats.invalid == 1
    # Positives (key yes): g1a, g2a, g3a, g4a. TP = g1a, g3a; FP = g3b; FN = g2a, g4a.
    assert stats.f1 == pytest.approx(2 * 2 / (2 * 2 + 1 + 2))
    assert stats.f1_chance == pytest.approx(0.5)
    # Precision: of the 3 "yes" answers, 2 right; recall: of the 4 yes keys, 2 answered yes.
    assert (stats.precision, stats.recall, stats.prevalence) == (pytest.approx(2 / 3), 0.5, 0.5)
    assert stats.below_chance == []
    always_no = [_yes_no(i, 1, probes[i]["answer"]) for i in probes]
    low = group_stats(always_no, probes)
    assert low is not None and low.set_accuracy == 0 and low.confusion == 1.0
    assert low.below_chance == [
        "set accuracy 0.0% < chance 25.0%",
        "confusion 100.0% > chance 50.0%",
        "yes/no F1 0.00 < chance 0.50",
    ]


def test_an_always_yes_model_gets_a_yes_ratio_of_one_and_the_precision_of_chance() -> None:
    """POPE's failure: saying yes to every probe. The yes-ratio comes from the answers, not from the keys."""
    probes = {
        f"g{i}{m}": {"group": f"g{i}", "choices": YES_NO, "answer": 0 if m == "a" else 1}
        for i in range(5)
        for m in "ab"
    }
    stats = group_stats([_yes_no(i, 0, probes[i]["answer"]) for i in probes], probes)
    assert stats is not None and stats.yes_ratio == 1.0 and stats.recall == 1.0
    assert stats.precision == stats.prevalence == 0.5  # no better than a coin
    keyed = group_stats([_yes_no(i, probes[i]["answer"], probes[i]["answer"]) for i in probes], probes)
    assert keyed is not None and keyed.yes_ratio == 0.5 and keyed.precision == keyed.recall == 1.0


def test_chance_levels_come_from_the_items() -> None:
    probes = {
        "a": {"group": "g", "choices": ["x", "y", "z"], "answer": 0},
        "b": {"group": "g", "choices": ["x", "y"], "answer": 1},
    }
    scores = [ItemScore("a", "", 0, True, "A", "A", "h"), ItemScore("b", "", 1, True, "B", "B", "h")]
    stats = group_stats(scores, probes)
    assert stats is not None
    assert stats.set_chance == pytest.approx(1 / 6)  # one in three times one in two
    assert stats.confusion_chance == pytest.approx(2 / 6)  # both pick x (1/3 * 1/2) or both y
    assert group_stats(scores[:1], probes) is None  # an incomplete group is not scored


def _paired_suite(project: Project) -> None:
    project.paired_probes("pairs", 30)


def test_the_set_accuracy_gate_fails_when_groups_break_and_passes_otherwise(project: Project) -> None:
    _paired_suite(project)
    collected = project.pytester.runpytest("suites", "--collect-only", "-q")
    expect_lines(collected, ["suites/pairs.suite.yaml::gate[accuracy]", "suites/pairs.suite.yaml::gate[set_accuracy]"])
    assert project.run("--snapshot-update").ret == 0
    same = project.run("-v")  # every gate passed: the probe-group figures are a detail
    assert same.ret == 0
    expect_lines(same, ["pairs: probe groups: set accuracy 100.0% (chance 25.0%, 30 groups), confusion 0.0%*"])
    # Answer "no" to eight "yes" twins: eight groups break (the item-level drop is 8 of 60).
    broken = project.run(flips=[f"pp-{i:02d}a" for i in range(8)])
    assert broken.ret == 1
    expect_lines(
        broken,
        [
            "*set accuracy dropped on suite pairs*",
            "*set accuracy on 30 paired groups: baseline 100.0% -> current 73.3%, -26.7 points (max_drop 2.0); "
            "8 lost, 0 gained*",
            "groups that lost it: pp-00, pp-01, pp-02, pp-03, pp-04, pp-05, pp-06, pp-07",
        ],
    )


@pytest.mark.slow
def test_below_chance_is_said_loudly(project: Project) -> None:
    _paired_suite(project)
    always_no = [f"pp-{i:02d}a" for i in range(30)]
    assert project.run("--snapshot-update", flips=always_no).ret == 0
    result = project.run(flips=always_no)  # unchanged, so every gate passes: still said in a healthy run
    expect_lines(
        result,
        [
            "pairs: BELOW CHANCE: set accuracy 0.0% < chance 25.0%",
            "pairs: BELOW CHANCE: confusion 100.0% > chance 50.0%",
            "pairs: BELOW CHANCE: yes/no F1 0.00 < chance 0.50",
        ],
    )
    expect_lines(
        project.run("-v", flips=always_no),
        [
            "pairs: probe groups: set accuracy 0.0% (chance 25.0%, 30 groups), confusion 100.0% (chance 50.0%)*",
            "pairs: BELOW CHANCE: set accuracy 0.0% < chance 25.0%",
        ],
    )


@pytest.mark.slow
def test_the_set_accuracy_floor_fails_a_suite_below_it_even_without_a_drop(project: Project) -> None:
    _paired_suite(project)
    always_no = [f"pp-{i:02d}a" for i in range(30)]
    path = project.path / "suites" / "pairs.suite.yaml"
    assert project.run("--snapshot-update", flips=always_no).ret == 0
    assert project.run(flips=always_no).ret == 0  # no drop against its own baseline
    path.write_text(path.read_text() + "gates:\n  set_accuracy: {min_set_accuracy: 0.5}\n")
    result = project.run(flips=always_no)
    assert result.ret == 1
    expect_lines(result, ["*set accuracy 0.0% is below the floor min_set_accuracy 50.0%*"])
