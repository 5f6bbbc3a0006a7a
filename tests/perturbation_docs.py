"""Builds docs/perturbations.md's before/after examples from the real perturbations (a test keeps them in sync)."""

from __future__ import annotations

from pathlib import Path

from pytest_medmodel import load_suite, suite_variants
from pytest_medmodel.scoring.prompts import render_context

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = [
    (
        "robustness/choice_order",
        "gm-001",
        ["shuffle", "reverse", "rotate1", "rotate2", "rotate3", "numbers", "none_above"],
    ),
    ("robustness/wording", "cc-anat-001", ["typos", "case", "whitespace", "distractor", "header1", "header2"]),
    ("robustness/reading", "ynm-001", ["half_context", "distractor"]),
]


def examples() -> dict[str, str]:
    """``{"<suite>/<variant key>": rendered prompt}`` for the original and each shown variant (no chat template)."""
    out = {}
    for suite_name, item_id, names in EXAMPLES:
        suite = load_suite(ROOT / "suites" / f"{suite_name}.suite.yaml")
        variants = suite_variants(suite)
        for name in ["", *names]:
            key = f"{item_id}/{name}" if name else item_id
            out[f"{suite_name}::{key}"] = render_context(suite.prompt, variants[key], None)
    return out


def blocks() -> list[str]:
    """The doc's example blocks, in order."""
    return [f"```\n{text}\n```" for text in examples().values()]
