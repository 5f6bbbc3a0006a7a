"""The run summary: everything a report shows, as plain serialisable data.

The terminal summary (and every report format after it) reads only this object,
never the plugin's internals, so a report can be rendered from a JSON file as
well as from a live run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..execution.run_stats import RunStats
from ..metrics.base import METRICS
from ..metrics.probes import Probes, group_stats
from ..models.handle import ModelHandle
from ..perturb.robustness import family_stats
from ..records import ItemScore
from ..scoring.base import SCORERS
from ..stats.paired import PairedStats
from ..stats.power import gate_sensitivity
from ..suite.types import ORIGINAL, Suite


def summary_metrics(suite: Suite) -> list[str]:
    """The metrics a suite's summary shows: its scorer's, the option-mass diagnostic, and the project's own.

    Option mass says whether the model answers in the scored form, which only means
    something when the scored continuations are labels or fixed words; free option
    texts (a cloze suite) always hold little of the probability. A metric a project
    or an installed pack registered is shown for every suite it applies to (its
    function returns None for the others).
    """
    scorer = SCORERS.get(suite.scoring.method)
    free_text = not scorer.lists_choices and not suite.fixed_choices
    shown = [*scorer.metrics, *(() if free_text else ("option_mass",))]
    return shown + [m.name for m in METRICS if not METRICS.is_builtin(m.name) and m.name not in shown]


def tag_accuracy(scores: Iterable[ItemScore], tags: Mapping[str, Sequence[str]]) -> dict[str, list[int]]:
    """``{tag: [correct, n]}`` over original items, tags in first-seen order (empty when no item has tags)."""
    out: dict[str, list[int]] = {}
    for score in scores:
        if score.variant != ORIGINAL:
            continue
        for tag in tags.get(score.item_id, ()):
            counts = out.setdefault(tag, [0, 0])
            counts[0] += int(score.correct)
            counts[1] += 1
    return out


@dataclass(frozen=True)
class GateVerdict:
    gate: str
    status: str
    """``passed``, ``failed``, ``skipped`` or ``accepted`` (a failure accepted by --snapshot-update)."""
    message: str = ""
    numbers: Mapping[str, Any] = field(default_factory=dict)
    """The gate's own figures (also its JUnit properties)."""

    def to_json(self) -> dict[str, Any]:
        return {"gate": self.gate, "status": self.status, "message": self.message, "numbers": dict(self.numbers)}


