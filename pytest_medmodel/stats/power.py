"""What a gate can see: the smallest true drop it catches, and whether it is blind.

A gate at chance cannot fail: a model that knows nothing cannot get
significantly worse. And a small suite cannot tell a 2-point drop from noise.
This module puts a number on both, so a run says so instead of passing quietly.

The degradation model ("slide toward chance"). A damaged model answers each item
as before with probability ``1 - m``, and at random among the item's options
with probability ``m``. Then an item the baseline got right regresses with
probability ``m (1 - c)`` and one it got wrong improves with probability
``m c`` (``c`` the chance of a random answer being right), so the expected
accuracy drop is ``m (p0 - c)``, and no drop is possible at chance. Real
damage (noise, quantization, a dropped layer) behaves like this: answers drift
toward guessing, with flips both ways.

A retrained candidate also churns: two equivalent runs disagree about the
correctness of a share ``churn`` of the items (half one way, half the other),
and that noise hides a drop. The candidate here is a redraw of the baseline
(an item right in the baseline is wrong in the redraw with probability
``churn / 2 / p0``, a wrong one right with ``churn / 2 / (1 - p0)``) with the
slide applied on top. ``churn = 0`` is damage in place. The expected drop is
``m (p0 - c)`` either way.

The minimum detectable drop is the smallest true drop ``d`` that the accuracy
gate (drop above ``max_drop`` and one-sided exact McNemar p < the level the
gate is tested at) fails with probability at least 80%. The power is computed exactly: regressions and
improvements are independent binomials under the model, and the power sums
their joint probability over the outcomes the gate fails (windows of the
distributions holding all but 1e-12 of the mass). A Monte Carlo simulation of
the same model agrees (``tests/test_power.py``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ..suite.types import DEFAULT_ALPHA
from .paired import PairedStats
from .significance import binomial_upper_tail, wilson_interval

TARGET_POWER = 0.8
RESOLUTION = 0.001
"""Drops are searched to a tenth of a point."""
_TAIL = 1e-12


def _pmf_window(n: int, p: float) -> list[tuple[int, float]]:
    """``(k, P(X = k))`` for X ~ Binomial(n, p) over the values holding all but ~1e-12 of the mass."""
    if n == 0 or p <= 0:
        return [(0, 1.0)]
    if p >= 1:
        return [(n, 1.0)]
    mean, sd = n * p, math.sqrt(n * p * (1 - p))
    low, high = max(0, int(mean - 8 * sd - 2)), min(n, int(mean + 8 * sd + 2))
    log_p, log_q = math.log(p), math.log1p(-p)
    out = []
    for k in range(low, high + 1):
        log_pmf = math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * log_p + (n - k) * log_q
        value = math.exp(log_pmf)
        if value > _TAIL:
            out.append((k, value))
    return out


@lru_cache(maxsize=65536)
def _critical_regressions(discordant: int, alpha: float) -> int:
    """The fewest regressions among ``discordant`` flips for which McNemar's one-sided p < alpha."""
    low, high = 0, discordant + 1  # discordant + 1: never significant
    while low < high:
        middle = (low + high) // 2
        if binomial_upper_tail(middle, discordant, 0.5) < alpha:
            high = middle
        else:
            low = middle + 1
    return low


def flip_rates(accuracy: float, chance: float, slide: float, churn: float) -> tuple[float, float]:
    """(P(regress | right in the baseline), P(improve | wrong in the baseline)) for a redraw with ``churn``
    and a slide ``slide`` toward chance on top of it."""
    half = min(churn / 2, accuracy, 1 - accuracy)
    right_after_redraw = accuracy - half  # right in both runs before the damage
    regress = right_after_redraw * slide * (1 - chance) + half * (1 - slide * chance)
    improve = half * (1 - slide * (1 - chance)) + (1 - accuracy - half) * slide * chance
    return (regress / accuracy if accuracy else 0.0, improve / (1 - accuracy) if accuracy < 1 else 0.0)


