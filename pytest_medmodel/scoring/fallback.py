"""Generation in place of log-likelihood scoring, for a model that can only generate (a serving engine
that returns no log-probabilities).

The suite keeps its prompt; its answers are read out of generated text the way
its choice scoring asked: the label (``letter``), the option's text
(``loglikelihood``), or the word (yes/no tasks). The swapped scoring is part of
the suite's fingerprint and of its baseline's ``scoring``, and the run summary
says, per suite, that it happened and why.
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import replace

from ..models.base import GENERATE
from ..suite.types import ScoringSpec, Suite
from .base import SCORERS, unservable


def generation_fallback(suite: Suite, capabilities: Set[str]) -> Suite | None:
    """The suite scored by generation, when the model cannot serve its scoring but can generate; else None."""
    scorer = SCORERS.get(suite.scoring.method)
    if GENERATE not in capabilities or unservable(scorer, "", frozenset(capabilities)) is None:
        return None  # cannot generate, or can serve the suite as written
    extract = "word" if suite.fixed_choices else ("letter" if scorer.lists_choices else "option_text")
    scoring = ScoringSpec("generate", {"extract": extract, "fallback_from": suite.scoring.method})
    return replace(suite, scoring=scoring)


def fallback_note(suite: Suite) -> str | None:
    """The summary's line about a swapped scoring (None when the suite is scored as written)."""
    origin = suite.scoring.option("fallback_from")
    if origin is None:
        return None
    return (
        f"{suite.name}: scored by generation (extract: {suite.scoring.option('extract')}) instead of {origin}: "
        "the model returns no log-probabilities"
    )
