"""The statistics behind the gates: exact, dependency-free, and documented.

Why paired: the current run and the baseline answer the *same* items, so the
evidence about a change lives only in the items whose correctness flipped. An
unpaired comparison of two accuracies (lm-evaluation-harness's
``model_comparator.py`` z-test) ignores that pairing and needs far larger drops
to notice anything.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

Z_95 = 1.959963984540054
"""Two-sided 95% normal quantile."""


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion.

    Unlike the normal (Wald) interval it stays inside [0, 1] and keeps its
    coverage near 0 and 1, which is where small medical suites live.
    Returns ``(0.0, 1.0)`` for ``n == 0``.
    """
    if n <= 0:
        return (0.0, 1.0)
    if not 0 <= successes <= n:
        raise ValueError(f"successes={successes} outside [0, {n}]")
    p = successes / n
    z2 = z * z
    denom = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    # Exact endpoints at the boundaries (float error would otherwise leave 1e-17).
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return (low, high)


def binomial_upper_tail(k: int, n: int, p: float = 0.5) -> float:
    """P(X >= k) for X ~ Binomial(n, p), summed exactly in log space.

    Terms come from the ratio of consecutive binomial coefficients; past the mode
    they only shrink, and the sum stops once they fall below 1e-20 of the largest
    (far below float resolution), so a tail beyond the mean costs O(sqrt(n)).
    """
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    log_odds = math.log(p) - math.log1p(-p)
    log_term = math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * math.log(p)
    log_term += (n - k) * math.log1p(-p)
    log_terms = [log_term]
    top = log_term
    for i in range(k, n):
        log_term += math.log(n - i) - math.log(i + 1) + log_odds
        log_terms.append(log_term)
        top = max(top, log_term)
        if i + 1 > n * p and log_term < top - 46:  # e^-46 ~ 1e-20: nothing later can matter
            break
    return min(1.0, math.exp(top) * sum(math.exp(t - top) for t in log_terms))


def mcnemar_one_sided(regressed: int, improved: int) -> float:
    """Exact one-sided McNemar test that the model got worse.

    Among the discordant items (correct in exactly one of the two runs), under
    "no change" each flip is equally likely to go either way, so the number of
    regressions is Binomial(regressed + improved, 1/2). The p-value is the
    chance of at least this many regressions. No flips at all gives 1.0.
    """
    if regressed < 0 or improved < 0:
        raise ValueError("counts must be non-negative")
    return binomial_upper_tail(regressed, regressed + improved, 0.5)


def sign_flip_upper_tail(differences: Sequence[int]) -> float:
    """Exact one-sided paired test on whole-number differences, one per independent unit.

    Each unit (an item, or a cluster of items that share a probe group or an image)
    contributes ``d`` = regressions minus improvements among its items. Under "no
    change" the baseline and the current run are exchangeable within a unit, so each
    ``d`` is as likely to be ``+|d|`` as ``-|d|``; the p-value is the chance that
    random signs give a total at least as large as the observed one. The
    distribution of the signed sum is computed exactly by convolution (totals are
    whole numbers no larger than the number of items). With every unit a single item
    this is exactly the one-sided exact McNemar test (:func:`mcnemar_one_sided`).
    """
    sizes = [abs(int(d)) for d in differences if d]
    observed = sum(int(d) for d in differences)
    if not sizes:
        return 1.0
    if max(sizes) == 1:  # single-item units: McNemar, summed exactly in log space
        regressed = sum(1 for d in differences if d > 0)
        return mcnemar_one_sided(regressed, len(sizes) - regressed)
    total = sum(sizes)
    # probability of each signed sum, offset by ``total`` so that indexes are non-negative
    mass = [0.0] * (2 * total + 1)
    mass[total] = 1.0
    for size in sizes:
        shifted = [0.0] * (2 * total + 1)
        for index, value in enumerate(mass):
            if value:
                shifted[index - size] += value / 2
                shifted[index + size] += value / 2
        mass = shifted
    return min(1.0, math.fsum(mass[total + observed :]))


def bounded_mean_above_p(values: Sequence[float], null_mean: float, low: float = -1.0, high: float = 1.0) -> float:
    """One-sided test that the mean of ``values`` (each within [low, high]) exceeds ``null_mean``.

    Valid at every sample size and for every distribution of the values, skewed or
    not (a t-test is neither: on a skewed change at 16 items it rejects at several
    times its level). It is a betting test: for each of a grid of stakes ``lam``, the
    wealth of betting ``lam`` on every value exceeding the null mean is
    ``prod(1 + lam (x_i - m0))`` on the values rescaled to [0, 1]; under the null each
    has expectation at most 1, so their average ``W`` does too, and by Markov's
    inequality ``P(W >= 1/alpha) <= alpha``. The p-value is ``min(1, 1/W)``. The
    product does not depend on the order of the values. It never returns 0, and
    returns 1 for fewer than one value or a mean at or below the null.
    """
    if not values or high <= low:
        return 1.0
    span = high - low
    m0 = min(max((null_mean - low) / span, 0.0), 1.0)
    xs = [min(max((v - low) / span, 0.0), 1.0) for v in values]
    if m0 >= 1.0 or sum(xs) / len(xs) <= m0:
        return 1.0
    top = 0.99 / m0 if m0 > 0 else 1e6  # a larger stake could lose everything on a value of 0
    log_wealth = []
    for step in range(STAKES):  # stakes from the largest safe one down by halves of an octave
        lam = top * 2 ** (-step / 2)
        log_wealth.append(math.fsum(math.log1p(lam * (x - m0)) for x in xs))
    peak = max(log_wealth)
    log_mean = peak + math.log(math.fsum(math.exp(w - peak) for w in log_wealth) / len(log_wealth))
    return min(1.0, math.exp(-log_mean))


STAKES = 40
"""How many stakes the betting test averages over, from the largest down to a millionth of it
(their price: the evidence must be log(40) larger than for the one best stake known in advance)."""
