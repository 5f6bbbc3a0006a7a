"""Plain-Python pieces, checked against values worked out by hand."""

from __future__ import annotations

import json
import math
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_medmodel.baselines.format import Baseline, dumps_baseline, merge_baseline, read_baseline
from pytest_medmodel.baselines.snapshot import BaselineExtension
from pytest_medmodel.execution.shards import plan_shards
from pytest_medmodel.models.base import ChoiceResult
from pytest_medmodel.plugin.xdist import shard_scopes
from pytest_medmodel.records import ItemScore
from pytest_medmodel.scoring.base import SCORERS
from pytest_medmodel.stats.significance import binomial_upper_tail, mcnemar_one_sided, wilson_interval
from pytest_medmodel.suite.types import GateUse, Item, PromptSpec, ScoringSpec, Suite, Variant


@pytest.mark.parametrize(
    ("regressed", "improved", "expected"),
    [
        (0, 0, 1.0),  # no flips: no evidence
        (0, 5, 1.0),
        (3, 0, 1 / 8),  # P(X>=3 | n=3)
        (5, 1, 7 / 64),  # (C(6,5) + C(6,6)) / 2^6
        (8, 2, 56 / 1024),  # (C(10,8) + C(10,9) + C(10,10)) / 2^10
        (4, 3, 64 / 128),  # (35 + 21 + 7 + 1) / 2^7
        (14, 0, 2.0**-14),
    ],
)
def test_mcnemar_one_sided_exact(regressed: int, improved: int, expected: float) -> None:
    assert mcnemar_one_sided(regressed, improved) == pytest.approx(expected, rel=1e-12)


def test_binomial_tail_stays_exact_for_large_n() -> None:
    # Symmetry: P(X >= 501 | 1000) = (1 - P(X = 500)) / 2.
    from math import comb

    p500 = comb(1000, 500) / 2**1000
    assert binomial_upper_tail(501, 1000) == pytest.approx((1 - p500) / 2, rel=1e-10)
    assert binomial_upper_tail(0, 10) == 1.0 and binomial_upper_tail(11, 10) == 0.0


@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    [
        (0, 10, 0.0, 0.27753),  # z^2 / (n + z^2)
        (5, 10, 0.23659, 0.76341),
        (20, 20, 0.83887, 1.0),
        (33, 110, 0.22230, 0.39120),  # centre 0.30675, half-width 0.08445
    ],
)
def test_wilson_interval(successes: int, n: int, low: float, high: float) -> None:
    got = wilson_interval(successes, n)
    assert got == pytest.approx((low, high), abs=5e-5)


