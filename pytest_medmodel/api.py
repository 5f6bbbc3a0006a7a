"""The public face of the plain-Python core: load a suite and a model, score it, gate it. No pytest.

The pytest plugin is a thin skin over the same core; a notebook, a training
loop's callback or another test runner can use them directly::

    from pytest_medmodel import evaluate, load_model, load_suite, read_baseline, run_gates

    suite = load_suite("suites/pubmedqa_style.suite.yaml")
    model = load_model("demo")
    scores = evaluate(suite, model, limit=16)
    baseline = read_baseline("baselines/demo/pubmedqa_style.json")
    for result in run_gates(suite, scores, baseline, model):
        print(result.gate, result.status)
        print(result.message)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .baselines.format import Baseline
from .baselines.format import read_baseline as _read_baseline
from .execution.evaluate import evaluate, suite_variants
from .gates.family import compare_with_baseline, run_gates
from .models.handle import ModelHandle
from .models.specs import ModelOptions, as_model, resolve_model
from .mutate.base import mutate_handle

__all__ = [
    "as_model",
    "compare_with_baseline",
    "evaluate",
    "load_model",
    "read_baseline",
    "run_gates",
    "suite_variants",
]


def load_model(
    spec: str,
    *,
    device: str = "auto",
    dtype: str = "auto",
    batch_size: int | None = None,
    cache_dir: Path | None = None,
    log: Callable[[str], None] | None = None,
    mutate: str | None = None,
) -> ModelHandle:
    """The model named by ``spec`` (what ``--medmodel`` accepts); weights load on first use.

    ``mutate``: a mutation spec (what ``--medmodel-mutate`` accepts, e.g. ``noise:scale=0.1``)
    applied when the weights load; the handle gets its own fingerprint and keeps the profile.
    """
    options = ModelOptions(device=device, dtype=dtype, batch_size=batch_size, cache_dir=cache_dir, log=log)
    handle = resolve_model(spec, options)
    return mutate_handle(handle, mutate) if mutate else handle


def read_baseline(path: str | Path) -> Baseline | None:
    """The baseline file at ``path`` (None when there is none yet)."""
    return _read_baseline(Path(path))
