"""Pairing a run's item scores with the baseline's entries, the evidence every gate reads.

A comparison is *paired*: only items present in both the current run and the
baseline (with unchanged content) count, so ``-k`` and ``--medmodel-limit`` runs
compare like with like.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ..baselines.format import Baseline
from ..records import DIGITS, BaselineEntry, ItemScore
from ..stats.paired import PairedStats
from ..stats.significance import bounded_mean_above_p, sign_flip_upper_tail
from ..suite.types import ORIGINAL, Suite, split_key

SHOWN = 8
"""How many item ids a message lists before "(+N more)"."""


@dataclass
class Comparison:
    """Current run versus baseline for one suite and one variant (the original by default)."""

    suite: str
    profile: str
    n: int
    correct: int
    has_baseline: bool
    paired: int = 0
    baseline_correct: int = 0
    current_correct: int = 0
    regressed: list[tuple[str, str, str]] = field(default_factory=list)
    """(item id, baseline answer, current answer) for items that were right and are now wrong."""
    improved: list[tuple[str, str, str]] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    """Evaluated items with no baseline entry."""
    changed: list[str] = field(default_factory=list)
    """Evaluated items whose content changed since the baseline was recorded (not compared)."""
    stale: list[str] = field(default_factory=list)
    """Baseline entries whose items are no longer in the suite."""
    warnings: list[str] = field(default_factory=list)
    chance: float | None = None
    answer_changes: list[tuple[str, str, str]] = field(default_factory=list)
    """(item id, baseline answer, current answer) for paired items whose chosen answer changed."""
    right_probs: list[tuple[float, float]] = field(default_factory=list)
    """(baseline, current) probability of the right answer, for paired items with vectors in both
    (filled when ``compare`` is given the answer key)."""
    right_prob_items: list[str] = field(default_factory=list)
    """The item id of each entry of ``right_probs``."""
    paired_items: list[str] = field(default_factory=list)
    clusters: Mapping[str, str] = field(default_factory=dict)
    """Item id -> cluster (items that succeed and fail together); an item missing here is alone."""

    def cluster(self, item_id: str) -> str:
        return self.clusters.get(item_id, f"item:{item_id}")

    def cluster_differences(self) -> list[int]:
        """Regressions minus improvements per cluster of paired items (the unit of the paired tests)."""
        lost = [self.cluster(split_key(key)[0]) for key, *_ in self.regressed]
        gained = [self.cluster(split_key(key)[0]) for key, *_ in self.improved]
        return cluster_totals(lost, gained)

    def cluster_means(self, values: Mapping[str, float]) -> list[float]:
        """The mean of a per-item value over each cluster (the units a bounded-mean test may treat as independent)."""
        return cluster_means(values, {i: self.cluster(i) for i in values})

    @property
    def clustered(self) -> bool:
        """Some cluster holds more than one paired item."""
        units = [self.cluster(i) for i in self.paired_items]
        return len(set(units)) < len(units)

    def stats(self) -> PairedStats:
        return PairedStats(
            n=self.n,
            correct=self.correct,
            has_baseline=self.has_baseline,
            paired=self.paired,
            baseline_correct=self.baseline_correct,
            current_correct=self.current_correct,
            regressed=len(self.regressed),
            improved=len(self.improved),
            warnings=tuple(self.warnings),
            chance=self.chance,
            regressed_ids=tuple(f"{i} {a}->{b}" for i, a, b in self.regressed[:SHOWN]),
            improved_ids=tuple(f"{i} {a}->{b}" for i, a, b in self.improved[:SHOWN]),
            cluster_p=sign_flip_upper_tail(self.cluster_differences()) if self.clustered else None,
        )


@dataclass(frozen=True)
class Pairing:
    """What pairing a suite's scores with its baseline needs to know about the suite, in whichever process.

    Built from a loaded suite (:meth:`of`) or from what a test process sent
    (:attr:`pytest_medmodel.report.facts.SuiteFacts.pairing`): one value, so the gates,
    the run summary and the public API pair the same way.
    """

    suite: str
    fingerprint: str
    keys: Sequence[str]
    """Every key the suite defines now (baseline entries of other keys are stale)."""
    chance: Mapping[str, float] = field(default_factory=dict)
    """Each item's chance of a random answer being right, by item id."""
    answers: Mapping[str, int] = field(default_factory=dict)
    """Each item's key (index into its original choices), to pair the probabilities of the right answer."""
    clusters: Mapping[str, str] = field(default_factory=dict)
    """Each item's cluster (:meth:`~pytest_medmodel.suite.types.Suite.cluster_by_item`)."""

    @classmethod
    def of(cls, suite: Suite, keys: Sequence[str]) -> Pairing:
        return cls(
            suite.name,
            suite.fingerprint,
            tuple(keys),
            suite.chance_by_item(),
            suite.answers_by_item(),
            suite.cluster_by_item(),
        )


