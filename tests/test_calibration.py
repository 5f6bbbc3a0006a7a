"""Calibration metrics against hand-computed examples, and the paired bootstrap."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pytest_medmodel.calibration import metrics as m
from pytest_medmodel.calibration.compare import compare_calibration, small_suite_warning


def two_option(confidences: list[float], correct: list[bool]) -> m.Predictions:
    """Items with two options; the model picks option 0 with the given confidence; the key is 0 when correct."""
    return m.Predictions.build(
        [(c, 1 - c) for c in confidences], [0 if ok else 1 for ok in correct], [0] * len(correct)
    )


ALL = m.identity


def test_a_perfectly_calibrated_model_in_one_bin_has_zero_ece() -> None:
    p = two_option([0.8] * 10, [True] * 8 + [False] * 2)
    assert m.ece(p, ALL(10), bins=1)[0] == pytest.approx(0.0)
    assert m.ece_width(p, ALL(10), bins=15)[0] == pytest.approx(0.0)
    assert m.mce(p, ALL(10))[0] == pytest.approx(0.0)
    # Ten equal-mass bins of one item each: |1 - 0.8| eight times, |0 - 0.8| twice.
    assert m.ece(p, ALL(10), bins=10)[0] == pytest.approx((8 * 0.2 + 2 * 0.8) / 10)


def test_over_and_under_confidence() -> None:
    over = two_option([0.9] * 10, [True] * 6 + [False] * 4)
    assert m.ece(over, ALL(10), bins=1)[0] == pytest.approx(0.3)
    assert m.mce(over, ALL(10))[0] == pytest.approx(0.3)
    under = two_option([0.55] * 10, [True] * 9 + [False])
    assert m.ece_width(under, ALL(10))[0] == pytest.approx(0.35)
    # Two equal-width bins: 0.95 (4 right of 4) and 0.65 (1 right of 4): gaps 0.05 and 0.4, weights 1/2.
    mixed = two_option([0.95] * 4 + [0.65] * 4, [True] * 4 + [True] + [False] * 3)
    assert m.ece_width(mixed, ALL(8), bins=10)[0] == pytest.approx((0.05 * 4 + 0.4 * 4) / 8)
    assert m.mce(mixed, ALL(8), bins=10)[0] == pytest.approx(0.4)


def test_brier_selective_accuracy_aurc_and_auroc_by_hand() -> None:
    p = m.Predictions.build([(0.7, 0.3), (0.2, 0.5, 0.3)], [0, 2], [0, 1])
    # (0.3^2 + 0.3^2) and (0.2^2 + 0.5^2 + 0.7^2), averaged.
    assert m.brier(p, ALL(2))[0] == pytest.approx((0.18 + 0.78) / 2)
    ranked = two_option([0.9, 0.8, 0.7, 0.6], [True, False, True, False])
    assert m.selective_accuracy(ranked, ALL(4), coverage=0.5)[0] == pytest.approx(0.5)
    assert m.selective_accuracy(ranked, ALL(4), coverage=0.25)[0] == pytest.approx(1.0)
    assert m.aurc(ranked, ALL(4))[0] == pytest.approx((1 + 1 / 2 + 2 / 3 + 2 / 4) / 4)
    # Right answers at 0.9 and 0.7, wrong at 0.8 and 0.6: 3 of 4 pairs ordered right.
    assert m.auroc(ranked, ALL(4))[0] == pytest.approx(0.75)
    tied = two_option([0.7, 0.7], [True, False])
    assert m.auroc(tied, ALL(2))[0] == pytest.approx(0.5)
    assert math.isnan(m.auroc(two_option([0.7, 0.9], [True, True]), ALL(2))[0])


def _synthetic(n: int, seed: int, sharpen: float = 1.0, scramble: bool = False) -> m.Predictions:
    """Roughly calibrated four-option predictions from noisy logits; optionally sharpened or scrambled."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1, (n, 4))
    key = rng.integers(0, 4, n)
    logits[np.arange(n), key] += 1.2
    probs = np.exp(logits * sharpen)
    probs /= probs.sum(axis=1, keepdims=True)
    if scramble:  # same answers, but confidence drawn independently of correctness
        picked = probs.argmax(axis=1)
        top = rng.uniform(0.3, 0.95, n)
        probs = np.repeat(((1 - top) / 3)[:, None], 4, axis=1)
        probs[np.arange(n), picked] = top
    return m.Predictions.build(probs.tolist(), key.tolist(), probs.argmax(axis=1).tolist())


def test_temperature_scaling_tells_uniform_over_confidence_from_scrambled_confidence() -> None:
    base = _synthetic(600, 1)
    sharp = _synthetic(600, 1, sharpen=4.0)
    assert (sharp.correct == base.correct).all()  # the same answers: an accuracy gate sees nothing
    rows = ALL(600)
    assert m.ece(sharp, rows)[0] > m.ece(base, rows)[0] + 0.1
    assert m.fit_temperature(sharp, rows)[0] == pytest.approx(4.0 * m.fit_temperature(base, rows)[0], rel=0.05)
    assert m.ece_scaled(sharp, rows)[0] == pytest.approx(m.ece_scaled(base, rows)[0], abs=0.01)
    scrambled = _synthetic(600, 1, scramble=True)
    assert m.auroc(scrambled, rows)[0] < m.auroc(base, rows)[0] - 0.05
    assert m.ece_scaled(scrambled, rows)[0] > m.ece_scaled(base, rows)[0] + 0.02


def test_the_baseline_temperature_no_longer_fits_an_over_confident_model_but_a_refit_one_does() -> None:
    base, sharp = _synthetic(600, 1), _synthetic(600, 1, sharpen=4.0)
    changes = compare_calibration(sharp, base, suite="s", names=("ece_scaled", "ece_baseline_t"))
    kept, refit = changes["ece_baseline_t"], changes["ece_scaled"]
    assert kept.baseline == pytest.approx(refit.baseline)  # the baseline at its own temperature either way
    assert kept.current > kept.baseline + 0.1 and kept.significantly_worse  # shipped temperature: off
    assert abs(refit.current - refit.baseline) < 0.01 and not refit.significantly_worse  # refit: fixed
    assert "ece_baseline_t" not in compare_calibration(sharp, None, suite="s", names=("ece_baseline_t",))


def test_the_paired_bootstrap_is_seeded_and_its_interval_excludes_zero_only_for_a_real_change() -> None:
    base = _synthetic(400, 2)
    same = compare_calibration(base, base, suite="s", names=("ece", "brier"))
    assert same["ece"].delta == 0 and same["ece"].delta_interval == (0.0, 0.0)
    assert not same["ece"].significantly_worse
    sharp = _synthetic(400, 2, sharpen=3.0)
    worse = compare_calibration(sharp, base, suite="s", names=("ece", "brier", "selective_accuracy"))
    assert worse["ece"].significantly_worse and worse["brier"].significantly_worse
    assert worse["ece"].delta_interval[0] > 0
    assert not worse["selective_accuracy"].significantly_worse  # the same ranking: the same top half
    again = compare_calibration(sharp, base, suite="s", names=("ece",))
    assert again["ece"] == worse["ece"]  # seeded by the suite name: identical every run
    other = compare_calibration(sharp, base, suite="t", names=("ece",))
    assert other["ece"].delta == worse["ece"].delta and other["ece"].delta_interval != worse["ece"].delta_interval


def test_a_suite_too_small_for_its_bins_is_warned_about() -> None:
    assert small_suite_warning(100, 10) is None
    warning = small_suite_warning(40, 10)
    assert warning is not None and "40 items (4.0 per bin)" in warning and "at most 4 bins" in warning
