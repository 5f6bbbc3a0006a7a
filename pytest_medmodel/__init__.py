"""pytest-medmodel: model regression testing for medical language models.

Suites (``*.suite.yaml``) become parametrized pytest tests; predictions are
compared with committed baselines; statistical gates decide the build.

This module is imported by pytest in every run, so it stays light: the names
below are plain dataclasses and protocols, with no torch or transformers.
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
