"""Few-shot examples: chosen deterministically, never the item itself, rendered as the scoring expects."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import Project

from pytest_medmodel import load_suite
from pytest_medmodel.scoring.base import SCORERS
from pytest_medmodel.scoring.fewshot import examples
from pytest_medmodel.suite.types import FewShot, Item, SuiteError, Variant

POOL = tuple(
    Item(f"ex-{i}", f"Example question {i}?", ("alpha", "beta", "gamma", "delta"), answer)
    for i, answer in enumerate([0, 0, 0, 1, 1, 2, 3, 0, 2, 1])
)


def _variant(item_id: str, question: str = "A new question?") -> Variant:
    return Variant.of(Item(item_id, question, ("w", "x", "y", "z"), 0))


def test_first_random_and_balanced_picks() -> None:
    first = examples(FewShot(3, POOL, "first"), "s", _variant("q-1"))
    assert [it.id for it in first] == ["ex-0", "ex-1", "ex-2"]
    random_a = examples(FewShot(3, POOL, "random", seed=1), "s", _variant("q-1"))
    assert random_a == examples(FewShot(3, POOL, "random", seed=1), "s", _variant("q-1")), "seeded: the same every time"
    others = {
        tuple(it.id for it in examples(FewShot(3, POOL, "random", seed=s), "s", _variant("q-1"))) for s in range(8)
    }
    assert len(others) > 1, "the seed changes the sample"
    balanced = examples(FewShot(4, POOL, "balanced"), "s", _variant("q-1"))
    assert sorted(it.answer for it in balanced) == [0, 1, 2, 3], "one example per answer before any repeats"
    assert examples(FewShot(0, POOL), "s", _variant("q-1")) == []
    assert [it.id for it in examples(FewShot(3, POOL), "s", replace_shots(_variant("q-1"), 1))] == ["ex-0"]


def replace_shots(variant: Variant, k: int) -> Variant:
    from dataclasses import replace

    return replace(variant, shots=k)


@pytest.mark.parametrize("pick", ["first", "random", "balanced"])
def test_an_item_is_never_its_own_example(pick: str) -> None:
    for item in POOL:
        for variant in (_variant(item.id), _variant("other-id", item.question)):  # same id, or same question
            chosen = examples(FewShot(9, POOL, pick), "s", variant)
            assert len(chosen) == 9 and all(c.id != item.id for c in chosen)


def _suite(tmp_path: Path, few_shot: str, scoring: str = "letter", extra: str = "") -> Path:
    rows = [
        {"id": f"q{i}", "question": f"Question {i}?", "choices": ["a", "b", "c", "d"], "answer": "ABCD"[i % 4]}
        for i in range(6)
    ]
    shots = [
        {"id": f"s{i}", "question": f"Solved {i}?", "choices": ["e", "f", "g", "h"], "answer": "ABCD"[i % 4]}
        for i in range(4)
    ]
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "shots.jsonl").write_text("".join(json.dumps(r) + "\n" for r in shots))
    path = tmp_path / "fs.suite.yaml"
    path.write_text(
        f"task: multiple_choice\ndata: {{path: rows.jsonl}}\nscoring: {scoring}\nfew_shot: {few_shot}\n{extra}"
    )
    return path


def test_examples_come_before_the_item_with_the_answer_the_scoring_expects(tmp_path: Path) -> None:
    suite = load_suite(_suite(tmp_path, "{k: 2, from: {path: shots.jsonl}}"))
    context = SCORERS.get("letter").request(suite, Variant.of(suite.items[0]), None).context
    assert context == (
        "Question: Solved 0?\nA. e\nB. f\nC. g\nD. h\nAnswer with the letter of the correct option.\nAnswer: A\n\n"
        "Question: Solved 1?\nA. e\nB. f\nC. g\nD. h\nAnswer with the letter of the correct option.\nAnswer: B\n\n"
        "Question: Question 0?\nA. a\nB. b\nC. c\nD. d\nAnswer with the letter of the correct option.\nAnswer:"
    )
    cloze = load_suite(_suite(tmp_path, "{k: 1, from: {path: shots.jsonl}}", scoring="loglikelihood"))
    request = SCORERS.get("loglikelihood").request(cloze, Variant.of(cloze.items[0]), None)
    assert request.context.startswith("Question: Solved 0?\nAnswer: e\n\nQuestion: Question 0?")


def test_without_a_pool_the_suite_lends_its_own_items_never_the_same_one(tmp_path: Path) -> None:
    suite = load_suite(_suite(tmp_path, "{k: 5}"))
    for item in suite.items:
        context = SCORERS.get("letter").request(suite, Variant.of(item), None).context
        assert context.count(f"Question: {item.question}") == 1 and context.count("Answer: ") == 5


def test_the_examples_are_part_of_the_fingerprint(tmp_path: Path) -> None:
    prints = {
        load_suite(_suite(tmp_path, spec)).fingerprint
        for spec in ("{k: 1}", "{k: 2}", "{k: 2, pick: random}", "{k: 2, pick: random, seed: 3}")
    }
    assert len(prints) == 4


@pytest.mark.parametrize(
    ("spec", "extra", "message"),
    [
        ("{k: 6}", "", "few_shot.k: k is 6 but the pool has 6 item(s), and an item is never its own example"),
        ("{k: -1}", "", "few_shot.k: -1 is not a whole number of examples"),
        ("{k: 1, pick: best}", "", "few_shot.pick: unknown value 'best'"),
        ("{k: 1, from: {path: missing.jsonl}}", "", "data.path"),
    ],
)
def test_bad_few_shot_settings_are_one_line_errors(tmp_path: Path, spec: str, extra: str, message: str) -> None:
    with pytest.raises(SuiteError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_suite(_suite(tmp_path, spec, extra=extra))


def test_a_sweep_over_k_is_a_gated_variant_each(project: Project) -> None:
    sweep = "few_shot: {k: 0}\nperturbations:\n  - {name: few_shot, id: k3, k: 3}\n"
    project.suite("fs", 8, extra_yaml=sweep)
    collected = project.pytester.runpytest("suites", "--collect-only", "-q", "--medmodel=py:oracle:make")
    collected.stdout.fnmatch_lines(
        ["suites/fs.suite.yaml::item[[]fs-000/k3[]]", "suites/fs.suite.yaml::gate[[]accuracy/k3[]]"]
    )
    assert project.run("--snapshot-update").ret == 0
    baseline = project.baseline("fs")
    assert "fs-000/k3" in baseline["items"] and baseline["items"]["fs-000/k3"]["correct"] is True
    assert project.run().ret == 0


def test_the_sweep_needs_the_suites_pool(project: Project) -> None:
    project.suite("fs", 4, extra_yaml="perturbations:\n  - {name: few_shot, id: k3, k: 3}\n")
    result = project.pytester.runpytest("suites", "--collect-only", "-q", "--medmodel=py:oracle:make")
    result.stdout.fnmatch_lines(["*perturbations: the few_shot perturbation needs the suite's few_shot pool*"])


@pytest.mark.parametrize("pool", ["own items", "a training file holding the test items under other ids"])
def test_a_perturbed_variant_is_never_shown_its_own_original_solved(project: Project, pool: str) -> None:
    """A ``typos`` variant's question differs from its original's, yet the original (same id, or the same
    question in an overlapping pool) is what the variant is about: it is skipped like the original skips it."""
    few_shot = "few_shot: {k: 7}"
    if pool != "own items":
        few_shot = "few_shot: {k: 7, from: {path: data/train.jsonl}}"
    project.suite("fs", 8, extra_yaml=f"{few_shot}\nperturbations:\n  - typos\n")
    rows = [json.loads(line) for line in (project.path / "suites" / "data" / "fs.jsonl").read_text().splitlines()]
    training = "".join(json.dumps({**row, "id": f"train-{n}"}) + "\n" for n, row in enumerate(rows))
    (project.path / "suites" / "data" / "train.jsonl").write_text(training)
    project.run("--medmodel-log-prompts=prompts.jsonl", "--snapshot-update")
    records = [json.loads(line) for line in (project.path / "prompts.jsonl").read_text().splitlines()]
    variants = [r for r in records if r["variant"] == "typos"]
    assert len(variants) == 8 and len(records) == 16
    for record in records:
        original = f"[{record['item']}] Which option is right?"
        shots = record["context"].split("\n\n")[:-1]
        assert len(shots) == 7, record
        assert not [shot for shot in shots if original in shot], f"{record['item']}/{record['variant']} sees itself"
