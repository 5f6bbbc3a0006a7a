"""The accuracy gate's minimum detectable drop and blind-gate warnings (pytest_medmodel.stats.power)."""

from __future__ import annotations

import random

import pytest

from pytest_medmodel.stats.power import blind_gate_note, gate_power, minimum_detectable_drop, near_chance
from pytest_medmodel.stats.significance import mcnemar_one_sided


def simulated_power(
    n: int, correct: int, chance: float, drop: float, max_drop: float, alpha: float, runs: int
) -> float:
    """Monte Carlo of the slide-toward-chance model, judged by the accuracy gate's own rule."""
    rng = random.Random(12345)
    slide = drop / (correct / n - chance)
    failures = 0
    for _ in range(runs):
        regressed = sum(1 for _ in range(correct) if rng.random() < slide and rng.random() >= chance)
        improved = sum(1 for _ in range(n - correct) if rng.random() < slide and rng.random() < chance)
        if (regressed - improved) / n > max_drop + 1e-12 and mcnemar_one_sided(regressed, improved) < alpha:
            failures += 1
    return failures / runs


@pytest.mark.parametrize(
    ("n", "correct", "chance"),
    [(150, 120, 0.25), (64, 40, 1 / 3), (400, 240, 0.25)],
)
def test_minimum_detectable_drop_agrees_with_monte_carlo(n: int, correct: int, chance: float) -> None:
    detectable = minimum_detectable_drop(n, correct, chance, 0.02, 0.05)
    assert detectable is not None
    simulated = simulated_power(n, correct, chance, detectable, 0.02, 0.05, runs=3000)
    # At the detectable drop the exact power is at least 80% (and the search stops within 0.1 point of it);
    # 3000 runs have a standard error of 0.7 points: a 3-point tolerance is over 4 standard errors.
    assert abs(simulated - 0.80) < 0.03 + (gate_power(n, correct, chance, detectable, 0.02, 0.05) - 0.8)
    below = simulated_power(n, correct, chance, detectable * 0.6, 0.02, 0.05, runs=2000)
    assert below < 0.7, "a clearly smaller drop must be caught clearly less often"


def test_exact_power_matches_simulation_at_several_drops() -> None:
    for drop in (0.03, 0.06, 0.1):
        exact = gate_power(150, 120, 0.25, drop, 0.02, 0.05)
        simulated = simulated_power(150, 120, 0.25, drop, 0.02, 0.05, runs=3000)
        assert abs(exact - simulated) < 0.035, (drop, exact, simulated)


def test_larger_suites_detect_smaller_drops_and_chance_detects_nothing() -> None:
    drops = [minimum_detectable_drop(n, int(0.8 * n), 0.25, 0.02, 0.05) for n in (50, 150, 500, 2000)]
    assert all(d is not None for d in drops)
    assert drops == sorted(drops, reverse=True)
    assert drops[-1] < 0.03 < drops[0]
    assert minimum_detectable_drop(110, 27, 0.25, 0.02, 0.05) is None  # the demo's letter suite: at chance
    assert minimum_detectable_drop(0, 0, 0.25, 0.02, 0.05) is None


def test_blind_gate_note_at_chance_and_not_on_a_suite_the_model_knows() -> None:
    assert near_chance(27, 110, 0.25) and not near_chance(120, 150, 0.25)
    at_chance = blind_gate_note(110, 27, 0.25, None, 0.02, 0.05)
    assert at_chance is not None and "indistinguishable from chance" in at_chance
    detectable = minimum_detectable_drop(150, 120, 0.25, 0.02, 0.05)
    assert blind_gate_note(150, 120, 0.25, detectable, 0.02, 0.05) is None
    tiny = minimum_detectable_drop(12, 9, 0.25, 0.02, 0.05)
    small = blind_gate_note(12, 9, 0.25, tiny, 0.02, 0.05)
    assert small is not None and "add items" in small