def gate_power(
    n: int, baseline_correct: int, chance: float, drop: float, max_drop: float, alpha: float, churn: float = 0.0
) -> float:
    """Probability that the accuracy gate fails for a true ``drop`` under the slide-toward-chance model
    (on top of a redraw with ``churn``; 0 for damage in place)."""
    room = baseline_correct / n - chance if n > 0 else 0.0
    if n <= 0 or room <= 0 or drop <= 0:
        return 0.0
    slide = min(1.0, drop / room)
    regress_rate, improve_rate = flip_rates(baseline_correct / n, chance, slide, churn)
    regress = _pmf_window(baseline_correct, regress_rate)
    improve = _pmf_window(n - baseline_correct, improve_rate)
    threshold = max_drop * n + 1e-9
    # For a given number of regressions r, the gate fails for every improvement count i up to a bound
    # (more improvements shrink the drop and weaken McNemar), so each r needs one cumulative probability.
    cumulative, total = [], 0.0
    for i, p_i in improve:
        total += p_i
        cumulative.append((i, total))
    power = 0.0
    for r, p_r in regress:
        covered = 0.0
        for i, up_to in cumulative:
            if not (r - i > threshold and r >= _critical_regressions(r + i, alpha)):
                break
            covered = up_to
        power += p_r * covered
    return min(1.0, power)


def minimum_detectable_drop(
    n: int,
    baseline_correct: int,
    chance: float,
    max_drop: float,
    alpha: float,
    power: float = TARGET_POWER,
    churn: float = 0.0,
) -> float | None:
    """The smallest true drop the gate catches with ``power`` (None: not even a slide all the way to chance).

    Searched by bisection to :data:`RESOLUTION` (power rises with the drop, up to
    the sawtooth of a discrete test, which the resolution absorbs).
    """
    if n <= 0:
        return None
    room = baseline_correct / n - chance
    if room <= max_drop:
        return None
    # Search upward from max_drop in doubling steps first: small drops flip few items, so they are
    # cheap to evaluate, and a big suite's answer lies close to max_drop.
    low, step = max_drop, 0.005
    while True:
        high = min(room, low + step)
        if gate_power(n, baseline_correct, chance, high, max_drop, alpha, churn) >= power:
            break
        if high >= room:
            return None
        low, step = high, step * 2
    while high - low > RESOLUTION:
        middle = (low + high) / 2
        if gate_power(n, baseline_correct, chance, middle, max_drop, alpha, churn) >= power:
            high = middle
        else:
            low = middle
    return high


def near_chance(correct: int, n: int, chance: float) -> bool:
    """Whether chance lies inside the 95% Wilson interval of the accuracy (or above it)."""
    if n <= 0:
        return True
    return wilson_interval(correct, n)[0] <= chance


def blind_gate_note(
    n: int, correct: int, chance: float, detectable: float | None, max_drop: float, level: float
) -> str | None:
    """One line when the accuracy gate cannot do its job on this suite, else None.

    Blind: the accuracy is within its 95% interval of chance, or no drop is
    detectable with 80% power, or only a drop of more than half the model's
    margin over chance is (the gate would fire only after the model lost most of
    what it knows).
    """
    if n <= 0:
        return None
    accuracy = correct / n
    at = f"{n} items at {accuracy * 100:.1f}%, chance {chance * 100:.1f}%"
    if near_chance(correct, n, chance):
        where = "below chance" if wilson_interval(correct, n)[1] < chance else "indistinguishable from chance"
        return (
            f"blind gate: the baseline is {where} ({at}): a model at chance cannot get "
            "significantly worse, so this gate cannot fail on a damaged model; use a suite this model answers "
            "above chance"
        )
    if detectable is None:
        return (
            f"blind gate: with {at}, no drop down to chance is detected with 80% power at level {level:.2g}; add items"
        )
    if detectable > (accuracy - chance) / 2:
        return (
            f"blind gate: with {at}, the gate catches only drops of {detectable * 100:.1f} points or more "
            f"(80% power, level {level:.2g}, max_drop {max_drop * 100:.1f}), over half the margin above chance; "
            "add items"
        )
    return None


