"""pytest-medmodel: model regression testing for medical language models.

Suites (``*.suite.yaml``) become parametrized pytest tests; predictions are
compared with committed baselines; statistical gates decide the build. The same
core runs without pytest (:mod:`pytest_medmodel.api`).

This module is imported by pytest in every run, so it stays light: plain
dataclasses, protocols and registries, with no torch, transformers or numpy.
Importing it registers the built-in scorers, metrics, gates, perturbations,
mutations and model resolvers (:mod:`pytest_medmodel.defaults`).

PYTEST_DONT_REWRITE: the plugin's own code needs no assertion rewriting, and
opting out keeps pytester runs inside a test session free of "already imported"
warnings.
"""

from . import defaults as _defaults
from .api import as_model, compare_with_baseline, evaluate, load_model, read_baseline, run_gates, suite_variants
from .baselines.format import Baseline, BaselineError
from .execution.runner import Runner
from .gates.base import GateContext, GateResult, gate
from .loading.recipe import load_suite
from .metrics.base import metric
from .models.base import (
    CHOICE_LOGPROBS,
    GENERATE,
    TOPK_LOGPROBS,
    AdapterError,
    ChoiceRequest,
    ChoiceResult,
    GenerationRequest,
    GenerationResult,
    ModelAdapter,
)
from .models.handle import ModelHandle
from .models.specs import ModelOptions, model_resolver
from .mutate.base import mutate_handle, mutation
from .perturb.base import perturbation
from .records import ItemScore
from .scoring.base import register_scorer
from .suite.schema import Param
from .suite.types import Item, Suite, SuiteError, Variant

__all__ = [
    "CHOICE_LOGPROBS",
    "GENERATE",
    "TOPK_LOGPROBS",
    "AdapterError",
    "Baseline",
    "BaselineError",
    "ChoiceRequest",
    "ChoiceResult",
    "GateContext",
    "GateResult",
    "GenerationRequest",
    "GenerationResult",
    "Item",
    "ItemScore",
    "ModelAdapter",
    "ModelHandle",
    "ModelOptions",
    "Param",
    "Runner",
    "Suite",
    "SuiteError",
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
del _defaults
