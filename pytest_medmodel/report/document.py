"""``report.json``: everything one run found, as one plain-data document.

Built from the run summary plus what only the reporting process holds (each
item's prediction and outcome, the baselines it was judged against), so the
Markdown and HTML reports render from this document alone and a report can be
re-rendered from a saved ``report.json``. Its shape is fixed by the JSON Schema
shipped beside this module (:data:`SCHEMA_PATH`).

Every figure that depends on how the run was executed (wall times, throughput,
cache hits, the date) lives under ``timings``: the rest is identical whether the
run was serial or distributed with ``-n``.
"""

from __future__ import annotations

import json
import math
import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from ..baselines.format import Baseline
from ..records import DIGITS, ItemScore, clipped
from ..stats.paired import PairedStats
from ..stats.significance import wilson_interval
from ..suite.types import split_key
from .facts import SuiteFacts
from .pictures import SuitePictures
from .summary import RunSummary, SuiteSummary

FORMAT = "pytest-medmodel/report-v1"
SCHEMA_PATH = Path(__file__).with_name("report.schema.json")
"""The JSON Schema of ``report.json`` (shipped in the package)."""
PROMPTED = ("regressed", "improved")
"""Item outcomes whose prompts the report carries: what a reviewer reads first."""
LIBRARIES = ("pytest-medmodel", "pytest", "pytest-xdist", "torch", "transformers", "numpy", "datasets", "matplotlib")


@dataclass
class SuiteItems:
    """What the reporting process holds about one suite's items, beyond the summary row."""

    facts: SuiteFacts
    """What the test processes said about the suite."""
    scores: Mapping[str, ItemScore]
    outcomes: Mapping[str, str] = field(default_factory=dict)
    baseline: Baseline | None = None
    baseline_path: str = ""
    prompts: Mapping[str, str] = field(default_factory=dict)
    """The user message of each regressed and improved item, by key."""
    pictures: SuitePictures | None = None
    """Thumbnails of the items worth seeing (a suite with images only)."""


def library_versions() -> dict[str, str | None]:
    """Installed versions (from package metadata: nothing heavy is imported); None when not installed."""
    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def build_report(
    summary: RunSummary,
    items: Mapping[str, SuiteItems],
    *,
    mutations: Sequence[Mapping[str, Any]] = (),
    search: Sequence[str] = (),
    search_pictures: Mapping[str, Any] | None = None,
    timings: Mapping[str, Any] | None = None,
    versions: Mapping[str, str | None] | None = None,
) -> dict[str, Any]:
    """The report document (see the schema for every field)."""
    extra = {"search_pictures": dict(search_pictures)} if search_pictures else {}
    return extra | {
        "format": FORMAT,
        "model": summary.model.to_json() if summary.model else None,
        "versions": dict(versions if versions is not None else library_versions()),
        "suites": [_suite(row, items.get(row.key)) for row in summary.suites],
        "mutations": [dict(m) for m in mutations],
        "search": list(search),
        "updates": list(summary.updates),
        "errors": list(summary.errors),
        "timings": dict(timings or {}),
    }


def run_timings(summary: RunSummary, generated_at: str) -> dict[str, Any]:
    """The execution-dependent figures: model load, inference throughput, cache use, and when."""
    stats = summary.inference
    wall = stats.wall_seconds
    return {
        "generated_at": generated_at,
        "model_load_seconds": round(summary.model_seconds, 3),
        "inference_seconds": round(wall, 3),
        "requests_computed": stats.requests_computed,
        "requests_cached": stats.requests_cached,
        "items_per_second": round(stats.requests_computed / wall, 2) if wall > 0 else None,
        "oom_backoffs": stats.oom_backoffs,
    }


def accuracy_figures(stats: PairedStats) -> dict[str, Any]:
    """This run's accuracy with its 95% Wilson interval."""
    low, high = wilson_interval(stats.correct, stats.n)
    return {
        "value": _r(stats.accuracy),
        "low": _r(low if stats.n else None),
        "high": _r(high if stats.n else None),
        "correct": stats.correct,
        "n": stats.n,
    }


def comparison_figures(stats: PairedStats) -> dict[str, Any]:
    """The paired comparison with the baseline, rounded as every report shows it."""
    return {
        **{k: v for k, v in stats.to_json().items() if k not in ("regressed_ids", "improved_ids", "cluster_p")},
        "baseline_accuracy": _r(stats.baseline_accuracy),
        "paired_accuracy": _r(stats.paired_accuracy),
        "delta": _r(stats.delta),
        "p_value": round(stats.p_value, 6),
    }


def metric_figures(metrics: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _r(v) if isinstance(v, float) else v for k, v in metrics.items()}


JUNIT_COMPARISON = ("paired", "baseline_accuracy", "delta", "regressed", "improved", "p_value")


