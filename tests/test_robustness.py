"""Perturbations as variant tests, their metrics and gates (issue 8, part 1 and 2)."""

from __future__ import annotations

import hashlib
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Project, expect_lines, outcomes
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_medmodel import load_suite, suite_variants
from pytest_medmodel.perturb.base import PERTURBATIONS
from pytest_medmodel.perturb.robustness import family_stats
from pytest_medmodel.records import ItemScore
from pytest_medmodel.suite.types import Variant

ALL_PERTURBATIONS = """perturbations:
  - shuffle_choices
  - reverse_choices
  - {name: rotate_choices, id: rotate}
  - {name: relabel_choices, id: numbers}
  - {name: add_distractor, id: nota}
  - {name: typos, rate: 0.1}
  - {name: change_case, mode: random}
  - whitespace
  - {name: distracting_sentence, id: distract}
  - {name: truncate, field: question, fraction: 0.5}
  - {name: paraphrase_instructions, id: para, templates: ["Q: {question}\\n{choices}\\nA:", "{question}\\n{choices}"]}
"""

FIRST_OPTION = '''
import json, re
from pathlib import Path
from pytest_medmodel import ChoiceResult

TEXTS = json.loads((Path(__file__).parent / "answer_texts.json").read_text())

class FirstOption:
    """Strong position bias: always the first label (" A")."""
    name = "first-option"
    fingerprint = "first-option-v1"

    def loglikelihood(self, requests):
        return [ChoiceResult(tuple(-0.1 if k == 0 else -3.0 for k in range(len(r.continuations)))) for r in requests]

class Reader:
    """Position-invariant: reads the listed options and scores the label of the right text highest."""
    name = "reader"
    fingerprint = "reader-v1"

    def loglikelihood(self, requests):
        out = []
        for r in requests:
            listed = dict(re.findall(r"^(\\w+)\\. (.*)$", r.context, flags=re.M))
            right = TEXTS[r.meta["item"]]
            out.append(ChoiceResult(tuple(-0.1 if listed.get(c.strip()) == right else -3.0 for c in r.continuations)))
        return out

def first():
    return FirstOption()

def reader():
    return Reader()
'''


def _variant_texts(suite_path: Path) -> str:
    suite = load_suite(suite_path)
    from pytest_medmodel.scoring.prompts import render_context

    blob = json.dumps([[k, render_context(suite.prompt, v, None)] for k, v in suite_variants(suite).items()])
    return hashlib.sha256(blob.encode()).hexdigest()


@pytest.mark.slow
def test_every_perturbation_is_deterministic_across_processes_and_item_order(project: Project) -> None:
    path = project.suite("mini", 12, extra_yaml=ALL_PERTURBATIONS)
    here = _variant_texts(path)
    assert here == _variant_texts(path)
    code = (
        "import sys; sys.path.insert(0, sys.argv[2]); from test_robustness import _variant_texts; "
        "from pathlib import Path; print(_variant_texts(Path(sys.argv[1])))"
    )
    tests = str(Path(__file__).parent)
    other = subprocess.run([sys.executable, "-c", code, str(path), tests], capture_output=True, text=True, check=True)
    assert other.stdout.strip() == here  # another process, another hash seed
    before = suite_variants(load_suite(path))
    rows = [json.loads(line) for line in (project.path / "suites/data/mini.jsonl").read_text().splitlines()]
    random.Random(3).shuffle(rows)  # item order (and so test order) must not matter
    (project.path / "suites/data/mini.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    after = suite_variants(load_suite(path))
    assert list(after) != list(before) and after == before


@pytest.mark.slow
def test_serial_and_xdist_runs_record_the_same_variants(project: Project) -> None:
    project.suite("mini", 12, extra_yaml=ALL_PERTURBATIONS)
    assert project.run("--snapshot-update").ret == 0
    serial = project.baseline_bytes()
    for path in (project.path / "baselines").rglob("*.json"):
        path.unlink()
    assert project.run("--snapshot-update", "-n", "2", subprocess=True).ret == 0
    assert project.baseline_bytes() == serial


CHOICE_PERTURBATIONS = ["shuffle_choices", "reverse_choices", "rotate_choices", "relabel_choices", "add_distractor"]


@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    name=st.sampled_from(CHOICE_PERTURBATIONS),
    count=st.integers(2, 8),
    answer=st.integers(0, 7),
    seed=st.integers(0, 2**32),
)
def test_choice_perturbations_remap_the_answer_to_the_same_content(
    name: str, count: int, answer: int, seed: int
) -> None:
    answer %= count
    choices = tuple(f"option {i}" for i in range(count))
    original = Variant("x", "Q?", choices, answer, tuple(range(count)))
    made = PERTURBATIONS.get(name).factory()(original, random.Random(seed))
    for variant in [made] if isinstance(made, Variant) else made:
        assert variant.choices[variant.answer] == choices[answer], "the key is the same text"
        assert variant.origin[variant.answer] == answer
        for shown, origin in zip(variant.choices, variant.origin, strict=True):
            assert origin is None or choices[origin] == shown  # every shown option maps back to its content
        assert sorted(o for o in variant.origin if o is not None) == list(range(count))
    if name == "shuffle_choices":
        assert made.answer != answer, "a shuffle always moves the key"
    if name == "rotate_choices":
        assert sorted(v.answer for v in made) == sorted(set(range(count)) - {answer})  # every other position


