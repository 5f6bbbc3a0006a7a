"""What the reporting process knows about a suite: one typed value per suite, and the one way to summarise it.

The reporting process (the serial process, or the xdist controller) never loads
a suite file: every test process sends it a :class:`SuiteFacts` per suite it ran
(through xdist's ``workeroutput`` as plain data, rebuilt here with
:meth:`SuiteFacts.from_json`). The same value pairs scores with a baseline
(:attr:`SuiteFacts.pairing`, so the gates, the controller and the public API
cannot drift apart) and builds a suite's summary row (:func:`suite_row`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..baselines.format import Baseline
from ..gates.comparison import Pairing
from ..gates.family import first_level
from ..metrics.base import METRICS, compute
from ..metrics.probes import Probes
from ..perturb.base import PERTURBATIONS
from ..perturb.robustness import family_of
from ..records import ItemScore
from ..scoring.fallback import fallback_note
from ..stats.paired import PairedStats
from ..stats.power import cluster_design_effect
from ..suite.types import ORIGINAL, Suite
from .summary import GateVerdict, ModelSummary, SuiteSummary, summary_metrics


@dataclass(frozen=True)
class SuiteFacts:
    """Everything about a suite that its summary, its baseline update and the after-run tasks need."""

    name: str
    fingerprint: str
    keys: tuple[str, ...]
    """Every key the suite defines now, beyond ``--medmodel-limit`` (baseline entries of other keys are stale)."""
    scoring: str
    metrics: tuple[str, ...]
    """The metrics its summary lines show (:func:`~.summary.summary_metrics`)."""
    chance: Mapping[str, float] = field(default_factory=dict)
    answers: Mapping[str, int] = field(default_factory=dict)
    clusters: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    perturbations: tuple[str, ...] = ()
    """Each perturbation's label."""
    ablations: tuple[str, ...] = ()
    """The labels of those that take the image away (their gap to the original is image reliance)."""
    probes: Probes = field(default_factory=dict)
    search: tuple[int, int] | None = None
    """The suite's own ``search:`` key (candidates, items), if it has one."""
    accuracy_gate: Mapping[str, Any] = field(default_factory=dict)
    """The accuracy gate's settings and the level it is tested at (for the ``detects`` figure)."""
    ece_bins: int | None = None
    fallback: str | None = None
    """One line when the suite was scored by generation because the model cannot score letters."""
    chat: str | None = None
    """What the model's chat template did, for a suite that asks for it (``chat_template: auto``)."""
    model: ModelSummary | None = None
    """The model that answered this suite when it is not the run's (its model for images)."""

    @classmethod
    def of(
        cls, suite: Suite, keys: Sequence[str], chat: str | None = None, model: ModelSummary | None = None
    ) -> SuiteFacts:
        ece = next((g for g in suite.gates if g.registered == "ece"), None)
        return cls(
            name=suite.name,
            fingerprint=suite.fingerprint,
            keys=tuple(keys),
            scoring=suite.scoring.method,
            metrics=tuple(summary_metrics(suite)),
            chance=suite.chance_by_item(),
            answers=suite.answers_by_item(),
            clusters=suite.cluster_by_item(),
            tags={item: tuple(tags) for item, tags in suite.tags_by_item().items()},
            perturbations=tuple(p.label for p in suite.perturbations),
            ablations=tuple(p.label for p in suite.perturbations if PERTURBATIONS.get(p.name).ablation),
            probes=suite.probes(),
            search=suite.search,
            accuracy_gate={**suite.gate("accuracy").settings, "level": first_level(suite)},
            ece_bins=int(ece.settings["bins"]) if ece is not None else None,
            fallback=fallback_note(suite),
            chat=chat if suite.prompt.chat_template == "auto" else None,
            model=model,
        )

    @property
    def pairing(self) -> Pairing:
        return Pairing(self.name, self.fingerprint, self.keys, self.chance, self.answers, self.clusters)

    def to_json(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        for name in ("chance", "answers", "clusters", "probes", "accuracy_gate"):
            data[name] = dict(data[name])
        data["keys"], data["metrics"], data["perturbations"], data["ablations"] = (
            list(self.keys),
            list(self.metrics),
            list(self.perturbations),
            list(self.ablations),
        )
        data["tags"] = {item: list(tags) for item, tags in self.tags.items()}
        data["search"] = list(self.search) if self.search is not None else None
        data["model"] = self.model.to_json() if self.model is not None else None
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SuiteFacts:
        search = data.get("search")
        return cls(
            name=str(data["name"]),
            fingerprint=str(data["fingerprint"]),
            keys=tuple(data["keys"]),
            scoring=str(data["scoring"]),
            metrics=tuple(data["metrics"]),
            chance=dict(data.get("chance") or {}),
            answers=dict(data.get("answers") or {}),
            clusters=dict(data.get("clusters") or {}),
            tags={str(item): tuple(tags) for item, tags in (data.get("tags") or {}).items()},
            perturbations=tuple(data.get("perturbations") or ()),
            ablations=tuple(data.get("ablations") or ()),
            probes=dict(data.get("probes") or {}),
            search=(int(search[0]), int(search[1])) if search else None,
            accuracy_gate=dict(data.get("accuracy_gate") or {}),
            ece_bins=data.get("ece_bins"),
            fallback=data.get("fallback"),
            chat=data.get("chat"),
            model=ModelSummary(**data["model"]) if data.get("model") else None,
        )


def suite_row(
    key: str,
    facts: SuiteFacts,
    stats: PairedStats,
    scores: Mapping[str, ItemScore],
    baseline: Baseline | None,
    verdicts: Iterable[GateVerdict] = (),
) -> SuiteSummary:
    """A suite's summary row: metrics, accuracy per tag, perturbations, probe groups, calibration, power."""
    originals = [s for s in scores.values() if s.variant == ORIGINAL]
    names = [m for m in facts.metrics if m in METRICS]  # a metric this process cannot compute is named elsewhere
    row = SuiteSummary(key, facts.name, stats, compute(originals, names), list(verdicts))
    row.with_details(scores.values(), facts.tags, facts.perturbations, facts.chance, facts.probes)
    row.calibration = _calibration(facts, scores, baseline)
    for family in row.robustness:
        family["ablation"] = family["family"] in facts.ablations
        then = _baseline_accuracy(scores, baseline, family["family"], facts.perturbations)
        family["baseline_accuracy"], family["baseline_original_accuracy"] = then
    row.answered_by = facts.model
    clustered = cluster_design_effect([s.item_id for s in originals], facts.pairing.clusters)
    return row.with_power(facts.accuracy_gate, clustered)


def _baseline_accuracy(
    scores: Mapping[str, ItemScore], baseline: Baseline | None, family: str, labels: Sequence[str]
) -> tuple[float | None, float | None]:
    """The baseline's accuracy under one perturbation and on the same items' originals, over the items whose
    original and variants it has unchanged (an item is right under the perturbation when every variant of
    the family is, as in :func:`~pytest_medmodel.perturb.robustness.family_stats`)."""
    if baseline is None:
        return None, None
    right: dict[str, bool] = {}
    unpaired: set[str] = set()
    for score in scores.values():
        if family_of(score.variant, labels) != family:
            continue
        entry = baseline.paired_entry(score)
        if entry is None:
            unpaired.add(score.item_id)
        right[score.item_id] = right.get(score.item_id, True) and entry is not None and entry.correct
    originals = {s.item_id: baseline.paired_entry(s) for s in scores.values() if s.variant == ORIGINAL}
    paired = [(item, ok) for item, ok in right.items() if item not in unpaired and originals.get(item) is not None]
    if not paired:
        return None, None
    before = sum(bool(entry.correct) for item, _ in paired if (entry := originals[item]) is not None)
    return sum(ok for _, ok in paired) / len(paired), before / len(paired)


def _calibration(facts: SuiteFacts, scores: Mapping[str, ItemScore], baseline: Baseline | None) -> Any:
    from ..calibration.summary import calibration_summary  # numpy: only once items were scored

    return calibration_summary(facts.name, facts.answers, scores, baseline, facts.ece_bins)
