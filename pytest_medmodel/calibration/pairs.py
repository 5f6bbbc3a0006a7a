"""The predictions a calibration or probability comparison needs, taken from a run and its baseline.

This run's probabilities are rounded as baselines store them (4 decimals), so an
unchanged model compares exactly equal with its baseline: rounding ties the
baseline's confidences, and ties order the items for selective accuracy.

Only original items count, only those with a probability vector in both (an
invalid answer, a generation scorer or a baseline recorded before vectors were
kept has none), and only those whose content is unchanged since the baseline.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..baselines.format import Baseline
from ..records import DIGITS, ItemScore
from ..suite.types import ORIGINAL
from .metrics import Predictions


@dataclass(frozen=True)
class Paired:
    """Predictions of the same items (same order) now and in the baseline."""

    keys: list[str]
    current: Predictions
    baseline: Predictions | None
    missing: int = 0
    """Original items left out: no probability vector (invalid answer, generation, an old baseline)."""


def _baseline_pick(probs: tuple[float, ...], key: int, correct: bool) -> int:
    """The baseline's picked choice: the key when it was right, else its most probable other option."""
    if correct:
        return key
    return max((j for j in range(len(probs)) if j != key), key=lambda j: probs[j], default=key)


def paired_predictions(
    answers: Mapping[str, int], scores: Mapping[str, ItemScore], baseline: Baseline | None
) -> Paired | None:
    """This run's original items with vectors; with ``baseline``, only those it also has, with its vectors.

    ``answers``: each item's key, as an index into its original choices.
    """
    keys, now_probs, now_pick, then_probs, then_pick, right = [], [], [], [], [], []
    missing = 0
    for key in sorted(scores):
        score = scores[key]
        if score.variant != ORIGINAL:
            continue
        answer = answers[score.item_id]
        then = baseline.paired_entry(score) if baseline is not None else None
        if baseline is not None and then is None:
            continue
        if score.probs is None or score.answer is None or (baseline is not None and (then is None or not then.probs)):
            missing += 1
            continue
        keys.append(key)
        right.append(answer)
        now_probs.append(tuple(round(p, DIGITS) for p in score.probs))
        now_pick.append(score.answer)
        if then is not None and then.probs:
            then_probs.append(then.probs)
            then_pick.append(_baseline_pick(then.probs, answer, then.correct))
    if not keys:
        return None
    current = Predictions.build(now_probs, right, now_pick)
    before = Predictions.build(then_probs, right, then_pick) if baseline is not None else None
    return Paired(keys, current, before, missing)
