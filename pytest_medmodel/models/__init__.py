"""Model adapters. Importing this package is cheap; torch loads inside the loaders."""

from .base import (
    AdapterError,
    ChoiceRequest,
    ChoiceResult,
    Generates,
    GenerationRequest,
    ImagePart,
    ModelAdapter,
    Part,
    ScoresContinuations,
    TextPart,
)

__all__ = [
    "AdapterError",
    "ChoiceRequest",
    "ChoiceResult",
    "Generates",
    "GenerationRequest",
    "ImagePart",
    "ModelAdapter",
    "Part",
    "ScoresContinuations",
    "TextPart",
]
