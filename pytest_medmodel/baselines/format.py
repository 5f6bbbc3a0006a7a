"""Baselines: the committed record of what a model answered, one JSON file per suite and profile.

Layout: ``<baseline dir>/<profile>/<suite name>.json``. The format is built for
code review: fixed key order, floats rounded to 4 places, no timestamps, and
one line per item, so ``git diff`` shows exactly which answers changed.

The same format is offered as a syrupy extension
(:class:`pytest_medmodel.baselines.snapshot.BaselineExtension`) to anyone asserting on a
baseline with syrupy's ``snapshot`` fixture. *When* baselines are written is
decided by this plugin, not by syrupy's
per-test snapshot bookkeeping: syrupy deletes the snapshot of a test that
raised before asserting (see shared research on syrupy), which would let a
crashed model erase history. Here a file is written only on
``--snapshot-update`` and only when no model or data error happened anywhere
in the run; a partial run (``-k``) merges into the existing entries; entries
whose items left the suite are dropped on update and reported otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..metrics.base import recorded
from ..records import DIGITS, BaselineEntry, ItemScore
from ..suite.types import split_key

FORMAT = "pytest-medmodel/baseline-v1"
RECOVER = "restore it from version control or re-record it with --snapshot-update"


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
    """Per key (item id, or ``<item id>/<variant>``): ``answer``, ``correct``, ``confidence``,
    ``hash`` (and ``tie``, ``acc``/``acc_norm`` where they apply), as written in the file."""

    def entry(self, key: str) -> BaselineEntry | None:
        """The typed view of one entry (None when there is none)."""
        raw = self.items.get(key)
        return None if raw is None else BaselineEntry.from_json(raw)

    def paired_entry(self, score: ItemScore) -> BaselineEntry | None:
        """The entry a score is compared with: None when there is none, or when the item changed since
        (:meth:`~pytest_medmodel.records.BaselineEntry.describes`)."""
        then = self.entry(score.item_key)
        return then if then is not None and then.describes(score) else None

    @property
    def metrics(self) -> dict[str, Any]:
        """Suite metrics over the original items, always derived from the entries so the two cannot disagree."""
        return recorded(BaselineEntry.from_json(e) for k, e in self.items.items() if not split_key(k)[1])

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
            raise BaselineError(f"{where}: not a {FORMAT} file; {RECOVER}")
        try:
            model = data.get("model") or {}
            if not isinstance(data["items"], Mapping) or not isinstance(model, Mapping):
                raise TypeError("'items' and 'model' must be objects")
            items = {str(k): v for k, v in data["items"].items()}
            for key, entry in items.items():
                try:
                    BaselineEntry.from_json(entry)
                except ValueError as exc:
                    raise BaselineError(f"{where}: item {key}: {exc}; {RECOVER}") from None
            items = {k: dict(v) for k, v in items.items()}
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
            raise BaselineError(f"{where}: malformed baseline ({exc}); {RECOVER}") from None


def _round(value: float) -> float:
    return round(float(value), DIGITS)


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


def relative_to(path: Path, root: Path) -> str:
    """``path`` relative to the project root for messages (absolute when outside it)."""
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def read_baseline(path: Path) -> Baseline | None:
    """The baseline at ``path``, or None when there is none yet; :class:`BaselineError` when unusable."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise BaselineError(f"{path}: is a directory, not a baseline file; move it away") from None
    except NotADirectoryError:
        raise BaselineError(f"{path}: a parent of this path is a file, not a folder; move it away") from None
    except UnicodeDecodeError as exc:
        raise BaselineError(f"{path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x}); {RECOVER}") from None
    except OSError as exc:
        raise BaselineError(f"{path}: cannot be read ({exc.strerror}); check the permissions") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BaselineError(f"{path}: invalid JSON (line {exc.lineno}: {exc.msg}); {RECOVER}") from None
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
    suite_keys: Sequence[str],
    scores: Mapping[str, ItemScore],
) -> tuple[Baseline, list[str], list[str], list[str]]:
    """Fold this run's item scores into the old baseline.

    Entries of items not run are kept (partial runs never delete); entries of
    items that are no longer in the suite are dropped. Returns the new baseline
    and the ids added, changed and dropped.
    """
    known = set(suite_keys)
    items = dict(old.items) if old else {}
    dropped = sorted(i for i in items if i not in known)
    for item_id in dropped:
        del items[item_id]
    added, changed = [], []
    for item_id, score in scores.items():
        entry = _rounded(score.entry())
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
