"""The user's loop through the real plugin: record, gate, regress, accept."""

from __future__ import annotations

import json

import pytest
from conftest import Project, expect_lines, outcomes


def test_update_then_plain_run_passes(project: Project) -> None:
    project.suite("mini", 20)
    first = project.run()
    # No baseline yet: the gate says so and fails the run, like a missing syrupy snapshot.
    assert first.ret == 1
    expect_lines(
        first,
        [
            "*no baseline for suite mini (profile oracle-make) at baselines/oracle-make/mini.json; record one with --snapshot-update*"
        ],
    )

    update = project.run("--snapshot-update")
    assert update.ret == 0, update.stdout.str()
    expect_lines(update, ["*baselines/oracle-make/mini.json: written (20 added)*"])
    baseline = project.baseline("mini")
    assert baseline["metrics"] == {"accuracy": 1.0, "correct": 20, "mean_confidence": 0.5748, "n": 20}
    assert baseline["items"]["mi-001"] == {
        "answer": "B",
        "confidence": 0.5748,
        "correct": True,
        "hash": baseline["items"]["mi-001"]["hash"],
        "probs": [0.1417, 0.5748, 0.1417, 0.1417],  # every choice's probability: what calibration compares
    }

    plain = project.run()
    assert plain.ret == 0
    assert outcomes(plain) == {"passed": 21}
    expect_lines(plain, ["*medmodel summary*", "mini*20*100.0% [83.9%, 100.0%]*100.0%*+0.0*0/0*passed"])


def test_plain_run_never_writes(project: Project) -> None:
    project.suite("mini", 8)
    project.run()
    assert project.baseline_bytes() == {}
    project.run("--snapshot-update")
    before = project.baseline_bytes()
    project.run(flips=["mi-001", "mi-002"])
    assert project.baseline_bytes() == before


def test_degraded_model_fails_the_gate_with_a_review_message(project: Project) -> None:
    project.suite("mini", 40)
    assert project.run("--snapshot-update").ret == 0
    flips = [f"mi-{i:03d}" for i in range(0, 40, 3)]  # 14 of 40 correct answers flipped
    result = project.run(flips=flips)
    assert result.ret == 1
    assert outcomes(result) == {"failed": 1, "passed": 26, "regressed": 14}
    expect_lines(
        result,
        [
            "*accuracy dropped on suite mini (profile oracle-make)",
            "accuracy on 40 paired items: baseline 100.0% [91.2%, 100.0%] -> current 65.0% [49.5%, 77.9%] (95% Wilson), -35.0 points (max_drop 1.0 points, tolerance point: a larger drop fails when it is real)",
            "regressed 14, improved 0; one-sided exact McNemar p = 6.1e-05",
            "regressed items (baseline->current answer): mi-000 A->B, mi-003 D->A, mi-006 C->D, mi-009 B->C, mi-012 A->B, mi-015 D->A, mi-018 C->D, mi-021 B->C (+6 more)",
            "this gate catches a true drop of 21.8 points or more with 80% power at level 0.01 for a retrained candidate *",
            "tested at level 0.01: p = 6.104e-05; the suite's alpha 0.01 is shared by its 1 tested gate (Holm), *",
        ],
    )
    expect_lines(result, ["FAILED suites/mini.suite.yaml::gate[accuracy]*"])


def test_a_handful_of_flips_both_ways_passes(project: Project) -> None:
    project.suite("mini", 40)
    # Baseline: three items wrong.
    assert project.run("--snapshot-update", flips=["mi-005", "mi-006", "mi-007"]).ret == 0
    # Now: those three are right again, four others are wrong. Accuracy drops by 1/40
    # (2.5 points, more than max_drop) but p = P(X>=4 | n=7) = 0.5: noise, not a regression.
    result = project.run(flips=["mi-010", "mi-011", "mi-012", "mi-013"])
    assert result.ret == 0, result.stdout.str()
    assert outcomes(result) == {"passed": 34, "regressed": 4, "improved": 3}
    expect_lines(result, ["mini*40*90.0%*92.5%*-2.5*4/3*0.5*passed"])


def test_strict_mode_fails_regressed_items(project: Project) -> None:
    project.suite("mini", 12)
    project.run("--snapshot-update")
    result = project.run("--medmodel-strict", flips=["mi-004"])
    assert outcomes(result) == {"failed": 1, "passed": 12}
    expect_lines(
        result, ["*_ item[mi-004] _*", "regressed: answered B (key A); the baseline answered A, correctly", "=*"]
    )
    expect_lines(result, ["FAILED suites/mini.suite.yaml::item[mi-004] - Failed: regressed*"])