def _score(item: str, variant: str, answer: int, key: int) -> ItemScore:
    return ItemScore(item, variant, answer, answer == key, "ABCD"[answer], "ABCD"[key], "h")


def test_circular_evaluation_and_robustness_by_hand() -> None:
    # Three four-option items, key A (0). Rotations 1-3 of each.
    # i1: right everywhere. i2: right originally, wrong in rotate2 (chose option 1).
    # i3: wrong originally (chose 2) and chooses 2 in every rotation: consistent but wrong.
    scores = [_score("i1", "", 0, 0), _score("i2", "", 0, 0), _score("i3", "", 2, 0)]
    scores += [_score("i1", f"rotate{r}", 0, 0) for r in (1, 2, 3)]
    scores += [_score("i2", "rotate1", 0, 0), _score("i2", "rotate2", 1, 0), _score("i2", "rotate3", 0, 0)]
    scores += [_score("i3", f"rotate{r}", 2, 0) for r in (1, 2, 3)]
    (stats,) = family_stats(scores, ["rotate"], {"i1": 0.25, "i2": 0.25, "i3": 0.25})
    assert stats.n == 3 and stats.original_accuracy == pytest.approx(2 / 3)
    assert stats.accuracy == pytest.approx(1 / 3)  # circular: only i1 is right in every rotation
    assert stats.worst_case == pytest.approx(1 / 3)
    assert stats.consistency == pytest.approx(2 / 3)  # i1 and i3 keep their option; i2 does not
    # Of the 2 originally right, 1 survives: (1/2 - 1/4) / (1 - 1/4) = 1/3.
    assert stats.robustness == pytest.approx(1 / 3)
    # Near chance it stays defined: one right original answer is enough.
    few = [_score("j1", "", 0, 0), _score("j1", "rotate1", 1, 0), _score("j2", "", 3, 0), _score("j2", "rotate1", 3, 0)]
    (near,) = family_stats(few, ["rotate"], {"j1": 0.25, "j2": 0.25})
    assert near.robustness == pytest.approx(-1 / 3) and near.consistency == 0.5


def _position_suite(project: Project) -> None:
    """Every key is the first option, so a model that always answers A is right on the originals."""
    rows = [
        {
            "id": f"p-{i:02d}",
            "question": f"[p-{i:02d}] Which?",
            "choices": [f"right {i}", "w1", "w2", "w3"],
            "answer": "A",
        }
        for i in range(40)
    ]
    project.suite("pos", rows=rows, extra_yaml="perturbations:\n  - {name: shuffle_choices, id: shuffle}\n")
    (project.path / "biased.py").write_text(FIRST_OPTION)
    project.texts.update({r["id"]: r["choices"][0] for r in rows})
    project._write_key()


def test_a_position_biased_model_is_caught_by_the_shuffle_gates_and_a_reader_passes(project: Project) -> None:
    _position_suite(project)
    record = project.pytester.runpytest("suites", "--medmodel=py:biased:reader", "--snapshot-update")
    assert record.ret == 0, record.stdout.str()
    baseline = project.baseline("pos", profile="biased-reader")
    assert baseline["items"]["p-00/shuffle"]["choice"] == 0 and baseline["items"]["p-00/shuffle"]["correct"]
    reader = project.pytester.runpytest("suites", "--medmodel=py:biased:reader", "-p", "no:randomly", "-v")
    assert reader.ret == 0  # -v: a passing suite's robustness lines are details
    expect_lines(reader, ["pos: under shuffle: accuracy 100.0%*consistency 100.0%*"])
    biased = project.pytester.runpytest(
        "suites", "--medmodel=py:biased:first", "--medmodel-profile=biased-reader", "-p", "no:randomly"
    )
    assert biased.ret == 1
    assert outcomes(biased)["failed"] == 2  # accuracy/shuffle and consistency/shuffle; gate[accuracy] passes
    expect_lines(
        biased,
        [
            "*accuracy under 'shuffle' dropped on suite pos*",
            "*accuracy under 'shuffle' on 40 paired items: baseline 100.0% -> current 0.0%, -100.0 points*",
            "*consistency under 'shuffle' dropped on suite pos*",
            "pos*40*100.0%*100.0%*+0.0*0/0*2 failed (accuracy/shuffle, consistency/shuffle), 1 passed",
            "pos: under shuffle: accuracy 0.0% (original 100.0%), consistency 0.0%, worst case 0.0%, robustness -0.33*",
        ],
    )


