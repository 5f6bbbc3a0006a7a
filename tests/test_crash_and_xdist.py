"""A model that breaks never touches baselines; xdist gives serial results, computing each shard once."""

from __future__ import annotations

import re
import shutil
from fnmatch import fnmatch

import pytest
from conftest import Project, expect_lines, outcomes


def test_model_that_raises_mid_run_leaves_baselines_byte_identical(project: Project) -> None:
    project.suite("mini", 20)
    project.suite("other", 6, prefix="ot")
    assert project.run("--snapshot-update", "--medmodel-shard-size", "8").ret == 0
    before = project.baseline_bytes()
    assert len(before) == 2

    plain = project.run("--medmodel-shard-size", "8", crash_on="mi-013", flips=["mi-001"])
    assert plain.ret == 1
    # Shard 2 (mi-008..mi-015) errors; shards 1 and 3 and the other suite still run.
    counts = outcomes(plain)
    assert counts["errors"] == 8 + 1  # the shard's items and mini's gate (it needs every shard)
    expect_lines(plain, ["*RuntimeError: simulated CUDA error on mi-013*"])
    assert project.baseline_bytes() == before

    update = project.run(
        "--snapshot-update", "--medmodel-shard-size", "8", crash_on="mi-013", flips=["mi-001", "ot-002"]
    )
    assert update.ret == 1
    expect_lines(
        update,
        [
            "baselines left untouched: 9 test(s) hit a model or data error (first: suites/mini.suite.yaml::item[mi-008] (setup): *simulated CUDA error on mi-013*"
        ],
    )
    assert project.baseline_bytes() == before


def test_failed_shard_is_not_retried_per_item(project: Project) -> None:
    project.suite("mini", 8)
    result = project.run(crash_on="mi-003")
    assert outcomes(result)["errors"] == 9
    assert project.calls() == [8]  # one attempt, not one per test
    # The first test says the adapter's exception in one line, with where it was raised; the other eight
    # say that it happened earlier. No traceback unless asked for.
    said = "RuntimeError: simulated CUDA error on mi-003 (raised at oracle.py:*, in loglikelihood)"
    expect_lines(result, [f"{said}; -v or --tb=long shows its traceback"])
    assert "Traceback" not in result.stdout.str() and "raise RuntimeError" not in result.stdout.str()
    lines = [line for line in result.stdout.lines if line.startswith("ShardFailed: ")]
    assert len(lines) == 8 and all(
        fnmatch(line, f"ShardFailed: mini shard 1: inference failed earlier in this run: {said}") for line in lines
    )


def test_the_adapters_traceback_is_shown_once_when_asked_for(project: Project) -> None:
    project.suite("mini", 8)
    result = project.run("--tb=long", crash_on="mi-003")
    assert outcomes(result)["errors"] == 9
    text = result.stdout.str()
    assert text.count('raise RuntimeError(f"simulated CUDA error on {item_id}")') == 1  # the first test's, once
    assert len([line for line in result.stdout.lines if line.startswith("ShardFailed: ")]) == 8


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
@pytest.mark.slow
def test_a_model_that_cannot_be_built_stops_the_run_in_one_line(project: Project, workers: list[str]) -> None:
    project.suite("mini", 4)
    argv = ["suites", "--medmodel=py:oracle:missing_factory", "--snapshot-update", "-p", "no:randomly", *workers]
    result = project.pytester.runpytest_subprocess(*argv)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert outcomes(result)["errors"] <= (2 if workers else 1)  # each test process says it once, then stops
    text = result.stdout.str()
    assert "Traceback" not in text and "During handling" not in text
    expect_lines(
        result,
        [
            "the run stopped: the model cannot be used: --medmodel=py:oracle:missing_factory: oracle has no attribute missing_factory"
        ],
    )
    assert len(result.stdout.lines) < 40
    assert project.baseline_bytes() == {}


@pytest.mark.slow
def test_xdist_matches_serial_and_computes_each_shard_once(project: Project) -> None:
    project.suite("mini", 20)
    project.suite("other", 12, prefix="ot")
    shard = ("--medmodel-shard-size", "6")
    serial = project.run("--snapshot-update", *shard)
    assert serial.ret == 0
    serial_bytes = project.baseline_bytes()
    serial_calls = sorted(project.calls())
    assert serial_calls == sorted([6, 6, 6, 2, 6, 6])  # 4 shards of mini, 2 of other

    shutil.rmtree(project.path / "baselines")
    shutil.rmtree(project.path / ".pytest_cache")
    project.clear_calls()
    parallel = project.run("--snapshot-update", "-n", "2", *shard, subprocess=True)
    assert parallel.ret == 0, parallel.stdout.str()
    assert project.baseline_bytes() == serial_bytes
    assert sorted(project.calls()) == serial_calls  # every shard inferred exactly once in total
    expect_lines(
        parallel, ["*inference: 6 shard(s), 32 item(s) computed*; 0 read from the prediction cache*"]
    )  # gates re-reading a shard do not count

    # Same outcomes as serial on a degraded model, gates included.
    flips = ["mi-000", "mi-001", "mi-002", "mi-003", "mi-004", "mi-005", "mi-006", "ot-001"]
    serial_plain = project.run(*shard, flips=flips)
    parallel_plain = project.run("-n", "2", *shard, flips=flips, subprocess=True)
    assert outcomes(serial_plain) == outcomes(parallel_plain) == {"failed": 1, "passed": 25, "regressed": 8}
    expect_lines(parallel_plain, ["*accuracy dropped on suite mini (profile oracle-make)*"])