@given(st.integers(min_value=1, max_value=400).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_contains_the_estimate_and_stays_in_bounds(case: tuple[int, int]) -> None:
    successes, n = case
    low, high = wilson_interval(successes, n)
    assert 0.0 <= low <= successes / n <= high <= 1.0


def _suite(
    task: str = "multiple_choice", method: str = "letter", normalize: bool = False, items: tuple[Item, ...] = ()
) -> Suite:
    return Suite(
        path=Path("x.suite.yaml"),
        name="x",
        description="",
        task=task,
        prompt=PromptSpec(
            template="{question}", labels=tuple("ABCD"), chat_template="never", system=None, answer_prefix="Answer:"
        ),
        scoring=ScoringSpec(method, {"normalize": True} if normalize else {}),
        gates=(GateUse("accuracy", {"max_drop": 0.02, "tolerance": "point", "churn": 0.1, "min_accuracy": None}),),
        items=items,
        source="test",
    )


def predict(suite: Suite, item: Item, result: ChoiceResult) -> ItemScore:
    return SCORERS.get(suite.scoring.method).score(suite, Variant.of(item), result)


def test_acc_and_acc_norm_follow_lm_evaluation_harness() -> None:
    # lm-eval: acc = argmax(lls); acc_norm = argmax(lls / len(choice)), characters of the choice text.
    item = Item(id="i", question="q", choices=("yes", "maybe"), answer=1)
    result = ChoiceResult(logprobs=(-3.0, -4.0))
    plain = predict(_suite("yes_no_maybe", "loglikelihood"), item, result)
    assert (plain.answer, plain.values["acc"], plain.values["acc_norm"]) == (
        0,
        False,
        True,
    )  # -3/3 = -1.0 < -4/5 = -0.8
    assert plain.confidence == pytest.approx(1 / (1 + math.exp(-1.0)))
    normalised = predict(_suite("yes_no_maybe", "loglikelihood", normalize=True), item, result)
    assert (normalised.answer, normalised.correct) == (1, True)


def test_normalized_confidence_is_the_probability_of_the_picked_answer() -> None:
    """Regression: with normalize the stored confidence was a softmax of per-character averages."""
    item = Item(id="i", question="q", choices=("yes", "maybe"), answer=1)
    scored = predict(_suite("yes_no_maybe", "loglikelihood", normalize=True), item, ChoiceResult(logprobs=(-3.0, -4.0)))
    p_maybe = math.exp(-4.0) / (
        math.exp(-3.0) + math.exp(-4.0)
    )  # the model's probability of " maybe" among the options
    assert scored.answer == 1 and scored.confidence == pytest.approx(p_maybe)
    assert scored.probs == pytest.approx((1 - p_maybe, p_maybe))
    assert scored.confidence != pytest.approx(1 / (1 + math.exp(-1.0 + 0.8)))  # the old per-character softmax


def test_every_option_at_zero_probability_is_invalid_not_nan() -> None:
    item = Item(id="i", question="q", choices=("yes", "no", "maybe"), answer=1)
    for suite in (
        _suite("yes_no_maybe", "loglikelihood", normalize=True),
        _suite("yes_no_maybe", "loglikelihood"),
        _suite(),
    ):
        scored = predict(suite, item, ChoiceResult(logprobs=(-math.inf,) * 3))
        assert scored.invalid and scored.answer is None and not scored.correct
        assert scored.confidence is None and scored.probs is None
        json.dumps(scored.entry(), allow_nan=False)  # never NaN in a baseline
    partial = predict(
        _suite("yes_no_maybe", "loglikelihood"), item, ChoiceResult(logprobs=(-math.inf, -1.0, -math.inf))
    )
    assert partial.answer == 1 and partial.confidence == 1.0


def test_letter_prediction_probabilities_and_near_ties() -> None:
    item = Item(id="i", question="q", choices=("a", "b", "c"), answer=2)
    pred = predict(_suite(), item, ChoiceResult(logprobs=(-2.0, -2.0, -0.5)))
    assert pred.answer == 2 and pred.correct and not pred.near_tie
    assert sum(pred.probs or ()) == pytest.approx(1.0)
    assert pred.diagnostics["option_mass"] == pytest.approx(2 * math.exp(-2.0) + math.exp(-0.5))
    tie = predict(_suite(), item, ChoiceResult(logprobs=(-1.0, -1.00001, -3.0)))
    assert tie.near_tie and tie.answer == 0
    with pytest.raises(ValueError, match="returned 2 scores for 3 options"):
        predict(_suite(), item, ChoiceResult(logprobs=(-1.0, -2.0)))


def _score(item_id: str, shown: str, correct: bool, confidence: float) -> ItemScore:
    return ItemScore(
        item_id=item_id,
        variant="",
        answer=0,
        correct=correct,
        shown=shown,
        key="A",
        content_hash="h",
        confidence=confidence,
    )


def _baseline(items: dict) -> Baseline:
    return Baseline(
        suite="s",
        profile="p",
        model_name="m",
        model_fingerprint="f",
        suite_fingerprint="sf",
        scoring="letter",
        items=items,
    )


def test_baseline_text_is_stable_reviewable_and_round_trips(tmp_path: Path) -> None:
    items = {
        "b-2": {"answer": "C", "correct": False, "confidence": 0.123456789, "hash": "h2"},
        "a-1": {"hash": "h1", "correct": True, "confidence": 0.5, "answer": "A"},
    }
    text = BaselineExtension().serialize(_baseline(items))
    shuffled = BaselineExtension().serialize(_baseline(dict(reversed(list(items.items())))))
    assert text == shuffled and text.endswith("}\n")
    lines = text.splitlines()
    assert lines[1] == '  "format": "pytest-medmodel/baseline-v1",'
    assert '    "a-1": {"answer": "A", "confidence": 0.5, "correct": true, "hash": "h1"},' in lines
    assert '    "b-2": {"answer": "C", "confidence": 0.1235, "correct": false, "hash": "h2"}' in lines
    data = json.loads(text)
    assert data["metrics"] == {"accuracy": 0.5, "correct": 1, "mean_confidence": 0.3117, "n": 2}
    path = tmp_path / "s.json"
    path.write_text(text)
    assert dumps_baseline(read_baseline(path).to_json()) == text


def test_merge_keeps_unrun_entries_and_drops_items_that_left_the_suite() -> None:
    old = _baseline({i: {"answer": "A", "correct": True, "confidence": 0.5, "hash": "h"} for i in ("a", "b", "c")})
    new, added, changed, dropped = merge_baseline(
        old,
        suite="s",
        profile="p",
        model_name="m2",
        model_fingerprint="f2",
        suite_fingerprint="sf2",
        scoring="letter",
        suite_keys=["a", "b", "d"],
        scores={"b": _score("b", "B", False, 0.7), "d": _score("d", "A", True, 0.9)},
    )
    assert (added, changed, dropped) == (["d"], ["b"], ["c"])
    assert new.items["a"] == old.items["a"]
    assert new.metrics["n"] == 3 and new.metrics["correct"] == 2
    assert new.model_fingerprint == "f2"


def test_update_ignores_confidence_noise_but_not_real_changes() -> None:
    old = _baseline(
        {
            "a": {"answer": "A", "correct": True, "confidence": 0.6245, "hash": "h"},
            "b": {"answer": "B", "correct": True, "confidence": 0.5, "hash": "h"},
        }
    )
    scores = {"a": _score("a", "A", True, 0.6246), "b": _score("b", "B", True, 0.51)}
    new, added, changed, dropped = merge_baseline(
        old,
        suite="s",
        profile="p",
        model_name="m",
        model_fingerprint="f",
        suite_fingerprint="sf",
        scoring="letter",
        suite_keys=["a", "b"],
        scores=scores,
    )
    assert changed == ["b"] and new.items["a"]["confidence"] == 0.6245 and new.items["b"]["confidence"] == 0.51


def test_malformed_baseline_says_how_to_recover(tmp_path: Path) -> None:
    from pytest_medmodel.baselines.format import BaselineError

    path = tmp_path / "b.json"
    path.write_text("{not json")
    with pytest.raises(
        BaselineError, match="invalid JSON .* restore it from version control or re-record it with --snapshot-update"
    ):
        read_baseline(path)
    path.write_text(json.dumps({"format": "other"}))
    with pytest.raises(BaselineError, match="not a pytest-medmodel/baseline-v1 file"):
        read_baseline(path)
    assert read_baseline(tmp_path / "missing.json") is None


def test_shards_are_planned_identically_by_scheduler_and_workers() -> None:
    assert plan_shards(["a", "b", "c", "d", "e"], 2) == [("a", "b"), ("c", "d"), ("e",)]
    ids = [f"s/x.suite.yaml::item[q{i}]" for i in range(5)] + [
        "s/x.suite.yaml::gate[accuracy]",
        "tests/test_a.py::test_one",
    ]
    scopes = shard_scopes(ids, 2)
    assert [scopes[i] for i in ids] == [
        "s/x.suite.yaml::shard0",
        "s/x.suite.yaml::shard0",
        "s/x.suite.yaml::shard1",
        "s/x.suite.yaml::shard1",
        "s/x.suite.yaml::shard2",
        "s/x.suite.yaml::gates",
        "tests/test_a.py::test_one",
    ]


def test_importing_the_plugin_and_collecting_loads_no_torch(tmp_path: Path) -> None:
    (tmp_path / "suites").mkdir()
    (tmp_path / "suites" / "items.jsonl").write_text(
        json.dumps({"id": "a", "question": "Q?", "choices": ["x", "y"], "answer": "A"}) + "\n"
    )
    (tmp_path / "suites" / "s.suite.yaml").write_text("data: {path: items.jsonl}\n")
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    script = textwrap.dedent(
        """
        import sys, pytest
        code = pytest.main(["--collect-only", "-q", "suites", "--medmodel=demo", "-p", "no:cacheprovider"])
        heavy = sorted(m for m in ("torch", "transformers", "datasets", "numpy", "accelerate") if m in sys.modules)
        print("HEAVY=" + ",".join(heavy))
        sys.exit(int(code))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "s.suite.yaml::item[a]" in done.stdout
    assert "HEAVY=\n" in done.stdout, done.stdout


STORE_OPENERS = 8
STORE_ROUNDS = 40

STORE_OPENER = """
import os, sys
from pathlib import Path
from pytest_medmodel.models.base import ChoiceResult
from pytest_medmodel.execution.store import SQLiteStore as PredictionStore

key, folder, gates = sys.argv[1], Path(sys.argv[2]), [int(fd) for fd in sys.argv[3].split(",")]
found = 0
for round_, gate in enumerate(gates):
    (folder / f"ready-{round_}" / key).touch()
    os.read(gate, 1)  # blocks until the test closes the other end: every process wakes at once
    store = PredictionStore(folder / f"p{round_}.sqlite3")  # a new file each round
    store.put_many({key: ChoiceResult((-1.0, -2.0)).to_json()})
    found += len(store.get_many([key]))
    store.close()
print(found)
"""
"""Each round: says it is ready (``ready-<round>/<key>``), waits at the round's gate, then opens a new store."""


def test_prediction_store_opens_safely_from_many_processes_at_once(tmp_path: Path) -> None:
    """Regression: two xdist workers creating the cache at once hit 'database is locked'.

    Today the store would take that for a damaged file, move it aside with a warning and start empty, so that
    is what is looked for. The start is a barrier, not a moment on the clock: the test
    releases a round only when every process says it is ready (300 s at most, or the test fails), by closing
    a pipe all of them are blocked reading. With the store's open lock taken out, each of 40 runs of this test
    on a busy 2-core machine failed, the race showing in 2 to 26 of its 40 rounds.
    """
    for round_ in range(STORE_ROUNDS):
        (tmp_path / f"ready-{round_}").mkdir()
    gates = [os.pipe() for _ in range(STORE_ROUNDS)]
    unclosed = {fd for gate in gates for fd in gate}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", STORE_OPENER, f"key{i}", str(tmp_path), ",".join(str(r) for r, _ in gates)],
            pass_fds=[r for r, _ in gates],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(STORE_OPENERS)
    ]
    try:
        for read_end, _ in gates:
            os.close(read_end)  # the processes hold their own
            unclosed.remove(read_end)
        for round_, (_, write_end) in enumerate(gates):
            ready = tmp_path / f"ready-{round_}"
            give_up = time.monotonic() + 300
            while len(os.listdir(ready)) < STORE_OPENERS:
                ended = [p.communicate() for p in procs if p.poll() is not None]
                if ended or time.monotonic() > give_up:
                    pytest.fail(f"round {round_}: not every process got to the barrier {ended}")
                time.sleep(0.01)
            os.close(write_end)  # the round starts for all of them together
            unclosed.remove(write_end)
        outs = [p.communicate(timeout=300) for p in procs]
    finally:
        for p in procs:
            p.kill()
        for fd in unclosed:
            os.close(fd)
    assert all(p.returncode == 0 for p in procs), outs
    assert [o.strip() for o, _ in outs] == [str(STORE_ROUNDS)] * STORE_OPENERS
    assert not [e for _, e in outs if "unreadable" in e or "database is locked" in e], outs
    assert sorted(tmp_path.glob("*.corrupt-*")) == []  # no process took the new file for a damaged one
    from pytest_medmodel.execution.store import SQLiteStore

    keys = [f"key{i}" for i in range(STORE_OPENERS)]
    for round_ in range(STORE_ROUNDS):
        assert len(SQLiteStore(tmp_path / f"p{round_}.sqlite3").get_many(keys)) == STORE_OPENERS


def test_baseline_extension_works_with_syrupys_snapshot_fixture(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\n")
    pytester.makepyfile(
        test_format="""
        from pytest_medmodel.baselines.format import Baseline
        from pytest_medmodel.baselines.snapshot import BaselineExtension

        def test_baseline_snapshot(snapshot):
            baseline = Baseline(suite="s", profile="p", model_name="m", model_fingerprint="f", suite_fingerprint="sf", scoring="letter",
                                items={"a": {"answer": "A", "correct": True, "confidence": 0.123456, "hash": "h"}})
            assert snapshot.use_extension(BaselineExtension) == baseline
        """
    )
    assert pytester.runpytest("--snapshot-update").ret == 0
    (written,) = (pytester.path / "__snapshots__" / "test_format").glob("*.json")
    assert '    "a": {"answer": "A", "confidence": 0.1235, "correct": true, "hash": "h"}' in written.read_text()
    assert pytester.runpytest().ret == 0


def test_a_locked_prediction_cache_is_an_error_not_a_damaged_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A busy file is not corrupt: it is never moved aside (the cache would be lost), and the line says what to do."""
    from pytest_medmodel.execution.store import SQLiteStore, StoreError

    path = tmp_path / "p.sqlite3"
    SQLiteStore(path).put_many({"k": ChoiceResult((-1.0, -2.0)).to_json()})

    def locked(self: SQLiteStore) -> None:
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(SQLiteStore, "_open", locked)
    with pytest.raises(StoreError, match="is locked by another process.*--medmodel-no-cache"):
        SQLiteStore(path)
    assert sorted(tmp_path.glob("*.corrupt-*")) == []
    monkeypatch.undo()
    assert SQLiteStore(path).get_many(["k"]) == {"k": ChoiceResult((-1.0, -2.0)).to_json()}


def test_factory_settings_read_annotations_unions_lists_and_defaults() -> None:
    from pytest_medmodel.factory_settings import first_problem, settings_of

    def factory(rate: float = 0.1, at: str | int = "middle", words: list[str] | None = None, seed=0, flag=False):  # type: ignore[no-untyped-def]
        if rate > 1:
            raise ValueError(f"rate={rate} must lie in [0, 1]")
        return lambda variant, rng: variant

    known = settings_of(factory)
    assert known["rate"].problem(1) is None and known["rate"].problem("x") == "expected a number, got str"
    assert known["at"].problem(3) is None and known["at"].problem("end") is None
    assert known["at"].problem(1.5) == "expected a text or a whole number, got float"
    assert known["seed"].problem(True) == "expected a whole number, got a boolean"  # unannotated: its default's type
    assert known["flag"].problem(1) == "expected true or false, got int"
    assert known["words"].problem(["a", 1]) is not None
    assert first_problem("f", "perturbation", factory, {"rate": 2}) == (
        "",
        "rate=2 must lie in [0, 1]",
        "see the f perturbation's settings",
    )
    assert first_problem("f", "perturbation", factory, {"speed": 2}) == (
        "speed",
        "unknown setting",
        "f takes rate, at, words, seed, flag",
    )
    assert first_problem("f", "perturbation", factory, {"rate": 0.5, "at": 2}) is None
