"""The mutation report: which damaged copies of the model each suite's gates catch, and which they miss.

For each mutation a fresh copy of the model is loaded, damaged, and run
through every suite; each gate's verdict against the unmutated model's
baselines is a *catch* (the gate failed, as it should) or a *miss* (it passed a
broken model). A suite that misses a mutation a user cares about (an int4
export, a truncated checkpoint) needs more items, or items the model knows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..baselines.format import Baseline
from ..execution.evaluate import evaluate
from ..execution.runner import Runner
from ..gates.family import compare_with_baseline, run_gates
from ..models.base import AdapterError
from ..models.handle import ModelHandle
from ..stats.paired import PairedStats
from ..suite.types import Suite
from .base import MUTATIONS, checked, mutate_handle, parse_mutation

DEFAULT_MUTATIONS = (
    "noise:scale=0.02",
    "noise:scale=0.05",
    "noise:scale=0.1",
    "quantize:bits=8",
    "quantize:bits=4",
    "zero_heads:fraction=0.25",
    "drop_layers:count=1",
    "drop_layers:count=1,at=end",
    "no_chat_template",
    "vision_noise:scale=1",
    "vision_noise:scale=2",
    "zero_projector",
    "drop_images",
)
"""What ``--medmodel-mutation-report`` runs when given no list: mild to severe, every kind once.

The vision mutations run only where a suite has images (and a model takes them);
on the demo VLM, noise at half the weights' RMS did not move accuracy (+0.4 points
on modality_recognition), so the ladder starts at the RMS itself (-7.6 points)."""


@dataclass(frozen=True)
class MutationOutcome:
    """One gate of one suite against one mutation."""

    mutation: str
    suite: str
    gate: str
    verdict: str
    """``caught`` (the gate failed), ``missed`` (it passed), ``unchanged`` (it passed and no paired
    item changed correctness: the suite does not exercise what the mutation broke), ``skipped``, or ``error``."""
    stats: PairedStats | None = None
    message: str = ""
    numbers: Mapping[str, Any] = field(default_factory=dict)
    """The gate's own figures (its JUnit properties): what the report shows for gates other than accuracy."""

    @property
    def accuracy_delta(self) -> float | None:
        """The suite's accuracy change on its original items (the progress line's headline)."""
        return self.stats.delta if self.stats is not None else None

    @property
    def delta(self) -> float | None:
        """The change of the share this gate judges: accuracy for ``accuracy``; accuracy or consistency under
        the perturbation for ``accuracy/<label>`` and ``consistency/<label>``; set accuracy for probe groups.
        None for a gate that judges no share (calibration, agreement: their figures are in ``numbers``)."""
        if _paired_share(self.numbers):
            return round(float(self.numbers["current"]) - float(self.numbers["baseline"]), 4)
        return self.accuracy_delta if self.gate == "accuracy" else None

    def to_json(self) -> dict[str, Any]:
        """Plain data for the report files (the gate's share change in ``delta``; its own figures in ``numbers``)."""
        delta = self.delta
        return {
            "mutation": self.mutation,
            "suite": self.suite,
            "gate": self.gate,
            "verdict": self.verdict,
            "delta": None if delta is None else round(delta, 4),
            "message": self.message,
            "numbers": dict(self.numbers),
        }


def parse_mutation_list(text: str) -> list[str]:
    """``noise:scale=0.1;quantize:bits=4`` (``;`` between mutations) -> canonical specs; ``default``: the ladder."""
    if text.strip() in ("", "default"):
        return list(DEFAULT_MUTATIONS)
    return [checked(part) for part in text.split(";") if part.strip()]


Progress = Callable[[str], None]


def mutation_matrix(
    suites: Sequence[Suite],
    load: Callable[[], ModelHandle],
    mutations: Sequence[str],
    baseline_of: Callable[[Suite, str], Baseline | None],
    *,
    runner: Runner | None = None,
    limit: int | None = None,
    progress: Progress | None = None,
) -> list[MutationOutcome]:
    """Run every suite against every mutation of a freshly loaded model; one outcome per gate.

    ``load`` must return a new, unloaded handle each call (mutations change weights
    in place). ``baseline_of(suite, profile)`` finds the unmutated model's baseline.
    """
    say = progress or (lambda _message: None)
    outcomes: list[MutationOutcome] = []
    with_images = any(item.images for suite in suites for item in suite.items)
    for number, spec in enumerate(mutations, 1):
        vision = MUTATIONS.get(parse_mutation(spec).name).vision
        if vision and not with_images:
            say(f"mutation {number}/{len(mutations)}: {spec}: skipped, no suite in this run has images")
            continue
        handle = mutate_handle(load(), spec)
        say(f"mutation {number}/{len(mutations)}: {spec}")
        try:
            for suite in suites:
                if vision and not any(item.images for item in suite.items):
                    continue  # a vision mutation leaves text suites' model as it was: nothing to catch there
                mine = _one_suite(suite, handle, spec, baseline_of, runner, limit)
                outcomes.extend(mine)
                say(f"  {suite.name}: {_short(mine)}")
        finally:
            handle.close()
            if handle.for_images is not None:
                handle.for_images.close()
    return outcomes