DEFAULT_CHURN = 0.10
"""The share of items whose correctness differs between two equivalent runs of a retrained model,
assumed when the accuracy gate's ``churn`` setting does not say (the audit's and our benchmark's)."""


@dataclass(frozen=True)
class Sensitivity:
    """What the accuracy gate can detect on a suite, and under which model of change."""

    retrained: float | None
    """Smallest true drop caught with 80% power for a retrained candidate (with ``churn``)."""
    in_place: float | None
    """The same for damage in place (no churn)."""
    level: float
    churn: float
    design_effect: float = 1.0
    blind: str | None = None

    def line(self, n: int, baseline: float, chance: float) -> str | None:
        """The sentence a gate message and the summary print (None when nothing is detectable or it is blind)."""
        if self.blind or self.retrained is None:
            return self.blind
        in_place = f"{self.in_place * 100:.1f}" if self.in_place is not None else "no"
        clustered = f", design effect {self.design_effect:.2f} from clustered items" if self.design_effect > 1 else ""
        return (
            f"this gate catches a true drop of {self.retrained * 100:.1f} points or more with 80% power at level "
            f"{self.level:.2g} for a retrained candidate ({self.churn:.0%} of items change correctness between "
            f"equivalent runs: the churn setting); {in_place} points for damage in place "
            f"({n} items, baseline {baseline * 100:.1f}%, chance {chance * 100:.1f}%{clustered})"
        )


def cluster_design_effect(item_ids: Iterable[str], clusters: Mapping[str, str]) -> float:
    """The variance inflation if items of a cluster always succeeded and failed together: sum of squared
    cluster sizes over the number of items (1 when every item stands alone; 2 for pairs).

    The figure for what a suite *can* detect before any flip is seen (``detects``): questions
    about one image or one probe group tend to flip together, and counting them as independent
    would promise more power than the gate has.
    """
    sizes: dict[str, int] = {}
    for item_id in item_ids:
        unit = clusters.get(item_id, item_id)
        sizes[unit] = sizes.get(unit, 0) + 1
    n = sum(sizes.values())
    return sum(size * size for size in sizes.values()) / n if n else 1.0


def gate_sensitivity(
    stats: PairedStats, accuracy_gate: Mapping[str, Any], design_effect: float = 1.0
) -> Sensitivity | None:
    """The accuracy gate's minimum detectable drops and blind-gate line for a comparison.

    Against the baseline when items are paired (what the gate compares with),
    else against this run's accuracy (what a baseline recorded now would hold).
    ``accuracy_gate``: the gate's settings plus ``level`` (the level it is tested
    at alone: its suite's alpha over the suite's tested gates). Clustered items
    count as ``n / design_effect`` independent ones.
    """
    if stats.chance is None:
        return None
    n, correct = (stats.paired, stats.baseline_correct) if stats.paired else (stats.n, stats.correct)
    max_drop = float(accuracy_gate.get("max_drop", 0.01))
    level = float(accuracy_gate.get("level", DEFAULT_ALPHA))
    churn = float(accuracy_gate.get("churn", DEFAULT_CHURN))
    effective = int(round(n / max(design_effect, 1.0)))
    effective_correct = int(round(correct * effective / n)) if n else 0
    retrained = minimum_detectable_drop(effective, effective_correct, stats.chance, max_drop, level, churn=churn)
    in_place = minimum_detectable_drop(effective, effective_correct, stats.chance, max_drop, level)
    blind = blind_gate_note(effective, effective_correct, stats.chance, retrained, max_drop, level)
    return Sensitivity(retrained, in_place, level, churn, design_effect, blind)
