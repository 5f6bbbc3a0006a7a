"""Inferencers: from items to requests, and from scored requests to predictions.

``letter``: the prompt lists labelled options and the labels (`` A``, `` B``, ...)
are scored as the next token, one forward pass per item. Probabilities are the
softmax over the labels' log-probabilities.

``loglikelihood``: each option's *text* is scored as the continuation.
``acc`` picks the option with the highest summed log-likelihood; ``acc_norm``
divides each sum by the option's length in characters first. Both follow
lm-evaluation-harness exactly (``api/task.py process_results``: ``completion_len
= len(choice)``, characters, without the leading delimiter) so numbers are
comparable. ``scoring.normalize: true`` makes ``acc_norm`` the answer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .models.base import ChoiceRequest, ChoiceResult
from .prompts import continuations, render_context
from .suite import Item, Suite

NEAR_TIE_LOGPROB = 1e-4
"""Top-two scores closer than this are a near tie: float noise could flip the answer."""


def build_request(suite: Suite, item: Item, adapter: Any) -> ChoiceRequest:
    """Render the item's prompt for this model and list what to score."""
    chat = getattr(adapter, "format_chat", None)
    context = render_context(suite, item, chat)
    return ChoiceRequest(context=context, continuations=continuations(suite, item, context))


@dataclass(frozen=True)
class Prediction:
    """What the model answered for one item, and how sure it was."""

    item_id: str
    answer: int
    """Index of the chosen option."""
    correct: bool
    probs: tuple[float, ...]
    """Softmax over the options' scores (the scores used to choose)."""
    confidence: float
    """Probability of the chosen option."""
    near_tie: bool
    acc: bool | None = None
    """loglikelihood: correct by raw summed log-likelihood."""
    acc_norm: bool | None = None
    """loglikelihood: correct by per-character normalised log-likelihood."""
    option_mass: float | None = None
    """Total probability (over the whole vocabulary) of the scored options; for letter
    scoring, how much the model answers with a label at all."""


def softmax(values: Sequence[float]) -> list[float]:
    top = max(values)
    exps = [math.exp(v - top) for v in values]
    total = sum(exps)
    return [e / total for e in exps]


def argmax(values: Sequence[float]) -> int:
    """First index of the maximum (ties go to the earlier option, like numpy)."""
    best = 0
    for index, value in enumerate(values):
        if value > values[best]:
            best = index
    return best


def predict(suite: Suite, item: Item, result: ChoiceResult) -> Prediction:
    lls = list(result.logprobs)
    if len(lls) != len(item.choices):
        raise ValueError(f"item {item.id}: the model returned {len(lls)} scores for {len(item.choices)} options")
    if any(math.isnan(v) for v in lls):
        raise ValueError(f"item {item.id}: the model returned NaN log-likelihoods")
    acc = acc_norm = None
    scores = lls
    if suite.scoring.method == "loglikelihood":
        # Character length of the option text, as lm-evaluation-harness counts it.
        normalised = [ll / max(1, len(choice)) for ll, choice in zip(lls, item.choices)]
        acc = argmax(lls) == item.answer
        acc_norm = argmax(normalised) == item.answer
        if suite.scoring.normalize:
            scores = normalised
    answer = argmax(scores)
    probs = softmax(scores)
    ordered = sorted(scores, reverse=True)
    near_tie = len(ordered) > 1 and ordered[0] - ordered[1] < NEAR_TIE_LOGPROB
    mass = sum(math.exp(v) for v in lls) if all(v <= 0 for v in lls) else None
    return Prediction(
        item_id=item.id,
        answer=answer,
        correct=answer == item.answer,
        probs=tuple(probs),
        confidence=probs[answer],
        near_tie=near_tie,
        acc=acc,
        acc_norm=acc_norm,
        option_mass=mass,
    )
