"""Calibration metrics, computed for many resamples of the items at once.

Every metric takes :class:`Predictions` and an index matrix ``rows`` of shape
``(resamples, n)`` (row 0 is usually the identity: the items as they are) and
returns one value per row, so a paired bootstrap of 1,000 resamples is a few
vectorised numpy calls, not 1,000 Python loops.

Definitions (``confidence`` is the probability of the answer the model picked,
``correct`` whether that answer is the key):

* ``ece``: expected calibration error with equal-mass bins (10 by default; HELM
  and ChEF): items sorted by confidence and cut into bins of equal count;
  the count-weighted mean of |accuracy - mean confidence| per bin.
* ``ece_width``: the same with equal-width bins over [0, 1] (15 by default; Guo et al. 2017).
* ``mce``: the largest |accuracy - mean confidence| of a non-empty equal-width bin.
* ``brier``: multi-class Brier score, mean over items of sum_j (p_j - [j is the key])^2.
* ``selective_accuracy``: accuracy on the most confident ``coverage`` share of items.
* ``aurc``: area under the coverage-accuracy curve (mean accuracy of the top-k
  most confident items over k = 1..n); 1 is perfect ranking of right over wrong.
* ``auroc``: probability that a right answer gets more confidence than a wrong
  one (ties count half); undefined (NaN) when every answer is right or every one wrong.
* ``ece_scaled``: ``ece`` after temperature scaling with the temperature that
  minimises the items' negative log-likelihood: what a refit temperature would
  leave. A uniformly over-confident model has a high ``ece`` but a low
  ``ece_scaled``; a model whose confidence no longer tracks correctness keeps both high.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

FLOOR = 1e-6
"""Probabilities are clipped to this before logs (baselines round to 4 decimals, so 0.0 occurs)."""


@dataclass(frozen=True)
class Predictions:
    """Per-item arrays for one run: confidence, correctness, and the probability vectors."""

    confidence: np.ndarray
    """(n,) probability of the picked answer."""
    correct: np.ndarray
    """(n,) 1.0 where the picked answer is the key."""
    probs: np.ndarray
    """(n, k) probability of each choice, padded with zeros for items with fewer choices."""
    key: np.ndarray
    """(n,) index of the right choice."""
    picked: np.ndarray
    """(n,) index of the picked choice."""
    options: np.ndarray
    """(n, k) True where an item has that choice (items with fewer choices are padded)."""

    @classmethod
    def build(cls, probs: Sequence[Sequence[float]], key: Sequence[int], picked: Sequence[int]) -> Predictions:
        """From probability vectors, the key and the picked answer (indices into each vector)."""
        width = max((len(p) for p in probs), default=1)
        padded = np.zeros((len(probs), width))
        options = np.zeros((len(probs), width), dtype=bool)
        for row, vector in enumerate(probs):
            padded[row, : len(vector)] = vector
            options[row, : len(vector)] = True
        key_, picked_ = np.asarray(key, int), np.asarray(picked, int)
        confidence = padded[np.arange(len(probs)), picked_]
        return cls(confidence, (key_ == picked_).astype(float), padded, key_, picked_, options)

    @property
    def n(self) -> int:
        return len(self.confidence)


def identity(n: int) -> np.ndarray:
    return np.arange(n)[None, :]


def ece(p: Predictions, rows: np.ndarray, bins: int = 10) -> np.ndarray:
    """Equal-mass ECE per row (bins of equal count after sorting by confidence)."""
    return _equal_mass_ece(p.confidence[rows], p.correct[rows], bins)


def _equal_mass_ece(conf: np.ndarray, correct: np.ndarray, bins: int) -> np.ndarray:
    order = np.argsort(conf, axis=1, kind="stable")
    conf = np.take_along_axis(conf, order, axis=1)
    correct = np.take_along_axis(correct, order, axis=1)
    n = conf.shape[1]
    bins = max(1, min(bins, n))
    starts = (np.arange(bins) * n) // bins
    gap = np.add.reduceat(correct - conf, starts, axis=1)  # per bin: sum(acc) - sum(conf)
    return np.abs(gap).sum(axis=1) / n


def reliability(p: Predictions, bins: int = 10) -> list[dict[str, float | int]]:
    """The reliability diagram's points: per equal-mass bin (as :func:`ece` cuts them), the mean
    confidence, the accuracy and the item count, in order of confidence."""
    order = np.argsort(p.confidence, kind="stable")
    n = len(order)
    bins = max(1, min(bins, n))
    edges = [*((np.arange(bins) * n) // bins), n]
    points: list[dict[str, float | int]] = []
    for start, end in zip(edges[:-1], edges[1:], strict=True):
        chunk = order[start:end]
        points.append(
            {
                "confidence": round(float(p.confidence[chunk].mean()), 4),
                "accuracy": round(float(p.correct[chunk].mean()), 4),
                "n": int(end - start),
            }
        )
    return points


def _width_bins(p: Predictions, rows: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row and equal-width bin: item count, summed correctness, summed confidence."""
    conf = p.confidence[rows]
    which = np.minimum((conf * bins).astype(int), bins - 1) + bins * np.arange(rows.shape[0])[:, None]
    size = rows.shape[0] * bins
    count = np.bincount(which.ravel(), minlength=size).reshape(-1, bins)
    right = np.bincount(which.ravel(), weights=p.correct[rows].ravel(), minlength=size).reshape(-1, bins)
    sure = np.bincount(which.ravel(), weights=conf.ravel(), minlength=size).reshape(-1, bins)
    return count, right, sure


