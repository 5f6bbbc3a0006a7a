"""Monte Carlo: false-alarm rate and power of the accuracy gate, McNemar alone against the combined gate.

Planted models produce a probability vector over four options per item, from
logits ``a_i + noise``: ``a_i`` is the item (its right option raised by a
difficulty drawn per item), the noise is each run's own (a fresh draw per run,
so two runs of equivalent models disagree on some items both ways: churn).
Scenarios, each a (baseline run, current run) pair on the same items:

* ``no drop``: two equivalent runs; about 10% of items change correctness
  between them, both ways, and expected accuracy is the same (about 0.6).
* ``precision``: the current run is the baseline's logits plus tiny noise
  (sd 0.02) and a small systematic slip of the right option's logit (-0.01), the
  size of a bfloat16 or batch-size change: no real drop, yet a consistent shift.
* ``drop d``: an equivalent run whose right option's logit is lowered on every
  item by the amount that costs ``d`` points of expected accuracy: probability
  mass slipping off the right answer across many items, as real degradations do,
  not a few answers flipped.

Every configuration is decided by :func:`pytest_medmodel.gates.accuracy.drop_decision`,
the function the gate itself calls. Usage:

    python benchmarks/bench_gate_power.py                 # 1000 pairs per cell
    python benchmarks/bench_gate_power.py --pairs 200 --sizes 100 500

Writes benchmarks/results/gate-power.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pytest_medmodel.gates.accuracy import drop_decision  # noqa: E402

OPTIONS = 4
DIFFICULTY = (1.0, 2.0)
"""Mean and sd of the right option's logit advantage per item."""
RUN_NOISE = 0.4
"""Each run's own logit noise: with the difficulty above, accuracy ~0.6 and ~10% churn."""
CONFIGS = {
    "McNemar alone, alpha 0.05, max_drop 0.02 (old default)": ("mcnemar", 0.05, 0.02),
    "McNemar alone, alpha 0.01, max_drop 0.01": ("mcnemar", 0.01, 0.01),
    "combined, alpha 0.05, max_drop 0.02": ("combined", 0.05, 0.02),
    "combined, alpha 0.01, max_drop 0.02": ("combined", 0.01, 0.02),
    "combined, alpha 0.01, max_drop 0.01 (default)": ("combined", 0.01, 0.01),
    "combined, alpha 0.01, max_drop 0.005": ("combined", 0.01, 0.005),
}


def items(n: int, rng: np.random.Generator) -> np.ndarray:
    """Item logits (n, OPTIONS) with the right option (index 0) raised by a per-item difficulty."""
    logits = np.zeros((n, OPTIONS))
    logits[:, 0] = rng.normal(*DIFFICULTY, n)
    return logits


def run(logits: np.ndarray, rng: np.random.Generator, slip: float = 0.0, noise: float = RUN_NOISE) -> np.ndarray:
    """One planted model's probability vectors: the item logits plus this run's noise, the right option slipped."""
    z = logits + rng.normal(0, noise, logits.shape)
    z[:, 0] -= slip
    p = np.exp(z - z.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True)


def slip_for(drop: float, rng: np.random.Generator, n: int = 200_000) -> float:
    """The slip of the right option's logit that costs ``drop`` of expected accuracy (bisection, large sample)."""
    logits = items(n, rng)
    noise = rng.normal(0, RUN_NOISE, logits.shape)
    z = logits + noise
    base = (z.argmax(axis=1) == 0).mean()
    low, high = 0.0, 3.0
    for _ in range(40):
        mid = (low + high) / 2
        shifted = z.copy()
        shifted[:, 0] -= mid
        if base - (shifted.argmax(axis=1) == 0).mean() < drop:
            low = mid
        else:
            high = mid
    return (low + high) / 2


def decide(then: np.ndarray, now: np.ndarray, mode: str, alpha: float, max_drop: float) -> bool:
    was, is_ = then.argmax(1) == 0, now.argmax(1) == 0
    regressed, improved = int((was & ~is_).sum()), int((is_ & ~was).sum())
    right = list(zip(then[:, 0].tolist(), now[:, 0].tolist(), strict=True)) if mode == "combined" else []
    return drop_decision(regressed, improved, len(then), right, max_drop, alpha)[0]


def pair(scenario: str, n: int, rng: np.random.Generator, slips: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    logits = items(n, rng)
    then = run(logits, rng)
    if scenario == "precision":
        z = np.log(then) + rng.normal(0, 0.02, then.shape)
        z[:, 0] -= 0.01
        now = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        return then, now
    return then, run(logits, rng, slip=slips.get(scenario, 0.0))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=1000, help="simulated (baseline, current) pairs per cell")
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 500, 2000])
    parser.add_argument("--seed", type=int, default=20261129)
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results" / "gate-power.json")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    slips = {f"drop {d}": slip_for(d / 100, rng) for d in (1, 2, 3, 4, 5)}
    scenarios = ["no drop", "precision", *slips]
    check = [pair("no drop", 2000, rng, slips) for _ in range(20)]
    accuracy = np.mean([(t.argmax(1) == 0).mean() for t, _ in check])
    churn = np.mean([((t.argmax(1) == 0) != (c.argmax(1) == 0)).mean() for t, c in check])
    print(f"planted models: accuracy {accuracy:.3f}, churn between equivalent runs {churn:.3f}", flush=True)
    table: dict = {"accuracy": accuracy, "churn": churn, "pairs": args.pairs, "cells": []}
    for n in args.sizes:
        for scenario in scenarios:
            hits = dict.fromkeys(CONFIGS, 0)
            for _ in range(args.pairs):
                then, now = pair(scenario, n, rng, slips)
                for name, (mode, alpha, max_drop) in CONFIGS.items():
                    hits[name] += decide(then, now, mode, alpha, max_drop)
            rates = {name: hits[name] / args.pairs for name in CONFIGS}
            table["cells"].append({"n": n, "scenario": scenario, "rates": rates})
            print(f"n={n:<5} {scenario:<10} " + "  ".join(f"{r:6.3f}" for r in rates.values()), flush=True)
    print("columns: " + " | ".join(CONFIGS))
    print("rates: share of pairs the gate failed (false alarms for 'no drop' and 'precision', power for drops)")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(table, indent=1) + "\n", encoding="utf-8")
    return table


if __name__ == "__main__":
    main()
