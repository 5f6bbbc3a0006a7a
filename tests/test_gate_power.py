"""The statistics behind the gates, by exact enumeration and seeded simulation (seconds, no plugin run).

What the gates promise: the accuracy gate's test is exact (McNemar, and its cluster
version); the probability gate's test keeps its level on skewed changes at any size
and never says p = 0; Holm's levels are the textbook ones; and the printed ``detects``
figure is the 80% power point of a retrained candidate with churn.
"""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

import numpy as np

from pytest_medmodel.gates.family import holm_levels
from pytest_medmodel.stats.power import flip_rates, gate_power, minimum_detectable_drop
from pytest_medmodel.stats.significance import (
    binomial_upper_tail,
    bounded_mean_above_p,
    mcnemar_one_sided,
    sign_flip_upper_tail,
)


def _most_false_alarms(trials: int, level: float) -> int:
    """The count a test with false-alarm rate ``level`` exceeds with probability under 1%."""
    return next(k for k in range(trials + 1) if binomial_upper_tail(k + 1, trials, level) < 0.01)


def test_the_cluster_sign_flip_test_is_mcnemar_for_single_items_and_exact_for_clusters() -> None:
    assert sign_flip_upper_tail([1] * 8 + [-1] * 2) == mcnemar_one_sided(8, 2)
    assert sign_flip_upper_tail([]) == 1.0 and sign_flip_upper_tail([0, 0]) == 1.0
    rng = random.Random(4)
    for _ in range(30):
        diffs = [rng.choice([-2, -1, 0, 1, 2, 3]) for _ in range(rng.randint(1, 9))]
        observed = sum(diffs)
        signs = list(itertools.product([1, -1], repeat=len(diffs)))
        brute = sum(sum(s * abs(d) for s, d in zip(sign, diffs, strict=True)) >= observed for sign in signs)
        assert abs(sign_flip_upper_tail(diffs) - brute / len(signs)) < 1e-12, diffs


def test_the_cluster_test_keeps_its_level_where_mcnemar_on_items_does_not() -> None:
    """Clusters of four items that flip together under no change: item-level McNemar is far too sure."""
    rng = np.random.default_rng(7)
    clustered = items = 0
    trials = 2000
    for _ in range(trials):
        flips = rng.choice([-1, 0, 0, 0, 0, 0, 0, 0, 1], size=25)  # one draw per cluster of 4
        diffs = [int(f) * 4 for f in flips]
        clustered += sign_flip_upper_tail(diffs) < 0.05
        regressed, improved = 4 * int((flips > 0).sum()), 4 * int((flips < 0).sum())
        items += mcnemar_one_sided(regressed, improved) < 0.05
    assert clustered <= _most_false_alarms(trials, 0.05), clustered
    assert items > 2 * _most_false_alarms(trials, 0.05), items


def test_the_probability_test_keeps_its_level_on_a_skewed_null_at_every_size() -> None:
    """Most items lose a little probability and a few gain a lot, mean zero: the t-test rejected this at
    the 0.5% level in 18.5% of runs at 16 items; the betting test stays at or below its level."""
    rng = random.Random(11)
    trials = 1500
    for n in (16, 40, 100):
        rejected = 0
        for _ in range(trials):
            losses = [rng.uniform(0, 0.1) if rng.random() < 0.9 else -rng.uniform(0.35, 0.55) for _ in range(n)]
            rejected += bounded_mean_above_p(losses, 0.0) < 0.005
        assert rejected <= _most_false_alarms(trials, 0.005), (n, rejected)


def test_the_probability_test_never_says_p_is_zero_and_finds_a_clear_loss() -> None:
    assert 0 < bounded_mean_above_p([0.1] * 10, 0.0) < 1  # every difference equal: no p = 0
    assert bounded_mean_above_p([0.1] * 300, 0.0) < 1e-6
    assert bounded_mean_above_p([-0.1] * 300, 0.0) == 1.0 and bounded_mean_above_p([], 0.0) == 1.0
    # A margin: losses of 0.05 are not significantly above 0.05, and clearly above 0.01.
    assert bounded_mean_above_p([0.05] * 400, 0.05) == 1.0
    assert bounded_mean_above_p([0.05] * 400, 0.01) < 0.001
    # The order of the values does not matter.
    values = [0.2, -0.1, 0.05, 0.3, 0.0, 0.1]
    assert bounded_mean_above_p(values, 0.0) == bounded_mean_above_p(sorted(values), 0.0)


def test_holm_levels_step_down_and_stop_at_the_first_non_significant_p() -> None:
    levels = holm_levels({"a": 0.001, "b": 0.004, "c": 0.03, "d": 0.002}, alpha=0.01, size=5)
    assert levels == {"a": 0.002, "d": 0.0025, "b": 0.01 / 3, "c": 0.01 / 3}
    # b is not below 0.0033: it and everything after it are held to that level.
    assert [name for name, p in {"a": 0.001, "b": 0.004, "c": 0.03, "d": 0.002}.items() if p < levels[name]] == [
        "a",
        "d",
    ]
    assert holm_levels({"x": 0.5}, alpha=0.01, size=11) == {"x": 0.01 / 11}