def test_known_misses_are_xfailed_and_improvements_shown(project: Project) -> None:
    project.suite("mini", 12)
    project.run("--snapshot-update", flips=["mi-002", "mi-003"])
    result = project.run("-rx", flips=["mi-002"])
    assert outcomes(result) == {"passed": 11, "xfailed": 1, "improved": 1}
    expect_lines(result, ["XFAIL suites/mini.suite.yaml::item[mi-002] - known miss: answered D, key C"])


def test_partial_run_merges_and_never_deletes(project: Project) -> None:
    project.suite("mini", 12)
    project.run("--snapshot-update")
    before = project.baseline("mini")
    result = project.run("--snapshot-update", "-k", "mi-003 or mi-004", flips=["mi-003"])
    assert result.ret == 0
    after = project.baseline("mini")
    assert set(after["items"]) == set(before["items"])
    assert after["items"]["mi-003"]["correct"] is False
    assert {k: v for k, v in after["items"].items() if k != "mi-003"} == {
        k: v for k, v in before["items"].items() if k != "mi-003"
    }
    expect_lines(result, ["*mini.json: updated (1 changed)"])


def test_limit_keeps_the_gate_paired(project: Project) -> None:
    project.suite("mini", 30)
    project.run("--snapshot-update")
    result = project.run("--medmodel-limit", "6")
    assert outcomes(result) == {"passed": 7}
    expect_lines(result, ["mini*6*100.0%*100.0%*+0.0*passed"])


def test_stale_items_are_reported_then_dropped_on_update(project: Project) -> None:
    suite = project.suite("mini", 10)
    project.run("--snapshot-update")
    data = suite.parent / "data" / "mini.jsonl"
    lines = data.read_text().splitlines()
    data.write_text("\n".join(lines[:8]) + "\n")  # mi-008 and mi-009 leave the suite
    plain = project.run()
    assert plain.ret == 0
    expect_lines(
        plain,
        ["mini: 2 stale baseline entries (item no longer in the suite; dropped on --snapshot-update): mi-008, mi-009"],
    )
    assert "mi-009" in project.baseline("mini")["items"]
    update = project.run("--snapshot-update")
    expect_lines(update, ["*mini.json: updated (2 stale dropped)"])
    assert sorted(project.baseline("mini")["items"]) == [f"mi-{i:03d}" for i in range(8)]


def test_changed_items_and_fingerprints_are_reported_not_silently_compared(project: Project) -> None:
    suite = project.suite("mini", 8)
    project.run("--snapshot-update")
    data = suite.parent / "data" / "mini.jsonl"
    rows = [json.loads(line) for line in data.read_text().splitlines()]
    rows[2]["choices"][3] = "epsilon"  # the item's content changes; its id does not
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = project.run(flips=["mi-002"])
    assert result.ret == 0
    # mi-002 is wrong now but it is a different question: not a regression.
    assert outcomes(result) == {"passed": 8, "xfailed": 1}
    expect_lines(
        result,
        [
            "mini: model fingerprint differs from the baseline's (oracle: recorded by oracle, now oracle:mi-002): comparing a",
            "    different model or precision",  # folded at 120 characters
            "mini: suite fingerprint differs from the baseline's (prompt, scoring or items changed since it was recorded)",
            "mini: 1 item(s) changed since the baseline and were not compared: mi-002",
        ],
    )


def test_profile_option_gates_a_candidate_against_another_models_baseline(project: Project) -> None:
    project.suite("mini", 20)
    project.run("--snapshot-update", "--medmodel-profile", "production")
    assert (project.path / "baselines" / "production" / "mini.json").exists()
    result = project.run("--medmodel-profile", "production", flips=[f"mi-{i:03d}" for i in range(10)])
    assert result.ret == 1
    expect_lines(result, ["*accuracy dropped on suite mini (profile production)"])


