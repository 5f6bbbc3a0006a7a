"""Model adapters. Importing this package is cheap; torch loads inside the loaders."""

from .base import AdapterError, ChoiceRequest, ChoiceResult, GenerationRequest, ModelAdapter

__all__ = ["AdapterError", "ChoiceRequest", "ChoiceResult", "GenerationRequest", "ModelAdapter"]
