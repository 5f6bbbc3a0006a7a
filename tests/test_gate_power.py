"""The combined accuracy gate, by seeded simulation: false alarms at or below alpha, and a diffuse drop caught.

Planted models come from ``benchmarks/bench_gate_power.py`` (the Monte Carlo
benchmark); each decision is :func:`pytest_medmodel.gates.accuracy.drop_decision`,
the function the gate calls. Small enough to run in seconds.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from pytest_medmodel.gates.accuracy import drop_decision
from pytest_medmodel.stats import binomial_upper_tail, paired_t_one_sided, student_t_lower_tail

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("bench_gate_power", ROOT / "benchmarks" / "bench_gate_power.py")
assert spec is not None and spec.loader is not None
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def _rate(scenario: str, n: int, pairs: int, mode: str, alpha: float, max_drop: float, seed: int) -> int:
    rng = np.random.default_rng(seed)
    slips = {"drop 3": bench.slip_for(0.03, rng, n=50_000)}
    return sum(bench.decide(*bench.pair(scenario, n, rng, slips), mode, alpha, max_drop) for _ in range(pairs))


def _most_false_alarms(pairs: int, alpha: float) -> int:
    """The count a gate with false-alarm rate alpha exceeds with probability under 1%."""
    return next(k for k in range(pairs + 1) if binomial_upper_tail(k + 1, pairs, alpha) < 0.01)


def test_the_combined_test_keeps_false_alarms_at_or_below_alpha_even_without_the_size_guard() -> None:
    """Bonferroni over McNemar and the paired t-test: with max_drop 0 the tests alone decide, and stay valid."""
    for alpha in (0.05, 0.01):
        alarms = _rate("no drop", 200, 400, "combined", alpha, 0.0, seed=1)
        assert alarms <= _most_false_alarms(400, alpha), (alpha, alarms)


def test_the_default_gate_keeps_false_alarms_at_one_percent_under_churn_and_precision_noise() -> None:
    for scenario in ("no drop", "precision"):
        alarms = _rate(scenario, 500, 300, "combined", 0.01, 0.01, seed=2)
        assert alarms <= _most_false_alarms(300, 0.01), (scenario, alarms)


def test_a_diffuse_three_point_drop_is_caught_where_mcnemar_alone_mostly_misses_it() -> None:
    combined = _rate("drop 3", 500, 100, "combined", 0.01, 0.01, seed=3)
    mcnemar = _rate("drop 3", 500, 100, "mcnemar", 0.01, 0.01, seed=3)
    assert combined >= 80 and mcnemar <= combined - 30, (combined, mcnemar)


def test_which_line_of_evidence_fired_is_reported() -> None:
    # Probability slides a little on every item; three answers flip: only the t-test sees it.
    right = [(0.6, 0.55)] * 99 + [(0.2, 0.18)]
    dropped, evidence = drop_decision(3, 0, 100, right, max_drop=0.01, alpha=0.01)
    assert dropped and evidence.fired == ["paired t-test on the probability of the right answer"]
    assert evidence.level == 0.005 and abs(evidence.mcnemar_p - 0.125) < 1e-12
    dropped, evidence = drop_decision(3, 0, 100, [], max_drop=0.01, alpha=0.01)
    assert not dropped and evidence.level == 0.01 and evidence.fired == []  # McNemar alone, at the full alpha


def test_the_t_distribution_and_the_paired_test_against_known_values() -> None:
    assert abs(student_t_lower_tail(-2.0, 10) - 0.036694) < 1e-6
    assert abs(student_t_lower_tail(1.5, 30) - 0.927967) < 1e-6
    assert abs(student_t_lower_tail(-1.0, 1) - 0.25) < 1e-12
    # mean -0.1, sd 0.1155 over 4 differences: t = -sqrt(3) with 3 df, one-sided p = 0.0908.
    assert abs(paired_t_one_sided([-0.2, 0.0, -0.2, 0.0]) - 0.0908) < 5e-4
    assert paired_t_one_sided([0.1, 0.2]) == 1.0 and paired_t_one_sided([-0.1]) == 1.0
    assert paired_t_one_sided([-0.1, -0.1]) == 0.0