def ece_width(p: Predictions, rows: np.ndarray, bins: int = 15) -> np.ndarray:
    count, right, sure = _width_bins(p, rows, bins)
    return np.abs(right - sure).sum(axis=1) / rows.shape[1]


def mce(p: Predictions, rows: np.ndarray, bins: int = 15) -> np.ndarray:
    count, right, sure = _width_bins(p, rows, bins)
    gaps = np.where(count > 0, np.abs(right - sure) / np.maximum(count, 1), 0.0)
    return gaps.max(axis=1)


def brier(p: Predictions, rows: np.ndarray) -> np.ndarray:
    target = np.zeros_like(p.probs)
    target[np.arange(p.n), p.key] = 1.0
    per_item = ((p.probs - target) ** 2).sum(axis=1)
    return per_item[rows].mean(axis=1)


def _by_confidence(p: Predictions, rows: np.ndarray) -> np.ndarray:
    """Correctness of each row's items, most confident first (ties: the right answers last, a pessimistic order)."""
    conf = p.confidence[rows]
    correct = p.correct[rows]
    order = np.lexsort((correct, -conf), axis=1)
    return np.take_along_axis(correct, order, axis=1)


def selective_accuracy(p: Predictions, rows: np.ndarray, coverage: float = 0.5) -> np.ndarray:
    keep = max(1, int(round(coverage * rows.shape[1])))
    return _by_confidence(p, rows)[:, :keep].mean(axis=1)


def aurc(p: Predictions, rows: np.ndarray) -> np.ndarray:
    ranked = _by_confidence(p, rows)
    running = np.cumsum(ranked, axis=1) / np.arange(1, rows.shape[1] + 1)
    return running.mean(axis=1)


def auroc(p: Predictions, rows: np.ndarray) -> np.ndarray:
    out = np.full(rows.shape[0], np.nan)
    for r, row in enumerate(rows):
        conf, correct = p.confidence[row], p.correct[row] > 0.5
        right, wrong = np.sort(conf[correct]), np.sort(conf[~correct])
        if len(right) and len(wrong):
            below = np.searchsorted(wrong, right, side="left")
            ties = np.searchsorted(wrong, right, side="right") - below
            out[r] = (below + 0.5 * ties).sum() / (len(right) * len(wrong))
    return out


def _log_probs(p: Predictions) -> np.ndarray:
    # A real option rounded to 0.0 in a baseline keeps a tiny probability; padded slots stay out.
    return np.where(p.options, np.log(np.maximum(p.probs, FLOOR)), -np.inf)


def _tempered(logp: np.ndarray, temperature: np.ndarray) -> np.ndarray:
    """log-softmax of ``logp / T`` (rows of items; T broadcast per row)."""
    scaled = logp / temperature[..., None, None]
    top = scaled.max(axis=-1, keepdims=True)
    return scaled - top - np.log(np.exp(scaled - top).sum(axis=-1, keepdims=True))


def fit_temperature(p: Predictions, rows: np.ndarray) -> np.ndarray:
    """Per row, the temperature in [0.05, 20] minimising the negative log-likelihood of the keys.

    The NLL is convex in the inverse temperature b (its second derivative is the
    variance of the log-probabilities under the tempered distribution), so a dozen
    Newton steps from b = 1 reach it; every row of resamples is fitted at once.
    """
    logp = np.maximum(_log_probs(p), -1e4)[rows]  # padded slots: finite, and weightless below
    right = np.take_along_axis(logp, p.key[rows][..., None], axis=2)[..., 0].sum(axis=1)
    inverse = np.ones(rows.shape[0])
    for _ in range(12):
        weights = np.exp(_tempered(logp, 1 / inverse))
        mean = (weights * logp).sum(axis=2)
        gradient = mean.sum(axis=1) - right
        curvature = ((weights * logp * logp).sum(axis=2) - mean**2).sum(axis=1)
        inverse = np.clip(inverse - gradient / np.maximum(curvature, 1e-12), 0.05, 20.0)
    return 1 / inverse


def ece_at(p: Predictions, rows: np.ndarray, temperatures: np.ndarray, bins: int = 10) -> np.ndarray:
    """``ece`` of each row after dividing its log-probabilities by that row's temperature."""
    logp = _tempered(_log_probs(p)[rows], temperatures)
    confidence = np.exp(np.take_along_axis(logp, p.picked[rows][..., None], axis=2)[..., 0])
    return _equal_mass_ece(confidence, p.correct[rows], bins)


def ece_scaled(p: Predictions, rows: np.ndarray, bins: int = 10) -> np.ndarray:
    """``ece`` after each row's own best temperature (fitted on that row's items)."""
    return ece_at(p, rows, fit_temperature(p, rows), bins)
