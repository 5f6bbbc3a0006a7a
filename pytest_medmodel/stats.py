"""The statistics behind the gates: exact, dependency-free, and documented.

Why paired: the current run and the baseline answer the *same* items, so the
evidence about a change lives only in the items whose correctness flipped. An
unpaired comparison of two accuracies (lm-evaluation-harness's
``model_comparator.py`` z-test) ignores that pairing and needs far larger drops
to notice anything.
"""

from __future__ import annotations

import math

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


def _beta_fraction(a: float, b: float, x: float) -> float:
    """Continued fraction of the regularized incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 300):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= c * d
        if abs(c * d - 1.0) < 1e-15:
            break
    return result


def incomplete_beta(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta I_x(a, b), for the Student t distribution below."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1) / (a + b + 2):
        return math.exp(log_front) * _beta_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_fraction(b, a, 1 - x) / b


def student_t_lower_tail(t: float, df: float) -> float:
    """P(T <= t) for Student's t with ``df`` degrees of freedom."""
    tail = 0.5 * incomplete_beta(df / 2, 0.5, df / (df + t * t))
    return tail if t < 0 else 1.0 - tail


def paired_t_one_sided(differences: list[float]) -> float:
    """One-sided paired t-test that the mean of ``differences`` (current - baseline) is below zero.

    Used on the probability each run gives the right answer: a diffuse
    degradation lowers it a little on many items, which moves few answers
    across the argmax (so McNemar sees little) but shifts this mean clearly.
    Fewer than two differences, or none below zero, give 1.0.
    """
    n = len(differences)
    if n < 2:
        return 1.0
    mean = sum(differences) / n
    if mean >= 0:
        return 1.0
    variance = sum((d - mean) ** 2 for d in differences) / (n - 1)
    if variance == 0:
        return 0.0
    return student_t_lower_tail(mean / math.sqrt(variance / n), n - 1)
