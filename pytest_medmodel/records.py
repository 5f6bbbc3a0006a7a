"""The typed per-item result, and how one item's outcome is judged against its baseline entry.

An :class:`ItemScore` is what flows from an item test to everything downstream:
the reporting process (as plain JSON on the test report), baselines, metrics,
gates and the run summary. It is keyed by (item id, variant) and always speaks
of answers as indices into the item's ORIGINAL choice order, so a variant that
shuffles the options is compared on content, not position.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .suite.types import variant_key

INVALID = "(invalid)"
"""How an answer that could not be scored or extracted is shown."""
DIGITS = 4
"""Confidences are rounded to this many decimals in baselines."""
TEXT_LIMIT = 200
"""Generated text is kept in baselines up to this many characters (then ``…``)."""


def clipped(text: str) -> str:
    """Generated text as a baseline keeps it."""
    return text if len(text) <= TEXT_LIMIT else text[:TEXT_LIMIT] + "…"


@dataclass(frozen=True)
class ItemScore:
    """What the model answered for one variant of one item, and how sure it was."""

    item_id: str
    variant: str
    """``""`` for the original item, else the perturbation's label."""
    answer: int | None
    """Index into the item's ORIGINAL choices; None when invalid, or an option a perturbation added."""
    correct: bool
    shown: str
    """The answer as the prompt showed it: a label (``C``), a word (``yes``), or :data:`INVALID`."""
    key: str
    """The correct answer as the prompt showed it."""
    content_hash: str
    """Hash of the presented question, so a changed item is never compared with its old entry."""
    probs: tuple[float, ...] | None = None
    """Probability of each ORIGINAL choice (options a perturbation added follow, in presented order);
    None when the scoring has no distribution (generation) or the answer is invalid."""
    confidence: float | None = None
    """Probability of the answer the scoring picked."""
    near_tie: bool = False
    """The top two scores were so close that float noise could flip the answer."""
    text: str | None = None
    """Generated text, for scorers that generate."""
    values: Mapping[str, bool | float] = field(default_factory=dict)
    """Scorer-specific per-item values kept in the baseline (``acc``, ``acc_norm``)."""
    diagnostics: Mapping[str, float] = field(default_factory=dict)
    """Per-item values for reports only, never in baselines (``option_mass``)."""

    @property
    def item_key(self) -> str:
        return variant_key(self.item_id, self.variant)

    @property
    def invalid(self) -> bool:
        return self.shown == INVALID

    def entry(self) -> dict[str, Any]:
        """The baseline entry (format ``pytest-medmodel/baseline-v1``)."""
        record: dict[str, Any] = {
            "answer": self.shown,
            "correct": self.correct,
            "confidence": None if self.confidence is None else round(self.confidence, DIGITS),
            "hash": self.content_hash,
        }
        if self.near_tie:
            record["tie"] = True
        if self.variant:  # the option chosen, as an index into the ORIGINAL choices: consistency is by content
            record["choice"] = self.answer
        if self.probs is not None:  # what calibration and the probability evidence of the gates compare with
            record["probs"] = [round(float(p), DIGITS) for p in self.probs]
        if self.text is not None:  # what a reviewer reads in the diff of a generation suite's baseline
            record["text"] = clipped(self.text)
        record.update(self.values)
        return record

    def to_json(self) -> dict[str, Any]:
        """Lossless plain data (travels on test reports between xdist processes)."""
        data = dict(self.__dict__)
        data["probs"] = None if self.probs is None else list(self.probs)
        data["values"] = dict(self.values)
        data["diagnostics"] = dict(self.diagnostics)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ItemScore:
        fields = dict(data)
        if fields.get("probs") is not None:
            fields["probs"] = tuple(fields["probs"])
        return cls(**fields)