def test_option_text_variants_that_only_reorder_cost_no_extra_forward_pass(project: Project) -> None:
    perturbations = "perturbations:\n  - shuffle_choices\n  - reverse_choices\n  - {name: rotate_choices, id: rot}\n"
    project.suite("cloze", 12, scoring="loglikelihood", extra_yaml=perturbations)
    project.run("--medmodel-log-prompts=log.jsonl")
    sent = [json.loads(line) for line in (project.path / "log.jsonl").read_text().splitlines()]
    assert len(sent) == 12 * 6  # every variant asks, in the items' original order ...
    assert len({(r["context"], tuple(r["continuations"])) for r in sent}) == 12  # ... the originals' requests
    assert sum(project.calls()) == 12  # so the model computed 12 in all, each once


def test_perturbation_gates_can_be_configured_or_turned_off(project: Project) -> None:
    gates = "perturbations:\n  - {name: shuffle_choices, id: s, gates: {consistency: false, accuracy: {min_accuracy: 0.99}}}\n"
    project.suite("mini", 8, extra_yaml=gates)
    collected = project.pytester.runpytest("suites", "--collect-only", "-q")
    expect_lines(collected, ["suites/mini.suite.yaml::gate[accuracy]", "suites/mini.suite.yaml::gate[accuracy/s]"])
    assert "consistency/s" not in collected.stdout.str()
    project.suite("bad", 4, extra_yaml="perturbations:\n  - {name: shuffle_choices, gates: {consistensy: {}}}\n")
    result = project.run()
    expect_lines(
        result, ["*bad.suite.yaml: perturbations[0].gates.consistensy: unknown key; did you mean 'consistency'?"]
    )


@pytest.mark.slow
def test_a_crash_during_an_update_with_variants_leaves_every_baseline_byte_identical(project: Project) -> None:
    project.suite("mini", 12, extra_yaml=ALL_PERTURBATIONS)
    assert project.run("--snapshot-update").ret == 0
    before = project.baseline_bytes()
    assert any("/para2" in key for key in json.loads(next(iter(before.values())))["items"])
    result = project.run("--snapshot-update", flips=["mi-003"], crash_on="mi-007")
    assert result.ret != 0
    assert project.baseline_bytes() == before


def test_the_perturbation_docs_show_exactly_what_each_perturbation_produces() -> None:
    from perturbation_docs import ROOT, blocks

    text = (ROOT / "docs" / "perturbations.md").read_text()
    missing = [block.splitlines()[1] for block in blocks() if block not in text]
    assert not missing, f"docs/perturbations.md is out of date for: {missing}"


def test_a_perturbation_floor_fails_a_model_that_never_got_worse_but_is_below_it(project: Project) -> None:
    """The oracle answers by position, so reversed options always change its answer: consistency 0%, no drop."""
    project.suite("rev", 12, extra_yaml="perturbations:\n  - {name: reverse_choices, id: rev}\n")
    assert project.run("--snapshot-update").ret == 0
    unchanged = project.run("-v")  # -v: a passing suite's robustness lines are details
    assert unchanged.ret == 0  # 0% before and after: the paired gates see no drop
    expect_lines(unchanged, ["rev: under rev: accuracy 0.0% (original 100.0%), consistency 0.0%*"])
    path = project.path / "suites" / "rev.suite.yaml"
    path.write_text(path.read_text().replace("id: rev}", "id: rev, gates: {consistency: {min_consistency: 0.5}}}"))
    floored = project.run()
    assert floored.ret == 1 and outcomes(floored)["failed"] == 1
    expect_lines(floored, ["*consistency 0.0% [0.0%, 24.2%] on 12 items is below the floor 50.0%*"])