@pytest.mark.slow
def test_xdist_update_with_a_crash_writes_nothing(project: Project) -> None:
    project.suite("mini", 16)
    assert project.run("--snapshot-update").ret == 0
    before = project.baseline_bytes()
    result = project.run(
        "--snapshot-update",
        "-n",
        "2",
        "--medmodel-shard-size",
        "4",
        crash_on="mi-009",
        flips=["mi-000"],
        subprocess=True,
    )
    assert result.ret == 1
    expect_lines(result, ["baselines left untouched: * test(s) hit a model or data error*"])
    assert project.baseline_bytes() == before


@pytest.mark.slow
def test_worker_k_is_pinned_to_gpu_k_and_auto_counts_gpus(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    # No GPU here: the pinning only reads CUDA_VISIBLE_DEVICES / nvidia-smi, so a
    # pretend list of two GPUs shows which one each worker would own.
    project.suite("mini", 16)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    result = project.run("-n", "auto", "--medmodel-shard-size", "4", "--snapshot-update", subprocess=True)
    assert result.ret == 0, result.stdout.str()
    expect_lines(result, ["*2 workers*"])  # -n auto: one worker per visible GPU
    assert project.devices() == {"3", "5"}


@pytest.mark.slow
def test_each_worker_gets_a_group_of_gpus(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """--medmodel-gpus-per-worker 2 over four (pretend) GPUs: two workers, each seeing its own pair."""
    project.suite("mini", 16)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2,3")
    args = ("-n", "auto", "--medmodel-gpus-per-worker", "2", "--medmodel-shard-size", "4", "--snapshot-update")
    result = project.run(*args, subprocess=True)
    assert result.ret == 0, result.stdout.str()
    expect_lines(result, ["*2 workers*"])
    assert project.devices() == {"0,1", "2,3"}


def test_gpu_groups_are_cut_evenly_and_too_many_is_a_usage_error() -> None:
    from pytest_medmodel.plugin.gpu import worker_groups

    assert worker_groups(["0", "1", "2", "3", "4"], 2) == [["0", "1"], ["2", "3"]]  # GPU 4 alone is no group
    assert worker_groups(["3", "5"], 1) == [["3"], ["5"]]
    with pytest.raises(pytest.UsageError, match="--medmodel-gpus-per-worker 4: only 2 GPU"):
        worker_groups(["0", "1"], 4)


@pytest.mark.slow
def test_a_run_that_turns_on_late_still_schedules_whole_shards(project: Project) -> None:
    """The model comes from a conftest fixture and the suites from the rootdir: nothing asks for medmodel
    before collection, so xdist's scheduler is built first. Its first collection swaps in the shard scheduler:
    every shard runs on one worker (xdist's ``load`` scheduler would give the first worker tests 0-1 and the
    second tests 2-3, splitting the first shard), and each shard is inferred once."""
    project.pytester.makeini("[pytest]\nmedmodel_shard_size = 4\n")
    project.pytester.makeconftest(
        "import pytest\nfrom oracle import Oracle\n\n@pytest.fixture(scope='session')\ndef medmodel():\n"
        "    return Oracle()\n"
    )
    project.suite("mini", 8)
    project.env.setenv("ORACLE_LOG", str(project.path / "oracle.log"))
    result = project.pytester.runpytest_subprocess("-n", "2", "-v", "-p", "no:randomly", "--snapshot-update")
    assert result.ret == 0, result.stdout.str()
    worker_of = {}
    for line in result.stdout.lines:
        match = re.match(r"\[(gw\d)\] .*PASSED suites/mini\.suite\.yaml::item\[mi-(\d+)\]", line)
        if match:
            worker_of[int(match.group(2))] = match.group(1)
    assert len(worker_of) == 8, result.stdout.str()
    assert len({worker_of[i] for i in range(4)}) == 1 and len({worker_of[i] for i in range(4, 8)}) == 1
    assert sorted(project.calls()) == [4, 4]
    result.stdout.fnmatch_lines(["scheduling tests via ShardScheduling"])