@dataclass(frozen=True)
class BaselineEntry:
    """One committed baseline line, read back (old files included)."""

    shown: str
    correct: bool
    content_hash: str
    confidence: float | None = None
    near_tie: bool = False
    values: Mapping[str, Any] = field(default_factory=dict)
    probs: tuple[float, ...] | None = None
    """Probability of each original choice (added options follow); None in files recorded before
    they were kept, or for scorings without a distribution."""
    text: str | None = None
    """The generated text (clipped to :data:`TEXT_LIMIT`), for generation scoring."""

    def describes(self, score: ItemScore) -> bool:
        """Whether this entry is of the same question as ``score`` (content unchanged since it was recorded).

        An item whose text, options or key changed is a different question; comparing
        its answer with the old one would call a changed question a regression.
        """
        return self.content_hash == score.content_hash

    @classmethod
    def from_json(cls, data: Any) -> BaselineEntry:
        """Read one entry, checking every type: ``"correct": "false"`` must not count as correct.

        Raises:
            ValueError: what is wrong with the entry, as a phrase (the caller names file and item).
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"is {type(data).__name__}, not an object")
        missing = sorted({"answer", "correct", "hash"} - data.keys())
        if missing:
            raise ValueError(f"lacks {', '.join(missing)}")
        _expect(data, "answer", str, "text")
        _expect(data, "hash", str, "text")
        _expect(data, "correct", bool, "true or false")
        _expect(data, "tie", bool, "true or false")
        _expect(data, "text", str, "text")
        confidence = data.get("confidence")
        if confidence is not None and (isinstance(confidence, bool) or not isinstance(confidence, (int, float))):
            raise ValueError(f"'confidence' is {confidence!r}, not a number")
        if confidence is not None and not 0.0 <= confidence <= 1.0:
            raise ValueError(f"'confidence' is {confidence}, outside [0, 1]")
        probs = _probs(data.get("probs"))
        known = ("answer", "correct", "hash", "confidence", "tie", "probs", "text")
        extra = {k: v for k, v in data.items() if k not in known}
        for key, value in extra.items():
            if not isinstance(value, (bool, int, float, str)) and value is not None:
                raise ValueError(f"'{key}' is {type(value).__name__}, not a plain value")
        return cls(
            shown=data["answer"],
            correct=data["correct"],
            content_hash=data["hash"],
            confidence=None if confidence is None else float(confidence),
            near_tie=bool(data.get("tie", False)),
            values=extra,
            probs=probs,
            text=data.get("text"),
        )


def _probs(value: Any) -> tuple[float, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value:
        raise ValueError(f"'probs' is {value!r}, not a list of probabilities")
    for p in value:
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
            raise ValueError(f"'probs' holds {p!r}, not a probability")
    return tuple(float(p) for p in value)


def _expect(data: Mapping[str, Any], key: str, kind: type, described: str) -> None:
    if key in data and not isinstance(data[key], kind):
        raise ValueError(f"'{key}' is {data[key]!r}, not {described}")


OutcomeKind = Literal["passed", "improved", "known_miss", "new_miss", "regressed"]


@dataclass(frozen=True)
class Outcome:
    """How one item test ends, judged against its baseline entry."""

    kind: OutcomeKind
    message: str = ""


def judge(score: ItemScore, then: BaselineEntry | None) -> Outcome:
    """Correct: passed (or improved); wrong: a known miss, a new miss, or a regression.

    ``then`` is the baseline entry; pass None when there is none or the item's
    content changed since it was recorded.
    """
    tie = " (near tie)" if score.near_tie else ""
    if score.correct:
        return Outcome("improved") if then is not None and not then.correct else Outcome("passed")
    if then is None:
        return Outcome("new_miss", f"wrong: answered {score.shown}, key {score.key}{tie}; no baseline entry")
    if not then.correct:
        return Outcome("known_miss", f"known miss: answered {score.shown}, key {score.key}{tie}")
    message = f"regressed: answered {score.shown} (key {score.key}{tie}); the baseline answered {then.shown}, correctly"
    return Outcome("regressed", message)


def scores_digest(scores: Mapping[str, ItemScore]) -> str:
    """A digest of a suite's scores, exact to every figure: equal digests, equal comparisons and summaries."""
    text = json.dumps([[key, scores[key].to_json()] for key in sorted(scores)], sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
