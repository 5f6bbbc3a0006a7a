"""Suites: the YAML recipe (:mod:`.loading`), its schema (:mod:`.schema`), rows (:mod:`.sources`),
items (:mod:`.items`) and data types (:mod:`.types`).

This package's ``__init__`` re-exports only the data types, so importing any of its
modules never drags in the registries the loader consults.
"""

from .types import (
    ORIGINAL,
    SUITE_SUFFIXES,
    GateUse,
    Item,
    PerturbationUse,
    PromptSpec,
    ScoringSpec,
    Suite,
    SuiteError,
    Variant,
    is_suite_path,
    split_key,
    variant_key,
)

__all__ = [
    "ORIGINAL",
    "SUITE_SUFFIXES",
    "GateUse",
    "Item",
    "PerturbationUse",
    "PromptSpec",
    "ScoringSpec",
    "Suite",
    "SuiteError",
    "Variant",
    "is_suite_path",
    "split_key",
    "variant_key",
]