def test_medmodel_fixture_in_conftest_overrides_the_spec(project: Project) -> None:
    project.suite("mini", 6)
    project.pytester.makeconftest(
        """
        import pytest
        from oracle import Oracle

        @pytest.fixture(scope="session")
        def medmodel():
            model = Oracle(flips=["mi-001"], name="from-fixture")
            model.profile = "fixture-profile"
            return model
        """
    )
    result = project.pytester.runpytest("suites", "--snapshot-update")
    assert result.ret == 0, result.stdout.str()
    baseline = json.loads((project.path / "baselines" / "fixture-profile" / "mini.json").read_text())
    assert baseline["model"] == {"fingerprint": "from-fixture:mi-001", "name": "from-fixture"}
    assert baseline["items"]["mi-001"]["correct"] is False


def test_rerun_recomputes_nothing(project: Project) -> None:
    project.suite("mini", 20, extra_yaml="")
    project.run("--medmodel-shard-size", "8")
    assert project.calls() == [8, 8, 4]
    project.clear_calls()
    project.run("--medmodel-shard-size", "8", "--snapshot-update")
    assert project.calls() == []
    # A different model (fingerprint) is never served the first one's answers.
    project.run("--medmodel-shard-size", "8", flips=["mi-001"])
    assert project.calls() == [8, 8, 4]


def test_tags_become_markers(project: Project) -> None:
    project.suite("mini", 10)
    project.run("--snapshot-update")
    result = project.run("-m", "odd", "--strict-markers")
    assert outcomes(result) == {"passed": 6, "deselected": 5}  # the odd items and their suite's gate


def test_yes_no_maybe_suite_scores_words(project: Project) -> None:
    project.suite("ynm", 9, task="yes_no_maybe", scoring="loglikelihood")
    assert project.run("--snapshot-update").ret == 0
    baseline = project.baseline("ynm")
    assert baseline["items"]["yn-001"]["answer"] == "no"
    assert baseline["metrics"]["acc"] == 1.0 and baseline["metrics"]["acc_norm"] in (0.3333, 0.6667, 1.0)
    assert baseline["scoring"] == "loglikelihood"
    expect_lines(
        project.run("-v"),  # a suite's metrics are details of a passing run
        [
            "ynm: acc 100.0%, acc_norm *% on 9 items (lm-evaluation-harness definitions)",
            # The oracle's log-probabilities -0.4 / -1.8 / -1.8 are not a true distribution: 0.6703 + 2 x 0.1653 = 1.0009
            "ynm: option mass 100.1% on 9 items (the probability the scored options hold, on average)",
        ],
    )


def test_no_model_is_a_clear_error(project: Project) -> None:
    project.suite("mini", 3)
    result = project.pytester.runpytest("suites")
    assert result.ret == pytest.ExitCode.USAGE_ERROR and outcomes(result) == {"errors": 1}
    expect_lines(
        result, ["*no model given: pass --medmodel=SPEC, set the 'medmodel' ini key, or define a 'medmodel' fixture*"]
    )


def test_min_accuracy_floor_fails_even_without_a_drop(project: Project) -> None:
    project.suite("mini", 10, extra_yaml="gates:\n  accuracy:\n    min_accuracy: 0.9\n")
    flips = ["mi-001", "mi-002"]
    project.run("--snapshot-update", flips=flips)
    result = project.run(flips=flips)
    assert result.ret == 1
    expect_lines(
        result,
        [
            "accuracy 80.0% [49.0%, 94.3%] on 10 items is below the floor min_accuracy 90.0%",
            "accuracy on 10 paired items: baseline 80.0%*+0.0 points*",
        ],
    )
    assert project.run().ret == 0  # all correct: above the floor


def test_unreadable_baseline_errors_until_re_recorded(project: Project) -> None:
    project.suite("mini", 4)
    project.run("--snapshot-update")
    path = project.path / "baselines" / "oracle-make" / "mini.json"
    path.write_text(path.read_text().replace('"items": {', '<<<<<<< HEAD\n  "items": {', 1))
    plain = project.run()
    assert plain.ret == 1 and outcomes(plain) == {"failed": 5}
    expect_lines(plain, ["FAILED suites/mini.suite.yaml::item[mi-000] - Failed: *"])
    expect_lines(
        plain,
        [
            "_*_ item[mi-000] _*_",
            "*mini.json: invalid JSON (line 17: Expecting property name enclosed in double quotes); restore it from version control or re-record it with --snapshot-update",
        ],
    )
    update = project.run("--snapshot-update")
    assert update.ret == 0
    expect_lines(
        update,
        [
            "baselines/oracle-make/mini.json: was unreadable (*); recorded afresh from this run",
            "*mini.json: written (4 added)",
        ],
    )
    assert project.baseline("mini")["metrics"]["n"] == 4
