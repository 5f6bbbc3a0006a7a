"""Baselines: the committed record of what a model answered, one JSON file per suite and profile.

Layout: ``<baseline dir>/<profile>/<suite name>.json``. The format is built for
code review: fixed key order, floats rounded to 4 places, no timestamps, and
one line per item, so ``git diff`` shows exactly which answers changed.

The serializer is a syrupy extension (:class:`BaselineExtension`), so the same
format is available to anyone asserting on a baseline with syrupy's ``snapshot``
fixture. *When* baselines are written is decided by this plugin, not by syrupy's
per-test snapshot bookkeeping: syrupy deletes the snapshot of a test that
raised before asserting (see shared research on syrupy), which would let a
crashed model erase history. Here a file is written only on
``--snapshot-update`` and only when no model or data error happened anywhere
in the run; a partial run (``-k``) merges into the existing entries; entries
whose items left the suite are dropped on update and reported otherwise.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from syrupy.extensions.json import JSONSnapshotExtension

if TYPE_CHECKING:
    from .scoring import Prediction
    from .suite import Item, Suite

FORMAT = "pytest-medmodel/baseline-v1"
DIGITS = 4


class BaselineError(Exception):
    """A baseline file that exists but cannot be used."""


@dataclass
class Baseline:
    """One suite's baseline for one profile."""

    suite: str
    profile: str
    model_name: str
    model_fingerprint: str | None
    suite_fingerprint: str
    scoring: str
    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per item id: ``answer``, ``correct``, ``confidence``, ``hash`` (and ``tie``,
    ``acc``/``acc_norm`` where they apply)."""

    @property
    def metrics(self) -> dict[str, Any]:
        """Suite metrics, always derived from the items so the two cannot disagree."""
        return metrics_of(self.items.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "suite": self.suite,
            "profile": self.profile,
            "model": {"name": self.model_name, "fingerprint": self.model_fingerprint},
            "suite_fingerprint": self.suite_fingerprint,
            "scoring": self.scoring,
            "metrics": self.metrics,
            "items": self.items,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str) -> Baseline:
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            raise BaselineError(f"{where}: not a {FORMAT} file; restore it from version control or re-record it with --snapshot-update")
        try:
            model = data.get("model") or {}
            items = {str(k): dict(v) for k, v in data["items"].items()}
            for item_id, entry in items.items():
                if not {"answer", "correct", "hash"} <= entry.keys():
                    raise KeyError(f"item {item_id} lacks answer/correct/hash")
            return cls(
                suite=str(data["suite"]),
                profile=str(data["profile"]),
                model_name=str(model.get("name", "")),
                model_fingerprint=model.get("fingerprint"),
                suite_fingerprint=str(data["suite_fingerprint"]),
                scoring=str(data.get("scoring", "")),
                items=items,
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise BaselineError(f"{where}: malformed baseline ({exc}); restore it from version control or re-record it with --snapshot-update") from None


def record_for(suite: Suite, item: Item, prediction: Prediction) -> dict[str, Any]:
    """The baseline entry of one item (also what its test report carries)."""
    record: dict[str, Any] = {
        "answer": suite.choice_key(item, prediction.answer),
        "correct": prediction.correct,
        "confidence": round(prediction.confidence, DIGITS),
        "hash": item.content_hash,
    }
    if prediction.near_tie:
        record["tie"] = True
    if suite.scoring.method == "loglikelihood":
        record["acc"] = bool(prediction.acc)
        record["acc_norm"] = bool(prediction.acc_norm)
    return record


def metrics_of(entries: Sequence[Mapping[str, Any]] | Any) -> dict[str, Any]:
    entries = list(entries)
    n = len(entries)
    correct = sum(1 for e in entries if e["correct"])
    metrics: dict[str, Any] = {"n": n, "correct": correct, "accuracy": _round(correct / n) if n else None}
    confidences = [e["confidence"] for e in entries if e.get("confidence") is not None]
    if confidences:
        metrics["mean_confidence"] = _round(sum(confidences) / len(confidences))
    for name in ("acc", "acc_norm"):
        flags = [e[name] for e in entries if name in e]
        if flags and len(flags) == n:
            metrics[name] = _round(sum(1 for f in flags if f) / n)
    return metrics


def _round(value: float) -> float:
    return round(float(value), DIGITS)


class BaselineExtension(JSONSnapshotExtension):
    """syrupy extension that writes the review-friendly baseline layout.

    ``serialize`` accepts a :class:`Baseline` or its ``to_json()`` mapping.
    """

    file_extension = "json"

    def serialize(self, data: Any, **kwargs: Any) -> str:  # type: ignore[override]
        return dumps_baseline(data.to_json() if isinstance(data, Baseline) else data)


_TOP_ORDER = ("format", "suite", "profile", "model", "suite_fingerprint", "scoring", "metrics", "items")


def dumps_baseline(data: Mapping[str, Any]) -> str:
    """Fixed top-level order, sorted keys below it, one line per item, trailing newline."""
    lines = ["{"]
    keys = [k for k in _TOP_ORDER if k in data] + sorted(k for k in data if k not in _TOP_ORDER)
    for index, key in enumerate(keys):
        comma = "," if index < len(keys) - 1 else ""
        value = data[key]
        if key == "items":
            lines.append('  "items": {')
            ids = sorted(value)
            for pos, item_id in enumerate(ids):
                entry = json.dumps(_rounded(value[item_id]), sort_keys=True, ensure_ascii=False)
                lines.append(f"    {json.dumps(item_id)}: {entry}" + ("," if pos < len(ids) - 1 else ""))
            lines.append("  }" + comma)
        else:
            text = json.dumps(_rounded(value), sort_keys=True, indent=2, ensure_ascii=False)
            text = text.replace("\n", "\n  ")
            lines.append(f"  {json.dumps(key)}: {text}{comma}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return _round(value)
    if isinstance(value, Mapping):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_rounded(v) for v in value]
    return value


def baseline_path(root: Path, profile: str, suite_name: str) -> Path:
    return root / profile / f"{suite_name}.json"


def read_baseline(path: Path) -> Baseline | None:
    """The baseline at ``path``, or None when there is none yet."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BaselineError(f"{path}: invalid JSON (line {exc.lineno}: {exc.msg}); restore it from version control or re-record it with --snapshot-update") from None
    return Baseline.from_json(data, str(path))