@dataclass
class SuiteSummary:
    """One suite's row: paired statistics against its baseline, metrics and gate verdicts."""

    key: str
    """The suite file's test id, e.g. ``suites/general_medicine.suite.yaml``."""
    name: str
    stats: PairedStats
    metrics: dict[str, Any] = field(default_factory=dict)
    """Suite metrics worth a line of their own (``acc``, ``acc_norm``, ``option_mass``)."""
    gates: list[GateVerdict] = field(default_factory=list)
    detectable_drop: float | None = None
    """Smallest true accuracy drop the accuracy gate catches with 80% power (None: none can be)."""
    blind: str | None = None
    """One line when the accuracy gate cannot do its job on this suite (see :mod:`pytest_medmodel.stats.power`)."""
    by_tag: dict[str, list[int]] = field(default_factory=dict)
    """``{tag: [correct, n]}`` in this run (original items)."""
    robustness: list[dict[str, Any]] = field(default_factory=list)
    """One :class:`~pytest_medmodel.perturb.robustness.FamilyStats` (as plain data) per perturbation."""
    groups: dict[str, Any] | None = None
    """:class:`~pytest_medmodel.metrics.probes.GroupStats` as plain data, for suites with probe groups."""
    calibration: dict[str, Any] | None = None
    """:func:`~pytest_medmodel.calibration.summary.calibration_summary`: None without probabilities."""
    answered_by: ModelSummary | None = None
    """The model that answered this suite when it is not the run's (its model for images)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "name": self.name,
            "stats": self.stats.to_json(),
            "metrics": dict(self.metrics),
            "gates": [g.to_json() for g in self.gates],
            "detectable_drop": self.detectable_drop,
            "blind": self.blind,
            "by_tag": {tag: list(counts) for tag, counts in self.by_tag.items()},
            "robustness": [dict(r) for r in self.robustness],
            "groups": self.groups,
            "calibration": self.calibration,
            "answered_by": self.answered_by.to_json() if self.answered_by else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SuiteSummary:
        return cls(
            key=str(data["key"]),
            name=str(data["name"]),
            stats=PairedStats.from_json(data["stats"]),
            metrics=dict(data.get("metrics", {})),
            gates=[GateVerdict(**g) for g in data.get("gates", [])],
            detectable_drop=data.get("detectable_drop"),
            blind=data.get("blind"),
            by_tag={str(tag): [int(c), int(n)] for tag, (c, n) in (data.get("by_tag") or {}).items()},
            robustness=[dict(r) for r in data.get("robustness") or []],
            groups=data.get("groups"),
            calibration=data.get("calibration"),
            answered_by=ModelSummary(**data["answered_by"]) if data.get("answered_by") else None,
        )

    def with_details(
        self,
        scores: Iterable[ItemScore],
        tags: Mapping[str, Sequence[str]],
        perturbations: Sequence[str],
        chance: Mapping[str, float],
        probes: Probes | None = None,
    ) -> SuiteSummary:
        """Fill in accuracy per tag, each perturbation's figures and probe-group figures from item scores."""
        scores = list(scores)
        self.by_tag = tag_accuracy(scores, tags)
        self.robustness = [f.to_json() for f in family_stats(scores, perturbations, chance)]
        stats = group_stats(scores, probes) if probes else None
        self.groups = None if stats is None else {**stats.to_json(), "below_chance": stats.below_chance}
        return self

    def with_power(self, accuracy_gate: Mapping[str, Any], design_effect: float = 1.0) -> SuiteSummary:
        """Fill in what the accuracy gate (with these settings) can detect on this suite (``design_effect``:
        how much its clusters inflate the variance, :func:`~pytest_medmodel.stats.power.cluster_design_effect`)."""
        sensitivity = gate_sensitivity(self.stats, accuracy_gate, design_effect)
        self.detectable_drop = sensitivity.retrained if sensitivity else None
        self.blind = sensitivity.blind if sensitivity else None
        return self


@dataclass
class ModelSummary:
    name: str
    fingerprint: str | None
    profile: str
    description: str

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def of(cls, handle: ModelHandle) -> ModelSummary:
        return cls(handle.name, handle.fingerprint, handle.profile, handle.describe())


@dataclass
class RunSummary:
    """What a run found and did."""

    suites: list[SuiteSummary] = field(default_factory=list)
    model: ModelSummary | None = None
    inference: RunStats = field(default_factory=RunStats)
    model_seconds: float = 0.0
    """Model load time (the slowest worker's)."""
    updates: list[str] = field(default_factory=list)
    """What ``--snapshot-update`` wrote, kept, or refused to write, one line each."""
    errors: list[str] = field(default_factory=list)
    """Tests that hit a model or data error."""

    def to_json(self) -> dict[str, Any]:
        return {
            "suites": [s.to_json() for s in self.suites],
            "model": self.model.to_json() if self.model else None,
            "inference": self.inference.to_json(),
            "model_seconds": round(self.model_seconds, 3),
            "updates": list(self.updates),
            "errors": list(self.errors),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunSummary:
        model = data.get("model")
        return cls(
            suites=[SuiteSummary.from_json(s) for s in data.get("suites", [])],
            model=ModelSummary(**model) if model else None,
            inference=RunStats.from_json(data.get("inference", {})),
            model_seconds=float(data.get("model_seconds", 0.0)),
            updates=list(data.get("updates", [])),
            errors=list(data.get("errors", [])),
        )
