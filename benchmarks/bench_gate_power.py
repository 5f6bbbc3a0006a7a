"""The accuracy gate's power frontier, computed exactly: what a valid test of correctness can catch.

The accuracy gate tests correctness only (so a flatter or sharper model that is
as accurate passes it at its level). Under the model behind ``detects``
(:mod:`pytest_medmodel.stats.power`: a redraw with ``churn`` plus a slide toward
chance), regressions and improvements are independent binomials given the
baseline, so the chance that a decision rule fails the gate is a finite sum.
This script evaluates that sum for three rules on the discordant items:

* ``exact``: one-sided exact McNemar, p < level (what the gate runs);
* ``mid-p``: McNemar's mid-p (P(X > r) + P(X = r) / 2) < level, the usual
  non-randomized repair of the exact test's conservatism;
* ``randomized``: the randomized exact test, uniformly most powerful unbiased
  for paired correctness; no non-randomized valid test can beat it, so it is the
  frontier. A CI gate cannot use it (a coin decides borderline verdicts).

For each it prints the false-alarm rate with no true drop (size) and the power
for true drops of 1, 2, 3 and 5 points, at 100, 500 and 2000 items (baseline
70%, four options, churn 10%), at three levels: 0.01 (a gate alone), 0.002 (one
of the five tested gates of a shipped suite at alpha 0.01) and 0.01/11 (one of
eleven, like ``suites/robustness/choice_order``). Every rule also needs the
observed drop above ``max_drop`` (0.01).

    python benchmarks/bench_gate_power.py          # writes benchmarks/results/gate-power.json

Exact sums, no simulation: the figures are the same on every machine.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pytest_medmodel.stats.power import flip_rates, minimum_detectable_drop  # noqa: E402

ACCURACY, CHANCE, CHURN, MAX_DROP = 0.70, 0.25, 0.10, 0.01
SIZES = (100, 500, 2000)
LEVELS = {"alone": 0.01, "one of 5": 0.002, "one of 11": 0.01 / 11}
DROPS = (0.0, 0.01, 0.02, 0.03, 0.05)
RULES = ("exact", "mid-p", "randomized")


def _pmf(n: int, p: float) -> list[float]:
    if p <= 0:
        return [1.0] + [0.0] * n
    return [
        math.exp(
            math.lgamma(n + 1)
            - math.lgamma(k + 1)
            - math.lgamma(n - k + 1)
            + k * math.log(p)
            + (n - k) * math.log1p(-p)
        )
        if p < 1
        else float(k == n)
        for k in range(n + 1)
    ]


def _half_tails(m: int) -> tuple[list[float], list[float]]:
    """P(X > r) and P(X = r) for X ~ Binomial(m, 1/2), r = 0..m."""
    point = _pmf(m, 0.5)
    above, total = [0.0] * (m + 1), 0.0
    for r in range(m, -1, -1):
        above[r] = total
        total += point[r]
    return above, point


def reject(rule: str, r: int, i: int, level: float, tails: dict[int, tuple[list[float], list[float]]]) -> float:
    """Probability that ``rule`` fails the gate at r regressions and i improvements."""
    n_flips = r + i
    if n_flips == 0:
        return 0.0
    if n_flips not in tails:
        tails[n_flips] = _half_tails(n_flips)
    above, point = tails[n_flips]
    if rule == "exact":
        return float(above[r] + point[r] < level)
    if rule == "mid-p":
        return float(above[r] + point[r] / 2 < level)
    if above[r] + point[r] <= level:
        return 1.0
    return max(0.0, (level - above[r]) / point[r]) if above[r] < level else 0.0


def fail_rate(rule: str, n: int, drop: float, level: float) -> float:
    correct = round(ACCURACY * n)
    slide = drop / (correct / n - CHANCE)
    regress_rate, improve_rate = flip_rates(correct / n, CHANCE, slide, CHURN)
    regress, improve = _pmf(correct, regress_rate), _pmf(n - correct, improve_rate)
    tails: dict[int, tuple[list[float], list[float]]] = {}
    total = 0.0
    for r, p_r in enumerate(regress):
        if p_r < 1e-13:
            continue
        for i, p_i in enumerate(improve):
            if p_i < 1e-13 or (r - i) / n <= MAX_DROP + 1e-12:
                continue
            total += p_r * p_i * reject(rule, r, i, level, tails)
    return total


def main() -> dict:
    table: dict = {"accuracy": ACCURACY, "chance": CHANCE, "churn": CHURN, "max_drop": MAX_DROP, "cells": []}
    print("items  level        rule        " + "  ".join(f"drop {d * 100:.0f}" for d in DROPS) + "   detects")
    for n in SIZES:
        for label, level in LEVELS.items():
            detects = minimum_detectable_drop(n, round(ACCURACY * n), CHANCE, MAX_DROP, level, churn=CHURN)
            in_place = minimum_detectable_drop(n, round(ACCURACY * n), CHANCE, MAX_DROP, level)
            for rule in RULES:
                rates = [fail_rate(rule, n, d, level) for d in DROPS]
                table["cells"].append(
                    {
                        "n": n,
                        "level": level,
                        "family": label,
                        "rule": rule,
                        "rates": dict(zip([f"{d * 100:.0f}" for d in DROPS], rates, strict=True)),
                        "detects_retrained": detects,
                        "detects_in_place": in_place,
                    }
                )
                shown = "  ".join(f"{x * 100:6.1f}" for x in rates)
                more = f"   {detects * 100:.1f} ({in_place * 100:.1f} in place)" if detects and rule == "exact" else ""
                print(f"{n:<6} {label:<12} {rule:<11} {shown}{more}", flush=True)
    out = ROOT / "benchmarks" / "results" / "gate-power.json"
    out.write_text(json.dumps(table, indent=1) + "\n", encoding="utf-8")
    print("rates in %: drop 0 is the false-alarm rate (churn 10%, no true drop); the others are power")
    print("detects: the smallest true drop the exact rule catches 80% of the time, retrained candidate (churn 10%)")
    return table


if __name__ == "__main__":
    main()