def _one_suite(
    suite: Suite,
    handle: ModelHandle,
    spec: str,
    baseline_of: Callable[[Suite, str], Baseline | None],
    runner: Runner | None,
    limit: int | None,
) -> list[MutationOutcome]:
    handle = handle.answering(any(item.images for item in suite.items))
    baseline = baseline_of(suite, handle.profile)
    try:
        scores = evaluate(suite, handle, limit=limit, runner=runner)
        comparison = compare_with_baseline(suite, scores, baseline, handle)
        results = run_gates(suite, scores, baseline, handle, comparison=comparison)
    except (AdapterError, RuntimeError, ValueError) as exc:
        return [MutationOutcome(spec, suite.name, "-", "error", message=f"{type(exc).__name__}: {exc}")]
    stats = comparison.stats()
    return [
        MutationOutcome(spec, suite.name, r.gate, _verdict(r.status, r.numbers, stats), stats, r.message, r.numbers)
        for r in results
    ]


def _verdict(status: str, numbers: Mapping[str, Any], stats: PairedStats) -> str:
    """caught (failed), missed (passed), or unchanged: passed, and nothing this gate pairs changed."""
    if status == "failed":
        return "caught"
    if status != "passed":
        return status
    if _paired_share(numbers):  # the gate's own units (items under a perturbation, probe groups)
        untouched = numbers["paired"] > 0 and numbers["lost"] == numbers["gained"] == 0
    else:
        untouched = stats.paired > 0 and stats.regressed == stats.improved == 0
    return "unchanged" if untouched else "missed"


def _paired_share(numbers: Mapping[str, Any]) -> bool:
    """The gate compared a share of its own units with the baseline (:class:`~..gates.comparison.PairedFlips`):
    accuracy or consistency under a perturbation, set accuracy of probe groups."""
    return all(numbers.get(k) is not None for k in ("paired", "baseline", "current", "lost", "gained", "p_value"))


def _short(outcomes: Sequence[MutationOutcome]) -> str:
    """One suite's gates against one mutation, in a progress line: the accuracy change, then each verdict's gates."""
    if outcomes and outcomes[0].verdict == "error":
        return f"error: {outcomes[0].message}"
    delta = outcomes[0].accuracy_delta if outcomes else None
    parts = ["accuracy n/a" if delta is None else f"accuracy {delta * 100:+.1f} points"]
    for verdict in ("caught", "missed", "unchanged", "skipped"):
        gates = [o.gate for o in outcomes if o.verdict == verdict]
        if gates:
            parts.append(
                f"{verdict} by {', '.join(gates)}" if verdict != "unchanged" else f"unchanged: {', '.join(gates)}"
            )
    return "; ".join(parts)


def report_lines(outcomes: Sequence[MutationOutcome]) -> list[str]:
    """A table per run: one row per mutation and suite gate, then what each suite caught and missed."""
    if not outcomes:
        return []
    header = ("mutation", "suite", "gate", "verdict", "baseline", "mutated", "delta", "regr/impr", "p")
    rows = [header]
    rows.extend((o.mutation, o.suite, o.gate, o.verdict, *_cells(o)) for o in outcomes)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    for suite in dict.fromkeys(o.suite for o in outcomes):
        mine = [o for o in outcomes if o.suite == suite]
        caught = sorted({o.mutation for o in mine if o.verdict == "caught"}, key=[o.mutation for o in mine].index)
        missed = [m for m in dict.fromkeys(o.mutation for o in mine) if m not in caught]
        line = f"{suite}: caught {len(caught)} of {len(caught) + len(missed)} mutations"
        lines.append(line + (f"; missed: {', '.join(missed)}" if missed else ""))
    for o in outcomes:
        if o.verdict == "error":
            lines.append(f"{o.suite} under {o.mutation}: {o.message}")
    return lines


def _cells(o: MutationOutcome) -> tuple[str, str, str, str, str]:
    """baseline, mutated, delta, regr/impr, p: each gate's own figures (the suite's accuracy for ``accuracy``;
    the variants' share for a perturbation gate, the groups' for set accuracy; a gate's own metric)."""
    s, n = o.stats, o.numbers
    if _paired_share(n):  # units lost / gained under this gate's own pairing
        return (
            _pct(n["baseline"]),
            _pct(n["current"]),
            f"{(o.delta or 0.0) * 100:+.1f}",
            f"{n['lost']}/{n['gained']}",
            f"{n['p_value']:.2g}",
        )
    metric = next((k[: -len("_current")] for k in n if k.endswith("_current")), None)
    if metric is not None and n.get(f"{metric}_baseline") is not None:  # a calibration gate
        return (
            f"{n[f'{metric}_baseline']:.3f}",
            f"{n[f'{metric}_current']:.3f}",
            f"{n[f'{metric}_delta']:+.3f}",
            "-",
            "-",
        )
    if "share" in n:  # agreement: the share of answers that changed
        return (
            "-",
            f"{n['share']:.1%} changed",
            "-",
            f"{s.regressed}/{s.improved}" if s else "-",
            f"{n['p_value']:.2g}",
        )
    if o.gate != "accuracy" or s is None or not s.paired:  # no figures of its own to show
        return ("-", "-", "-", "-", "-")
    return (
        _pct(s.baseline_accuracy),
        _pct(s.paired_accuracy),
        f"{(s.delta or 0.0) * 100:+.1f}",
        f"{s.regressed}/{s.improved}",
        f"{s.p_value:.2g}",
    )


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"
