"""pytest-medmodel: model regression testing for medical language models.

Suites (``*.suite.yaml``) become parametrized pytest tests; predictions are
compared with committed baselines; statistical gates decide the build.

This module is imported by pytest in every run, so it stays light: the names
below are plain dataclasses and protocols, with no torch or transformers.

PYTEST_DONT_REWRITE: the plugin's own code needs no assertion rewriting, and
opting out keeps pytester runs inside a test session free of "already imported"
warnings.
"""

from .models.base import AdapterError, ChoiceRequest, ChoiceResult, GenerationRequest, ModelAdapter
from .suite import Item, Suite, SuiteError, load_suite

__all__ = [
    "AdapterError",
    "ChoiceRequest",
    "ChoiceResult",
    "GenerationRequest",
    "Item",
    "ModelAdapter",
    "Suite",
    "SuiteError",
    "load_suite",
]
__version__ = "0.1.0"