def junit_suite_properties(stats: PairedStats, metrics: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """A suite's figures as JUnit properties of its gate tests, the same numbers report.json holds:
    ``medmodel.suite.accuracy`` (and ``_low``/``_high``, ``n``, ``correct``), the comparison's
    ``paired``, ``baseline_accuracy``, ``delta``, ``regressed``, ``improved``, ``p_value``, and
    ``medmodel.suite.metric.<name>``. A figure without a value (no baseline, no items) is left out:
    JUnit would show it as the text ``None``."""
    acc, cmp = accuracy_figures(stats), comparison_figures(stats)
    out: list[tuple[str, Any]] = [
        ("medmodel.suite.accuracy", acc["value"]),
        ("medmodel.suite.accuracy_low", acc["low"]),
        ("medmodel.suite.accuracy_high", acc["high"]),
        ("medmodel.suite.n", acc["n"]),
        ("medmodel.suite.correct", acc["correct"]),
    ]
    out += [(f"medmodel.suite.{name}", cmp[name]) for name in JUNIT_COMPARISON]
    out += [(f"medmodel.suite.metric.{k}", v) for k, v in metric_figures(metrics).items()]
    return [(name, value) for name, value in out if value is not None]


def _suite(row: SuiteSummary, held: SuiteItems | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "key": row.key,
        "name": row.name,
        "fingerprint": held.facts.fingerprint if held else None,
        "scoring": held.facts.scoring if held else None,
        "baseline": _baseline(held),
        "accuracy": accuracy_figures(row.stats),
        "comparison": comparison_figures(row.stats),
        "metrics": metric_figures(row.metrics),
        "gates": [g.to_json() for g in row.gates],
        "detectable_drop": _r(row.detectable_drop),
        "blind": row.blind,
        "by_tag": [_tag(tag, correct, n) for tag, (correct, n) in row.by_tag.items()],
        "robustness": [dict(r) for r in row.robustness],
        "groups": row.groups,
        "calibration": row.calibration,
        "items": _items(held) if held else [],
    }
    if held is not None and held.pictures is not None:
        out["pictures"] = held.pictures.to_json()
    if row.answered_by is not None:  # a suite with images, answered by the run's model for images
        out["answered_by"] = row.answered_by.to_json()
    return out


def _baseline(held: SuiteItems | None) -> dict[str, Any] | None:
    if held is None:
        return None
    then = held.baseline
    return {
        "path": held.baseline_path,
        "exists": then is not None,
        "model_fingerprint": then.model_fingerprint if then else None,
        "suite_fingerprint": then.suite_fingerprint if then else None,
    }


def _tag(tag: str, correct: int, n: int) -> dict[str, Any]:
    low, high = wilson_interval(correct, n)
    return {
        "tag": tag,
        "correct": correct,
        "n": n,
        "accuracy": _r(correct / n if n else None),
        "low": _r(low),
        "high": _r(high),
    }


def _items(held: SuiteItems) -> list[dict[str, Any]]:
    """Every item and variant scored, in key order: the prediction, its outcome and the baseline's answer."""
    rows = []
    for key in sorted(held.scores):
        score = held.scores[key]
        then = held.baseline.entry(key) if held.baseline is not None else None
        same = then is not None and then.describes(score)
        rows.append(
            {
                "key": key,
                "item_id": score.item_id,
                "variant": split_key(key)[1],
                "answer": score.shown,
                "expected": score.key,
                "correct": score.correct,
                "confidence": None if score.confidence is None else round(score.confidence, DIGITS),
                "probs": None if score.probs is None else [round(float(p), DIGITS) for p in score.probs],
                "outcome": held.outcomes.get(key),
                "baseline": {
                    "answer": then.shown,
                    "correct": then.correct,
                    "confidence": then.confidence,
                    "text": then.text,
                }
                if then is not None and same
                else None,
                "text": None if score.text is None else clipped(score.text),
                "prompt": held.prompts.get(key),
            }
        )
    return rows


FIGURE_DIGITS = 6
"""Suite figures keep 6 decimals, so a page that shows one at 0.1% never rounds twice (0.245455 -> 24.5%,
where 0.2455 would show 24.6%); an item's probabilities keep the baseline's 4."""


def _r(value: float | None) -> float | None:
    return None if value is None else round(float(value), FIGURE_DIGITS)


def dumps_report(report: Mapping[str, Any]) -> str:
    """The file's text: sorted keys, two-space indent, a final newline (stable for diffs).

    A figure that is undefined (NaN: AUROC when every answer is right) is written as
    null, never as the ``NaN`` that strict JSON readers reject.
    """
    return json.dumps(_finite(report), indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def check_schema(report: Any) -> None:
    """Raise ValueError naming where ``report`` first breaks the shipped schema (:data:`SCHEMA_PATH`).

    Only when jsonschema is installed (a test extra, not a dependency): without it the
    renderers' own errors are what a malformed file gives.
    """
    try:
        import jsonschema
    except ImportError:
        return
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(report))
    if error is not None:
        where = "/".join(str(part) for part in error.absolute_path) or "the top level"
        message = error.message if len(error.message) <= 160 else error.message[:160] + "…"
        raise ValueError(f"breaks the report schema at {where}: {message}")


def without_timings(report: Mapping[str, Any]) -> dict[str, Any]:
    """The report with its execution-dependent part removed: equal for a serial and a distributed run."""
    return {k: v for k, v in report.items() if k != "timings"}
