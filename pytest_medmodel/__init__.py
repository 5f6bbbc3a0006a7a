"""pytest-medmodel: model regression testing for medical language models.

Suites (``*.suite.yaml``) become parametrized pytest tests; predictions are
compared with committed baselines; statistical gates decide the build. The same
core runs without pytest (:mod:`pytest_medmodel.api`).

pytest imports this package in every run of every project where it is installed,
so importing it imports nothing: each public name below is loaded from its module
the first time it is used (PEP 562). The built-in scorers, metrics, gates,
perturbations and mutations register themselves when their registry is first
read (:class:`pytest_medmodel.registry.Registry`).

PYTEST_DONT_REWRITE: the plugin"s own code needs no assertion rewriting, and
opting out keeps pytester runs inside a test session free of "already imported"
warnings.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .api import as_model, compare_with_baseline, evaluate, load_model, read_baseline, run_gates, suite_variants
    from .baselines.format import Baseline, BaselineError
    from .execution.runner import Runner
    from .gates.base import GateContext, GateResult, gate
    from .loading.recipe import load_suite
    from .metrics.base import metric
    from .models.base import (
        CHOICE_LOGPROBS,
        GENERATE,
        IMAGE_MARK,
        IMAGES,
        TOPK_LOGPROBS,
        AdapterError,
        ChoiceRequest,
        ChoiceResult,
        Generates,
        GenerationRequest,
        GenerationResult,
        ImagePart,
        ModelAdapter,
        Part,
        ScoresContinuations,
        TextPart,
    )
    from .models.handle import ModelHandle
    from .models.specs import ModelOptions, model_resolver
    from .mutate.base import mutate_handle, mutation
    from .perturb.base import perturbation
    from .records import ItemScore
    from .scoring.base import register_scorer
    from .suite.schema import Param
    from .suite.types import Item, Suite, SuiteError, Variant

_PUBLIC = {
    **dict.fromkeys(
        ["as_model", "compare_with_baseline", "evaluate", "load_model", "read_baseline", "run_gates", "suite_variants"],
        ".api",
    ),
    **dict.fromkeys(
        [
            "Baseline",
            "BaselineError",
        ],
        ".baselines.format",
    ),
    **dict.fromkeys(
        [
            "GateContext",
            "GateResult",
            "gate",
        ],
        ".gates.base",
    ),
    **dict.fromkeys(
        [
            "metric",
        ],
        ".metrics.base",
    ),
    **dict.fromkeys(
        [
            "CHOICE_LOGPROBS",
            "GENERATE",
            "IMAGE_MARK",
            "IMAGES",
            "TOPK_LOGPROBS",
            "AdapterError",
            "ChoiceRequest",
            "ChoiceResult",
            "Generates",
            "GenerationRequest",
            "GenerationResult",
            "ImagePart",
            "ModelAdapter",
            "Part",
            "ScoresContinuations",
            "TextPart",
        ],
        ".models.base",
    ),
    **dict.fromkeys(
        [
            "ModelHandle",
        ],
        ".models.handle",
    ),
    **dict.fromkeys(
        [
            "ModelOptions",
            "model_resolver",
        ],
        ".models.specs",
    ),
    **dict.fromkeys(
        [
            "mutate_handle",
            "mutation",
        ],
        ".mutate.base",
    ),
    **dict.fromkeys(
        [
            "perturbation",
        ],
        ".perturb.base",
    ),
    **dict.fromkeys(
        [
            "ItemScore",
        ],
        ".records",
    ),
    **dict.fromkeys(
        [
            "Runner",
        ],
        ".execution.runner",
    ),
    **dict.fromkeys(
        [
            "register_scorer",
        ],
        ".scoring.base",
    ),
    **dict.fromkeys(
        [
            "load_suite",
        ],
        ".loading.recipe",
    ),
    **dict.fromkeys(
        [
            "Param",
        ],
        ".suite.schema",
    ),
    **dict.fromkeys(
        [
            "Item",
            "Suite",
            "SuiteError",
            "Variant",
        ],
        ".suite.types",
    ),
}
"""Each public name and the module that defines it."""

__all__ = [
    "AdapterError",
    "Baseline",
    "BaselineError",
    "CHOICE_LOGPROBS",
    "ChoiceRequest",
    "ChoiceResult",
    "GENERATE",
    "GateContext",
    "IMAGES",
    "IMAGE_MARK",
    "ImagePart",
    "GateResult",
    "Generates",
    "GenerationRequest",
    "GenerationResult",
    "Item",
    "ItemScore",
    "ModelAdapter",
    "ModelHandle",
    "ModelOptions",
    "Param",
    "Part",
    "Runner",
    "ScoresContinuations",
    "Suite",
    "SuiteError",
    "TOPK_LOGPROBS",
    "TextPart",
    "Variant",
    "as_model",
    "compare_with_baseline",
    "evaluate",
    "gate",
    "load_model",
    "load_suite",
    "metric",
    "model_resolver",
    "mutate_handle",
    "mutation",
    "perturbation",
    "read_baseline",
    "register_scorer",
    "run_gates",
    "suite_variants",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # the next use is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