def merge_baseline(
    old: Baseline | None,
    *,
    suite: str,
    profile: str,
    model_name: str,
    model_fingerprint: str | None,
    suite_fingerprint: str,
    scoring: str,
    suite_ids: Sequence[str],
    records: Mapping[str, Mapping[str, Any]],
) -> tuple[Baseline, list[str], list[str], list[str]]:
    """Fold this run's item records into the old baseline.

    Entries of items not run are kept (partial runs never delete); entries of
    items that are no longer in the suite are dropped. Returns the new baseline
    and the ids added, changed and dropped.
    """
    known = set(suite_ids)
    items = dict(old.items) if old else {}
    dropped = sorted(i for i in items if i not in known)
    for item_id in dropped:
        del items[item_id]
    added, changed = [], []
    for item_id, record in records.items():
        entry = _rounded(dict(record))
        if item_id not in items:
            added.append(item_id)
        elif _same_entry(items[item_id], entry):
            continue  # float noise only: keep the committed line, so reviews show real changes
        else:
            changed.append(item_id)
        items[item_id] = entry
    new = Baseline(
        suite=suite,
        profile=profile,
        model_name=model_name,
        model_fingerprint=model_fingerprint,
        suite_fingerprint=suite_fingerprint,
        scoring=scoring,
        items=items,
    )
    return new, sorted(added), sorted(changed), dropped


CONFIDENCE_TOLERANCE = 0.002
"""Confidence moves this small between batch sizes, devices or library versions
(float noise); an update does not rewrite an entry for it."""


def _same_entry(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Equal except for a confidence within :data:`CONFIDENCE_TOLERANCE`."""
    if {k: v for k, v in old.items() if k != "confidence"} != {k: v for k, v in new.items() if k != "confidence"}:
        return False
    a, b = old.get("confidence"), new.get("confidence")
    if a is None or b is None:
        return a == b
    return abs(float(a) - float(b)) <= CONFIDENCE_TOLERANCE


def write_baseline(path: Path, baseline: Baseline) -> bool:
    """Write atomically; returns False (and leaves the file alone) when nothing changed."""
    text = BaselineExtension().serialize(baseline)
    try:
        if path.read_text(encoding="utf-8") == text:
            return False
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return True
