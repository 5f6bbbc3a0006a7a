"""The benchmark scripts still run against the current API (a smoke run on a tiny model, not a timing)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_scoring_benchmark_runs_and_agrees_with_the_plain_loop(tiny_llama_dir: Path, tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("bench_scoring", ROOT / "benchmarks" / "bench_scoring.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "result.json"
    report = bench.main(["--model", str(tiny_llama_dir), "--items", "3", "--repeats", "1", "--output", str(out)])
    assert json.loads(out.read_text()) == report
    assert len(report["workloads"]) == 3
    for row in report["workloads"].values():
        assert row["items"] == 3 and row["answer_flips"] == 0 and row["max_abs_logprob_diff"] < 1e-4


def _module(name: str):  # noqa: ANN202
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_perturbation_cost_benchmark_runs_and_counts_tokens(tiny_llama_dir: Path, tmp_path: Path) -> None:
    bench = _module("bench_perturbations")
    suite = ROOT / "suites" / "robustness" / "choice_order.suite.yaml"
    out = tmp_path / "result.json"
    report = bench.main(["--model", str(tiny_llama_dir), "--suite", str(suite), "--repeats", "1", "--output", str(out)])
    rows = {row["perturbation"]: row for row in report["rows"]}
    assert {"shuffle", "rotate", "(all)"} <= set(rows)
    assert rows["rotate"]["variants_per_item"] == 3
    for row in rows.values():  # the shared prefix never costs more tokens than running every variant whole
        assert row["shared"]["tokens_with_variants"] <= row["unshared"]["tokens_with_variants"]
    assert rows["(all)"]["shared"]["extra_passes_per_variant"] < 1.0  # the question runs once per item


@pytest.mark.slow
def test_report_benchmark_runs_and_measures_the_report(tmp_path: Path) -> None:
    bench = _module("bench_report")
    out = tmp_path / "result.json"
    result = bench.main(["--items", "200", "--repeats", "1", "--output", str(out)])
    assert json.loads(out.read_text()) == result
    assert result["items"] == 200 and result["suites"] == 4 and result["regressed"] > 0
    assert result["plugin_write_seconds"] > 0 and result["bytes"]["report.html"] > 10_000


@pytest.mark.slow
def test_image_change_benchmark_counts_the_vision_tower_per_perturbation(tmp_path: Path) -> None:
    from tiny_vision_models import build_llava

    bench = _module("bench_image_changes")
    model = build_llava(tmp_path / "llava")
    suite = ROOT / "suites" / "robustness" / "image_changes.suite.yaml"
    out = tmp_path / "result.json"
    report = bench.main(
        ["--model", str(model), "--suite", str(suite), "--items", "6", "--repeats", "1", "--output", str(out)]
    )
    assert json.loads(out.read_text()) == report
    rows = report["families"]
    assert {"(originals)", "image_noise", "blur", "no_image", "swap_image"} <= set(rows)
    assert rows["(originals)"]["time_over_originals"] == 1.0 and rows["(originals)"]["items"] == 6
    assert rows["no_image"]["vision_tower"] == {"calls": 0, "rows": 0} and rows["no_image"]["distinct_images"] == 0
    for name, row in rows.items():  # the tower sees each distinct picture once (a batch of one call here)
        assert row["vision_tower"]["rows"] == row["distinct_images"], name


def test_recipe_loading_benchmark_times_every_vision_recipe_on_its_sample_rows(tmp_path: Path) -> None:
    from test_vision_recipes import VISION_RECIPES

    bench = _module("bench_recipe_loading")
    out = tmp_path / "loading.json"
    report = bench.main(["--repeats", "1", "--output", str(out)])
    assert json.loads(out.read_text()) == report
    assert set(report["recipes"]) == set(VISION_RECIPES)  # every vision recipe, none of the hub-only text ones
    for name, row in report["recipes"].items():
        assert row["items"] == len(VISION_RECIPES[name][1]) and row["median_ms"] > 0, name
