"""The plain-Python core without pytest: the runner's single entry point, registries, the run summary."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

from pytest_medmodel import (
    ChoiceRequest,
    ChoiceResult,
    GenerationRequest,
    GenerationResult,
    ModelHandle,
    Runner,
    registry,
)
from pytest_medmodel.execution.calls import AdapterFault
from pytest_medmodel.execution.run_stats import RunStats
from pytest_medmodel.execution.store import MemoryStore, SQLiteStore
from pytest_medmodel.gates.base import GATES
from pytest_medmodel.report.summary import GateVerdict, ModelSummary, RunSummary, SuiteSummary
from pytest_medmodel.report.terminal import summary_lines
from pytest_medmodel.stats.paired import PairedStats


class Counting:
    """An adapter that scores and generates, and counts what reached it."""

    name = "counting"
    fingerprint = "counting-v1"

    def __init__(self) -> None:
        self.choice_calls: list[int] = []
        self.generate_calls: list[int] = []

    def loglikelihood(self, requests: list[ChoiceRequest]) -> list[ChoiceResult]:
        self.choice_calls.append(len(requests))
        return [ChoiceResult(tuple(-float(len(c)) for c in r.continuations)) for r in requests]

    def generate(self, requests: list[GenerationRequest]) -> list[str]:
        self.generate_calls.append(len(requests))
        return [r.context[::-1][: r.max_new_tokens] for r in requests]


def test_execute_serves_mixed_batches_from_the_cache_and_ignores_meta() -> None:
    adapter = Counting()
    model = ModelHandle.wrap(adapter, profile="p", where="test")
    runner = Runner(MemoryStore())
    batch = [
        ChoiceRequest("Q1", (" a", " bb"), meta={"item": "x"}),
        GenerationRequest("hello", max_new_tokens=3),
        ChoiceRequest("Q1", (" a", " bb"), meta={"item": "a different item, same request"}),
    ]
    first = runner.execute(batch, model)
    assert first == [ChoiceResult((-2.0, -3.0)), GenerationResult("oll"), ChoiceResult((-2.0, -3.0))]
    assert adapter.choice_calls == [1] and adapter.generate_calls == [1]  # the duplicate was computed once
    again = runner.execute([GenerationRequest("hello", max_new_tokens=3), ChoiceRequest("Q2", (" a",))], model)
    assert again == [GenerationResult("oll"), ChoiceResult((-2.0,))]
    assert adapter.choice_calls == [1, 1] and adapter.generate_calls == [1]  # only the new request was computed
    assert runner.stats.requests_computed == 3 and runner.stats.requests_cached == 2


def test_execute_never_loads_a_model_whose_answers_are_cached(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "p.sqlite3")
    loads: list[int] = []

    def handle() -> ModelHandle:
        def load() -> Counting:
            loads.append(1)
            return Counting()

        return ModelHandle(
            name="lazy", fingerprint="lazy-v1", profile="p", capabilities=frozenset({"choice_logprobs"}), load=load
        )

    request = [ChoiceRequest("Q", (" a", " b"))]
    Runner(store).execute(request, handle())
    cold = handle()
    assert Runner(store).execute(request, cold) == [ChoiceResult((-2.0, -2.0))]
    assert loads == [1] and not cold.loaded
    assert "not loaded: every prediction came from the cache" in cold.describe()


@pytest.mark.parametrize(
    ("logprobs", "problem"),
    [
        ((-1.0,), "1 scores for 2 continuations"),
        ((-1.0, math.nan), "log-likelihoods must be numbers"),
        ((math.inf, -1.0), "log-likelihoods must be numbers"),
    ],
)
def test_bad_results_are_refused_before_they_reach_the_cache(logprobs: tuple[float, ...], problem: str) -> None:
    class Bad(Counting):
        def loglikelihood(self, requests: list[ChoiceRequest]) -> list[ChoiceResult]:
            return [ChoiceResult(logprobs) for _ in requests]

    store = MemoryStore()
    model = ModelHandle.wrap(Bad(), profile="p", where="test")
    with pytest.raises(AdapterFault, match=problem):
        Runner(store).execute([ChoiceRequest("Q", (" a", " b"), meta={"item": "q1"})], model)
    assert store.get_many(store._data) == {}  # nothing poisoned the cache


def test_a_model_without_a_fingerprint_shares_answers_only_within_a_runner() -> None:
    adapter = Counting()
    adapter.fingerprint = None  # type: ignore[assignment]
    persistent = MemoryStore()
    model = ModelHandle.wrap(adapter, profile="p", where="test")
    runner = Runner(persistent)
    runner.execute([ChoiceRequest("Q", (" a",))], model)
    runner.execute([ChoiceRequest("Q", (" a",))], model)
    assert adapter.choice_calls == [1] and persistent._data == {}


def test_an_installed_pack_registers_through_an_entry_point(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "fake_medmodel_pack.py").write_text(
        "from pytest_medmodel import GateResult, gate\n\n"
        "@gate('from_pack')\n"
        "def from_pack(ctx):\n"
        "    return GateResult('from_pack', 'passed', 'hello from an installed pack')\n"
    )
    info = tmp_path / "fake_medmodel_pack-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-medmodel-pack\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[pytest_medmodel]\nfake = fake_medmodel_pack\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_entry_points_loaded", False)
    assert "from_pack" in GATES  # a miss loads the group's entry points, once
    assert GATES.get("from_pack").evaluate(None).message == "hello from an installed pack"  # type: ignore[arg-type]
    sys.modules.pop("fake_medmodel_pack", None)


def test_registering_a_name_twice_from_different_code_is_refused() -> None:
    from pytest_medmodel import gate

    def one(ctx: object) -> None: ...

    def two(ctx: object) -> None: ...

    gate("twice")(one)  # type: ignore[arg-type]
    gate("twice")(one)  # type: ignore[arg-type]  # the same function again (a re-imported conftest): fine
    with pytest.raises(registry.RegistryError, match="gate 'twice' is already registered by .*one; pick another name"):
        gate("twice")(two)  # type: ignore[arg-type]
    with pytest.raises(registry.RegistryError, match="unknown gate 'twise'; did you mean 'twice'"):
        GATES.get("twise")


def test_the_run_summary_is_plain_data_that_renders_the_same_after_a_json_round_trip() -> None:
    stats = RunStats(shards_computed=3, requests_computed=174, requests_cached=12, intervals=[(10.0, 40.5)])
    summary = RunSummary(
        suites=[
            SuiteSummary(
                "suites/x.suite.yaml",
                "x",
                PairedStats(
                    n=40,
                    correct=26,
                    has_baseline=True,
                    paired=40,
                    baseline_correct=40,
                    current_correct=26,
                    regressed=14,
                    warnings=("careful",),
                    chance=0.25,
                    regressed_ids=("a-1 A->B", "a-2 C->D"),
                ),
                {"acc": 0.5, "acc_norm": 0.625, "option_mass": 0.3},
                [GateVerdict("accuracy", "failed", "accuracy dropped")],
            ).with_power({"max_drop": 0.02, "level": 0.05})
        ],
        model=ModelSummary("m", "fp", "p", "m (cpu, float32)"),
        inference=stats,
        model_seconds=4.2,
        updates=["baselines/p/x.json: unchanged"],
    )
    data = json.loads(json.dumps(summary.to_json()))
    again = RunSummary.from_json(data)
    assert summary_lines(again) == summary_lines(summary)
    assert summary_lines(summary)[1].split() == [
        "x",
        "40",
        "65.0%",
        "[49.5%,",
        "77.9%]",
        "100.0%",
        "-35.0",
        "14/0",
        "6.1e-05",
        "16.2",
        "-",  # ECE and Brier: no probabilities in this summary
        "-",
        "failed",
    ]
    assert "x: regressed (baseline->current): a-1 A->B, a-2 C->D (+12 more)" in summary_lines(summary)


def _pack(tmp_path: Path, name: str, module_source: str | None, entry: str) -> None:
    if module_source is not None:
        (tmp_path / f"{name}.py").write_text(module_source)
    info = tmp_path / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[pytest_medmodel]\n{entry}\n")


def test_a_model_resolver_from_an_installed_pack_serves_the_plain_api(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review finding: resolvers are iterated, never looked up by name, so the pack was never loaded."""
    from pytest_medmodel import load_model

    _pack(
        tmp_path,
        "staging_pack",
        "from pytest_medmodel import ModelHandle, model_resolver\n\n"
        "class Echo:\n    name = 'echo'\n    fingerprint = 'echo-v1'\n"
        "    def loglikelihood(self, requests):\n        return []\n\n"
        "@model_resolver('staging', priority=5)\n"
        "def staging(spec, options):\n"
        "    return ModelHandle.wrap(Echo(), profile='staging', where=spec) if spec.startswith('staging:') else None\n",
        "staging = staging_pack",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_entry_points_loaded", False)
    assert load_model("staging:v2").name == "echo"
    sys.modules.pop("staging_pack", None)


def test_a_broken_pack_is_named_and_does_not_stop_the_others(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _pack(tmp_path, "aaa_broken_pack", None, "broken = aaa_broken_pack_missing_module")
    _pack(
        tmp_path,
        "zzz_good_pack",
        "from pytest_medmodel import GateResult, gate\n\n@gate('from_good_pack')\ndef g(ctx):\n    return GateResult('from_good_pack', 'passed', '')\n",
        "good = zzz_good_pack",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_entry_points_loaded", False)
    monkeypatch.setattr(registry, "_entry_point_errors", [])
    assert "from_good_pack" in GATES
    with pytest.raises(
        registry.RegistryError,
        match=r"unknown gate 'nope' \(an installed pack failed to load: broken = aaa_broken_pack_missing_module from aaa_broken_pack: ModuleNotFoundError: .*\); ",
    ):
        GATES.get("nope")
    sys.modules.pop("zzz_good_pack", None)