def compare(
    pairing: Pairing,
    *,
    profile: str,
    scores: Mapping[str, ItemScore],
    baseline: Baseline | None,
    model_fingerprint: str | None,
    variant: str = ORIGINAL,
) -> Comparison:
    """Pair this run's scores of one variant with the baseline's entries."""
    mine = {key: s for key, s in scores.items() if s.variant == variant}
    c = Comparison(
        suite=pairing.suite,
        profile=profile,
        n=len(mine),
        correct=sum(1 for s in mine.values() if s.correct),
        has_baseline=baseline is not None,
        clusters=dict(pairing.clusters),
    )
    if baseline is None:
        c.new = sorted(mine)
        c.chance = _mean_chance(pairing.chance, [s.item_id for s in mine.values()])
        return c
    known = set(pairing.keys)
    c.stale = sorted(k for k in baseline.items if k not in known)
    for key in sorted(mine):
        now = mine[key]
        then = baseline.entry(key)
        if then is None:
            c.new.append(key)
        elif not then.describes(now):
            c.changed.append(key)
        else:
            _pair(c, key, now, then)
            c.paired_items.append(now.item_id)
            answer = pairing.answers.get(now.item_id)
            if answer is not None and now.probs is not None and then.probs is not None:
                # Rounded as the baseline stores it: an unchanged model pairs exactly equal.
                c.right_probs.append((then.probs[answer], round(now.probs[answer], DIGITS)))
                c.right_prob_items.append(now.item_id)
    c.warnings.extend(_warnings(c, baseline, model_fingerprint, pairing.fingerprint))
    unpaired = set(c.new) | set(c.changed)
    paired = [mine[k].item_id for k in sorted(mine) if k not in unpaired]
    c.chance = _mean_chance(pairing.chance, paired or [s.item_id for s in mine.values()])
    return c


def _mean_chance(chance: Mapping[str, float] | None, item_ids: Sequence[str]) -> float | None:
    values = [chance[i] for i in item_ids if chance and i in chance]
    return sum(values) / len(values) if values and len(values) == len(item_ids) else None


def _pair(c: Comparison, key: str, now: ItemScore, then: BaselineEntry) -> None:
    c.paired += 1
    if then.shown != now.shown:
        c.answer_changes.append((key, then.shown, now.shown))
    c.baseline_correct += then.correct
    c.current_correct += now.correct
    if then.correct and not now.correct:
        c.regressed.append((key, then.shown, now.shown))
    elif now.correct and not then.correct:
        c.improved.append((key, then.shown, now.shown))


def _warnings(c: Comparison, baseline: Baseline, model_fingerprint: str | None, suite_fingerprint: str) -> list[str]:
    out = []
    mutated_from = (baseline.model_fingerprint or "") + "|mutate:"
    if baseline.model_fingerprint and (model_fingerprint or "").startswith(mutated_from):
        mutation = (model_fingerprint or "")[len(mutated_from) :]
        out.append(f"the model is the baseline's model with a mutation ({mutation}): every change is the mutation's")
    elif baseline.model_fingerprint != model_fingerprint:
        out.append(
            f"model fingerprint differs from the baseline's ({baseline.model_fingerprint or 'none'} recorded by "
            f"{baseline.model_name or 'unknown'}, now {model_fingerprint or 'none'}): "
            "comparing a different model or precision"
        )
    if baseline.suite_fingerprint != suite_fingerprint:
        out.append(
            "suite fingerprint differs from the baseline's (prompt, scoring or items changed since it was recorded)"
        )
    if c.changed:
        out.append(f"{len(c.changed)} item(s) changed since the baseline and were not compared: {list_ids(c.changed)}")
    if c.stale:
        entries = "entry" if len(c.stale) == 1 else "entries"
        out.append(
            f"{len(c.stale)} stale baseline {entries} (item no longer in the suite; dropped on --snapshot-update): "
            f"{list_ids(c.stale)}"
        )
    return out


