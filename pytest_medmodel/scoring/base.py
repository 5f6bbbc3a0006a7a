"""Scorers (ChEF's "inferencers"): how a variant becomes a request, and a result an :class:`ItemScore`.

A scorer is registered by name (``scoring: <name>`` in a suite) and says:

* which adapter capabilities it needs (any one of ``requires``); a model without
  them gets the scorer's tests skipped with the reason, never a crash;
* whether the default prompt must list the labelled options (``lists_choices``);
* which settings a suite may give it (``params``, checked like every suite key);
* which suite metrics it adds to the summary (``metrics``).

Examples:
    A scorer is one registered class::

        @register_scorer
        class Shortest:
            name = "shortest"
            requires = frozenset({CHOICE_LOGPROBS})  # from pytest_medmodel import CHOICE_LOGPROBS
            lists_choices = False
            params = {}
            metrics = ()

            def request(self, suite, variant, chat): ...
            def score(self, suite, variant, result): ...
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, TypeVar, cast

from ..models.base import Request, Result
from ..records import ItemScore
from ..registry import Registry, origin_of
from ..suite.schema import Param
from ..suite.types import Suite, Variant
from .prompts import ChatFormatter


class Scorer(Protocol):
    """How one scoring method asks and reads the model."""

    name: str
    requires: frozenset[str]
    """Adapter capabilities, any one of which is enough."""
    lists_choices: bool
    """The default template shows the labelled options (letter scoring)."""
    params: Mapping[str, Param]
    """Settings a suite may give under ``scoring:`` (besides ``method``)."""
    metrics: tuple[str, ...]
    """Registered metrics this scorer's items carry values for (shown in the summary)."""

    def request(self, suite: Suite, variant: Variant, chat: ChatFormatter | None) -> Request:
        """The request that asks the model about ``variant``."""
        ...

    def score(self, suite: Suite, variant: Variant, result: Result) -> ItemScore:
        """Read the model's result; answers index the item's ORIGINAL choices."""
        ...


SCORERS: Registry[Scorer] = Registry(
    "scoring method", builtins=("pytest_medmodel.scoring.choice", "pytest_medmodel.scoring.generate")
)

S = TypeVar("S")


def register_scorer(cls: type[S]) -> type[S]:
    """Class decorator: register one instance of ``cls`` under ``cls.name``."""
    instance = cast(Scorer, cls())
    SCORERS.register(instance.name, instance, origin_of(cls))
    return cls


def unservable(scorer: Scorer, model_name: str, capabilities: frozenset[str]) -> str | None:
    """Why ``model_name`` cannot serve ``scorer`` (None when it can)."""
    if scorer.requires & capabilities:
        return None
    needs = " or ".join(sorted(scorer.requires))
    offers = ", ".join(sorted(capabilities)) or "nothing"
    return f"{model_name} cannot serve scoring '{scorer.name}': it needs {needs}; the model offers {offers}"
