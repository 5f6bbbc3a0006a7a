"""Gates: current predictions against the baseline, decided like a reviewer would.

A comparison is *paired*: only items present in both the current run and the
baseline (with unchanged content) count, so ``-k`` and ``--medmodel-limit`` runs
compare like with like. The accuracy gate fails only when the drop is both
large (more than ``max_drop``) and real (one-sided exact McNemar p < ``alpha``);
either alone is noise or a rounding error, not a regression.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .baseline import Baseline
from .stats import mcnemar_one_sided, wilson_interval
from .suite import AccuracyGate

WORST_SHOWN = 8


@dataclass
class Comparison:
    """Current run versus baseline for one suite (plain data; travels between xdist processes)."""

    suite: str
    profile: str
    n: int
    """Items evaluated in this run."""
    correct: int
    has_baseline: bool
    paired: int = 0
    baseline_correct: int = 0
    """Correct in the baseline, among paired items."""
    current_correct: int = 0
    """Correct now, among paired items."""
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

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.n if self.n else None

    @property
    def baseline_accuracy(self) -> float | None:
        return self.baseline_correct / self.paired if self.paired else None

    @property
    def paired_accuracy(self) -> float | None:
        return self.current_correct / self.paired if self.paired else None

    @property
    def delta(self) -> float | None:
        if not self.paired:
            return None
        return (self.current_correct - self.baseline_correct) / self.paired

    @property
    def p_value(self) -> float:
        return mcnemar_one_sided(len(self.regressed), len(self.improved))

    def to_json(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["regressed"] = [list(r) for r in self.regressed]
        data["improved"] = [list(r) for r in self.improved]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Comparison:
        data = dict(data)
        data["regressed"] = [tuple(r) for r in data.get("regressed", [])]
        data["improved"] = [tuple(r) for r in data.get("improved", [])]
        return cls(**data)


def compare(
    *,
    suite: str,
    profile: str,
    records: Mapping[str, Mapping[str, Any]],
    baseline: Baseline | None,
    suite_ids: Sequence[str],
    model_fingerprint: str | None,
    suite_fingerprint: str,
) -> Comparison:
    """Pair this run's item records with the baseline's."""
    comparison = Comparison(
        suite=suite,
        profile=profile,
        n=len(records),
        correct=sum(1 for r in records.values() if r["correct"]),
        has_baseline=baseline is not None,
    )
    if baseline is None:
        comparison.new = sorted(records)
        return comparison
    known = set(suite_ids)
    comparison.stale = sorted(i for i in baseline.items if i not in known)
    for item_id in sorted(records):
        now = records[item_id]
        then = baseline.items.get(item_id)
        if then is None:
            comparison.new.append(item_id)
            continue
        if then.get("hash") != now.get("hash"):
            comparison.changed.append(item_id)
            continue
        comparison.paired += 1
        comparison.baseline_correct += bool(then["correct"])
        comparison.current_correct += bool(now["correct"])
        if then["correct"] and not now["correct"]:
            comparison.regressed.append((item_id, str(then["answer"]), str(now["answer"])))
        elif now["correct"] and not then["correct"]:
            comparison.improved.append((item_id, str(then["answer"]), str(now["answer"])))
    if baseline.model_fingerprint != model_fingerprint:
        comparison.warnings.append(
            f"model fingerprint differs from the baseline's ({_short(baseline.model_fingerprint)} recorded by "
            f"{baseline.model_name or 'unknown'}, now {_short(model_fingerprint)}): comparing a different model or precision"
        )
    if baseline.suite_fingerprint != suite_fingerprint:
        comparison.warnings.append(
            "suite fingerprint differs from the baseline's (prompt, scoring or items changed since it was recorded)"
        )
    if comparison.changed:
        comparison.warnings.append(f"{len(comparison.changed)} item(s) changed since the baseline and were not compared: {_ids(comparison.changed)}")
    if comparison.stale:
        comparison.warnings.append(f"{len(comparison.stale)} stale baseline entr{'y' if len(comparison.stale) == 1 else 'ies'} (item no longer in the suite; dropped on --snapshot-update): {_ids(comparison.stale)}")
    return comparison


@dataclass(frozen=True)
class GateResult:
    gate: str
    status: str
    """``passed``, ``failed`` or ``skipped``."""
    message: str


def accuracy_gate(comparison: Comparison, gate: AccuracyGate, baseline_location: str) -> GateResult:
    """Decide the accuracy gate; the message reads like a review comment."""
    c = comparison
    lines: list[str] = []
    failed = False
    if gate.min_accuracy is not None and c.n:
        low, high = wilson_interval(c.correct, c.n)
        if c.accuracy is not None and c.accuracy < gate.min_accuracy:
            failed = True
            lines.append(f"accuracy {_pct(c.accuracy)} [{_pct(low)}, {_pct(high)}] on {c.n} items is below the floor min_accuracy {_pct(gate.min_accuracy)}")
    if not c.has_baseline:
        if failed:
            return GateResult("accuracy", "failed", "\n".join(lines))
        return GateResult(
            "accuracy",
            "failed",
            f"no baseline for suite {c.suite} (profile {c.profile}) at {baseline_location}; "
            "record one with --snapshot-update and commit it",
        )
    if not c.paired:
        if failed:
            return GateResult("accuracy", "failed", "\n".join(lines + c.warnings))
        return GateResult("accuracy", "skipped", f"no items in common with the baseline at {baseline_location} ({len(c.new)} new, {len(c.changed)} changed)")
    drop = -(c.delta or 0.0)
    p = c.p_value
    significant = p < gate.alpha
    dropped = drop > gate.max_drop + 1e-12
    b_low, b_high = wilson_interval(c.baseline_correct, c.paired)
    n_low, n_high = wilson_interval(c.current_correct, c.paired)
    verdict = "significant" if significant else "not significant"
    headline = (
        f"accuracy on {c.paired} paired items: baseline {_pct(c.baseline_accuracy)} [{_pct(b_low)}, {_pct(b_high)}] -> "
        f"current {_pct(c.paired_accuracy)} [{_pct(n_low)}, {_pct(n_high)}] (95% Wilson), "
        f"{_signed_points(c.delta)} (max_drop {gate.max_drop * 100:.1f} points)"
    )
    stats_line = (
        f"regressed {len(c.regressed)}, improved {len(c.improved)}; one-sided exact McNemar p = {_p(p)} "
        f"(alpha {gate.alpha:g}): {verdict}"
    )
    if dropped and significant:
        failed = True
        lines.insert(0, f"accuracy dropped on suite {c.suite} (profile {c.profile})")
    lines += [headline, stats_line]
    if c.regressed:
        shown = ", ".join(f"{i} {a}->{b}" for i, a, b in c.regressed[:WORST_SHOWN])
        more = f" (+{len(c.regressed) - WORST_SHOWN} more)" if len(c.regressed) > WORST_SHOWN else ""
        lines.append(f"regressed items (baseline->current answer): {shown}{more}")
    lines += c.warnings
    return GateResult("accuracy", "failed" if failed else "passed", "\n".join(lines))


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def _signed_points(delta: float | None) -> str:
    return "n/a" if delta is None else f"{delta * 100:+.1f} points"


def _p(p: float) -> str:
    return f"{p:.4f}" if p >= 1e-4 else f"{p:.1e}"


def _short(fingerprint: str | None) -> str:
    return "none" if not fingerprint else fingerprint


def _ids(ids: Sequence[str]) -> str:
    shown = ", ".join(ids[:WORST_SHOWN])
    return shown + (f" (+{len(ids) - WORST_SHOWN} more)" if len(ids) > WORST_SHOWN else "")
