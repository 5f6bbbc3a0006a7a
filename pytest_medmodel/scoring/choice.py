"""Choice scoring: the model's log-likelihood of each option decides the answer.

``letter``: the prompt lists labelled options and the labels (`` A``, `` B``, ...)
are scored as the next token, one forward pass per item.

``loglikelihood``: each option's *text* is scored as the continuation. ``acc``
picks the option with the highest summed log-likelihood; ``acc_norm`` divides
each sum by the option's length in characters first. Both follow
lm-evaluation-harness exactly (``api/task.py process_results``: ``completion_len
= len(choice)``, characters, without the leading delimiter) so numbers are
comparable. ``scoring: {method: loglikelihood, normalize: true}`` makes
``acc_norm`` the answer.

Probabilities (what calibration reads) are always the softmax of the summed
log-likelihoods over the options: the model's probability of each option given
that one of them is the answer. ``confidence`` is that probability for the
option the scoring picked, also when ``normalize`` picked it. An item where the
model gives every option zero probability (all ``-inf``) has no answer: it is
scored invalid, never silently answered "A".
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from ..models.base import CHOICE_LOGPROBS, TOPK_LOGPROBS, ChoiceRequest, ChoiceResult, Result
from ..records import INVALID, ItemScore
from ..suite.schema import Param
from ..suite.types import Suite, Variant
from .base import register_scorer
from .fewshot import shots_before
from .prompts import ChatFormatter, after, prompt_images, render_context

NEAR_TIE_LOGPROB = 1e-4
"""Top-two scores closer than this are a near tie: float noise could flip the answer."""


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


def meta(suite: Suite, variant: Variant) -> dict[str, str]:
    """Where a request comes from; adapters may read it, the cache key ignores it."""
    return {"suite": suite.name, "item": variant.item_id, "variant": variant.name}


def choice_score(
    suite: Suite, variant: Variant, logprobs: Sequence[float], picking: Sequence[float], values: Mapping[str, Any]
) -> ItemScore:
    """An :class:`ItemScore` from the options' log-likelihoods (``picking`` decides the answer)."""
    key = suite.shown(variant, variant.answer)
    common: dict[str, Any] = {
        "item_id": variant.item_id,
        "variant": variant.name,
        "key": key,
        "content_hash": variant.content_hash,
    }
    if all(v == -math.inf for v in logprobs):
        invalid_values = dict.fromkeys(values, False)
        return ItemScore(answer=None, correct=False, shown=INVALID, values=invalid_values, **common)
    presented = argmax(picking)
    probs = softmax(logprobs)
    ordered = sorted(picking, reverse=True)
    mass = sum(math.exp(v) for v in logprobs) if all(v <= 0 for v in logprobs) else None
    return ItemScore(
        answer=variant.origin[presented],
        correct=presented == variant.answer,
        shown=suite.shown(variant, presented),
        probs=_in_original_order(variant, probs),
        confidence=probs[presented],
        near_tie=len(ordered) > 1 and ordered[0] - ordered[1] < NEAR_TIE_LOGPROB,
        values=dict(values),
        diagnostics={} if mass is None else {"option_mass": mass},
        **common,
    )


def _in_original_order(variant: Variant, probs: Sequence[float]) -> tuple[float, ...]:
    """Original choices first, in their order; options a perturbation added after them."""
    original = [0.0] * sum(1 for o in variant.origin if o is not None)
    added = []
    for position, index in enumerate(variant.origin):
        if index is None:
            added.append(probs[position])
        else:
            original[index] = probs[position]
    return tuple(original + added)


def _original_order(variant: Variant) -> list[int]:
    """Presented positions sorted by original choice index (options a perturbation added last)."""
    count = len(variant.choices)
    return sorted(range(count), key=lambda p: (variant.origin[p] is None, variant.origin[p] or 0, p))


def _logprobs(variant: Variant, result: Result) -> list[float]:
    if not isinstance(result, ChoiceResult):
        raise TypeError(f"item {variant.key}: expected a ChoiceResult, got {type(result).__name__}")
    lls = list(result.logprobs)
    if len(lls) != len(variant.choices):
        raise ValueError(f"item {variant.key}: the model returned {len(lls)} scores for {len(variant.choices)} options")
    if any(math.isnan(v) for v in lls):
        raise ValueError(f"item {variant.key}: the model returned NaN log-likelihoods")
    return lls


@register_scorer
class Letter:
    """The labels of listed options, scored as the next token."""

    name = "letter"
    requires = frozenset({CHOICE_LOGPROBS, TOPK_LOGPROBS})
    lists_choices = True
    params: Mapping[str, Param] = {}
    metrics: tuple[str, ...] = ()

    def request(self, suite: Suite, variant: Variant, chat: ChatFormatter | None) -> ChoiceRequest:
        context = render_context(suite.prompt, variant, chat, shots_before(suite, variant, labelled=True))
        labels = variant.shown_labels(suite.prompt.labels)
        images = prompt_images(suite.prompt, variant)
        return ChoiceRequest(context, after(context, labels), meta=meta(suite, variant), images=images)

    def score(self, suite: Suite, variant: Variant, result: Result) -> ItemScore:
        lls = _logprobs(variant, result)
        return choice_score(suite, variant, lls, lls, {})


@register_scorer
class LogLikelihood:
    """Each option's text scored as the continuation (lm-evaluation-harness ``acc``/``acc_norm``)."""

    name = "loglikelihood"
    requires = frozenset({CHOICE_LOGPROBS})
    lists_choices = False
    params: Mapping[str, Param] = {"normalize": Param((bool,), "true or false", False)}
    metrics: tuple[str, ...] = ("acc", "acc_norm")

    def request(self, suite: Suite, variant: Variant, chat: ChatFormatter | None) -> ChoiceRequest:
        # Options go out in the item's ORIGINAL order: a variant that only reorders them (when the
        # prompt does not list them) is then the very same request, served from the cache.
        context = render_context(suite.prompt, variant, chat, shots_before(suite, variant, labelled=False))
        texts = [variant.choices[p] for p in _original_order(variant)]
        images = prompt_images(suite.prompt, variant)
        return ChoiceRequest(context, after(context, texts), meta=meta(suite, variant), images=images)

    def score(self, suite: Suite, variant: Variant, result: Result) -> ItemScore:
        sent = _logprobs(variant, result)
        lls = [0.0] * len(sent)
        for position, presented in enumerate(_original_order(variant)):
            lls[presented] = sent[position]
        # Character length of the option text, as lm-evaluation-harness counts it.
        normalised = [ll / max(1, len(choice)) for ll, choice in zip(lls, variant.choices, strict=True)]
        values = {"acc": argmax(lls) == variant.answer, "acc_norm": argmax(normalised) == variant.answer}
        picking = normalised if suite.scoring.option("normalize", False) else lls
        return choice_score(suite, variant, lls, picking, values)