def list_ids(ids: Sequence[str]) -> str:
    shown = ", ".join(ids[:SHOWN])
    return shown + (f" (+{len(ids) - SHOWN} more)" if len(ids) > SHOWN else "")


@dataclass(frozen=True)
class PairedFlips:
    """A yes/no outcome per unit (item or group), now against the baseline, on the units both have."""

    paired: list[str]
    lost: list[str]
    """Units where the outcome held in the baseline and fails now."""
    gained: list[str]
    before: float
    after: float
    p_value: float
    """One-sided exact p that the share went down: McNemar, or its cluster version (sign flips of
    each cluster's lost minus gained) when units share a cluster."""
    clusters: Mapping[str, str] = field(default_factory=dict)

    def differences(self) -> dict[str, float]:
        """Per unit: 1 lost, -1 gained, 0 unchanged."""
        lost, gained = set(self.lost), set(self.gained)
        return {u: 1.0 if u in lost else -1.0 if u in gained else 0.0 for u in self.paired}

    def test(self, max_drop: float, tolerance: str) -> tuple[float, bool, str]:
        """(p-value, observed drop beyond ``max_drop``, what was tested) for the tolerance mode."""
        large = self.before - self.after > max_drop + 1e-12
        if tolerance != "margin":
            return self.p_value, large, "one-sided exact McNemar" + (" over clusters" if self._clustered else "")
        units = cluster_means(self.differences(), self.clusters)
        return bounded_mean_above_p(units, max_drop), large, f"betting test that the drop exceeds {max_drop:g}"

    @property
    def _clustered(self) -> bool:
        units = [self.clusters.get(u, u) for u in self.paired]
        return len(set(units)) < len(units)

    def describe(self, what: str, unit: str, max_drop: float, tolerance: str = "point") -> list[str]:
        """The comparison in a gate message: the shares, the flips, the test, and the first units lost."""
        p, _, test = self.test(max_drop, tolerance)
        lines = [
            f"{what} on {len(self.paired)} paired {unit}: baseline {self.before:.1%} -> current {self.after:.1%}, "
            f"{(self.after - self.before) * 100:+.1f} points (max_drop {max_drop * 100:.1f}); {len(self.lost)} lost, "
            f"{len(self.gained)} gained; {test} p = {p:.4g}"
        ]
        if self.lost:
            more = f" (+{len(self.lost) - SHOWN} more)" if len(self.lost) > SHOWN else ""
            lines.append(f"{unit} that lost it: {', '.join(self.lost[:SHOWN])}{more}")
        return lines

    def numbers(self) -> dict[str, float | int]:
        """The figures a gate reports as JUnit properties."""
        return {
            "paired": len(self.paired),
            "baseline": round(self.before, 4),
            "current": round(self.after, 4),
            "lost": len(self.lost),
            "gained": len(self.gained),
        }


def cluster_means(values: Mapping[str, float], clusters: Mapping[str, str]) -> list[float]:
    """The mean of a per-unit value over each cluster (a unit missing from ``clusters`` is its own)."""
    sums: dict[str, list[float]] = {}
    for unit, value in values.items():
        sums.setdefault(clusters.get(unit, unit), []).append(value)
    return [sum(v) / len(v) for v in sums.values()]


def paired_flips(
    now: Mapping[str, bool], then: Mapping[str, bool], clusters: Mapping[str, str] | None = None
) -> PairedFlips | None:
    """Pair two outcome maps (None when they share no unit); ``clusters``: unit -> cluster."""
    paired = sorted(set(now) & set(then))
    if not paired:
        return None
    lost = [u for u in paired if then[u] and not now[u]]
    gained = [u for u in paired if now[u] and not then[u]]
    before = sum(then[u] for u in paired) / len(paired)
    after = sum(now[u] for u in paired) / len(paired)
    clusters = dict(clusters or {})
    differences = cluster_totals([clusters.get(u, u) for u in lost], [clusters.get(u, u) for u in gained])
    return PairedFlips(paired, lost, gained, before, after, sign_flip_upper_tail(differences), clusters)


def cluster_totals(lost: Sequence[str], gained: Sequence[str]) -> list[int]:
    """Per cluster, units lost minus units gained (``lost``/``gained``: the cluster of each such unit)."""
    totals: dict[str, int] = {}
    for unit in lost:
        totals[unit] = totals.get(unit, 0) + 1
    for unit in gained:
        totals[unit] = totals.get(unit, 0) - 1
    return list(totals.values())