def test_churn_adds_flips_both_ways_and_keeps_the_expected_drop() -> None:
    for churn in (0.0, 0.1, 0.2):
        regress, improve = flip_rates(0.7, 0.25, 0.1, churn)
        assert abs(regress * 0.7 - improve * 0.3 - 0.1 * (0.7 - 0.25)) < 1e-12
    no_damage = flip_rates(0.7, 0.25, 0.0, 0.1)
    assert abs(no_damage[0] - 0.05 / 0.7) < 1e-12 and abs(no_damage[1] - 0.05 / 0.3) < 1e-12


def test_detects_for_a_retrained_candidate_is_the_simulated_80_percent_power_point() -> None:
    """500 items at 70%, churn 10%, level 0.002: the gate's own rule on simulated candidates."""
    n, correct, chance, level, churn = 500, 350, 0.25, 0.002, 0.10
    detects = minimum_detectable_drop(n, correct, chance, 0.01, level, churn=churn)
    in_place = minimum_detectable_drop(n, correct, chance, 0.01, level)
    assert detects is not None and in_place is not None and detects > in_place + 0.01
    rng = np.random.default_rng(5)
    regress, improve = flip_rates(correct / n, chance, detects / (correct / n - chance), churn)
    trials, fails = 3000, 0
    for _ in range(trials):
        r, i = rng.binomial(correct, regress), rng.binomial(n - correct, improve)
        fails += (r - i) / n > 0.01 and mcnemar_one_sided(r, i) < level
    simulated = fails / trials
    assert abs(simulated - 0.8) < 0.03, (detects, simulated)
    assert abs(gate_power(n, correct, chance, detects, 0.01, level, churn) - 0.8) < 0.02


def _load(name: str):  # noqa: ANN202 - a module
    import importlib.util
    import sys

    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(name, module)
    spec.loader.exec_module(module)
    return module


def test_the_frontier_benchmark_keeps_the_exact_and_randomized_rules_at_their_level() -> None:
    """The exact sums behind docs/calibration.md's frontier table: no true drop fails a valid rule more than
    its level, power grows with the drop, and the randomized frontier is never below the exact test."""
    bench = _load("bench_gate_power")
    for n in (100, 500):
        for level in (0.01, 0.002):
            sizes = {rule: bench.fail_rate(rule, n, 0.0, level) for rule in bench.RULES}
            assert sizes["exact"] <= level and sizes["randomized"] <= level, (n, level, sizes)
            exact = [bench.fail_rate("exact", n, drop, level) for drop in (0.01, 0.03, 0.05)]
            assert exact == sorted(exact) and exact[-1] > exact[0]
            assert bench.fail_rate("randomized", n, 0.03, level) >= exact[1] - 1e-12


def test_the_before_after_table_pools_replicates_and_gives_wilson_intervals(tmp_path: Path) -> None:
    compare = _load("gate_audit_compare")

    def result(failed: int, n: int) -> dict:
        entry = {"failed": failed, "n": n}
        return {
            "cells": [
                {
                    "kind": "core",
                    "items": 100,
                    "scenarios": {"redraw": {"gates": {"accuracy": entry}, "any_gate": entry}},
                }
            ]
        }

    first, second, old = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "old.json"
    first.write_text(json.dumps(result(1, 40)))
    second.write_text(json.dumps(result(0, 40)))
    old.write_text(json.dumps(result(9, 40)))
    text = compare.table(compare.pooled([old]), compare.pooled([first, second]))
    assert "| core@100 | redraw | accuracy | 22.5% [12.3, 37.5] (9/40) | 1.2% [0.2, 6.7] (1/80) |" in text


def test_paired_flips_margin_mode_needs_a_drop_significantly_beyond_max_drop() -> None:
    """120 of 400 units lost, none gained: 30 points. Real against 0 and against a 20-point margin, not 29."""
    from pytest_medmodel.gates.comparison import paired_flips

    units = [f"u{i:03d}" for i in range(400)]
    flips = paired_flips(
        dict.fromkeys(units[:120], False) | dict.fromkeys(units[120:], True), dict.fromkeys(units, True)
    )
    assert flips is not None
    p_point, large, _ = flips.test(0.02, "point")
    assert large and p_point < 1e-30
    assert flips.test(0.20, "margin")[0] < 0.001
    assert flips.test(0.29, "margin")[0] > 0.05
    # Clusters of four that lost together: 30 clusters, so the point test is far less sure than with 120 items.
    clustered = paired_flips(
        dict.fromkeys(units[:120], False) | dict.fromkeys(units[120:], True),
        dict.fromkeys(units, True),
        {u: f"c{i // 4}" for i, u in enumerate(units)},
    )
    assert clustered is not None and p_point < clustered.p_value < 1e-8
