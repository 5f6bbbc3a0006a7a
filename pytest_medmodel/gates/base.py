"""Gates: rules over current scores and the baseline that pass or fail the build.

A gate is one registered function that receives a :class:`GateContext` (the suite,
the paired comparison, every score, the baseline and the gate's settings from the
suite file) and returns a :class:`GateResult`. A suite runs the gates it lists
under ``gates:``, plus every gate registered with ``default=True`` (accuracy);
each becomes a ``gate[<name>]`` test.

Examples:
    A gate with one setting::

        @gate("min_items", params={"at_least": Param((int,), "a whole number", 10)})
        def min_items(ctx: GateContext) -> GateResult:
            n = ctx.comparison.n
            ok = n >= ctx.settings["at_least"]
            return GateResult("min_items", "passed" if ok else "failed", f"{n} items evaluated")
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ..baselines.format import Baseline
from ..records import ItemScore
from ..registry import Registry, origin_of
from ..suite.schema import Param
from ..suite.types import Suite
from .comparison import Comparison

GateStatus = Literal["passed", "failed", "skipped"]


@dataclass(frozen=True)
class GateContext:
    """Everything a gate may look at (read-only)."""

    suite: Suite
    comparison: Comparison
    """Current run versus baseline on the original items (paired)."""
    scores: Mapping[str, ItemScore]
    """Every selected variant's score, by key."""
    baseline: Baseline | None
    baseline_location: str
    """Where the baseline file is (or would be), relative to the project root."""
    settings: Mapping[str, Any]
    """This gate's settings from the suite file, defaults filled in."""
    level: float | None = None
    """The level this gate is tested at when it is the only one of its suite that fires
    (the suite's alpha over its tested gates, Holm's first step); None for an untested gate."""


TOLERANCES = ("point", "margin")
"""How a gate reads its tolerance (``max_drop``, ``max_increase``): ``point``, the observed change
exceeds it and the change is real (different from zero); ``margin``, the change is significantly
larger than the tolerance (a tolerated change never fails more than alpha of the time)."""


@dataclass(frozen=True)
class Evidence:
    """A statistical gate's answer before the suite's false-alarm budget is applied.

    The gate measures and tests; the suite decides (:mod:`.family`): every statistical
    gate of a suite shares the suite's ``alpha`` through Holm's step-down correction,
    so the suite as a whole fails a model that did not get worse at most ``alpha`` of
    the time, however many gates it has.
    """

    p_value: float
    """One-sided p-value that the model got worse (beyond the tolerance, in margin mode)."""
    large: bool
    """The observed change is beyond the gate's tolerance: a significant change fails only then."""
    headline: str
    """The message's first line when the gate fails on this evidence."""


@dataclass(frozen=True)
class GateResult:
    """A gate's verdict; the message reads like a review comment."""

    gate: str
    status: GateStatus
    message: str
    numbers: Mapping[str, float | int | str | None] = field(default_factory=dict)
    """Figures worth a CI reader's eye; they become JUnit properties of the gate test."""
    evidence: Evidence | None = None
    """A statistical gate's test; the suite's family turns it into the verdict (``status`` then says
    only whether something outside the test failed, such as a floor or a missing baseline)."""


Evaluate = Callable[[GateContext], GateResult]
Check = Callable[[Mapping[str, Any]], "tuple[str, str, str] | None"]
"""Extra validation of settings: None, or (key, problem, fix) for a one-line suite error."""


@dataclass(frozen=True)
class Gate:
    """A registered gate."""

    name: str
    evaluate: Evaluate
    params: Mapping[str, Param] = field(default_factory=dict)
    default: bool = False
    """Every suite runs it, whether or not its ``gates:`` section names it."""
    check: Check | None = None
    per_perturbation: str = ""
    """Set for a gate every perturbation gets (``accuracy`` or ``consistency``: test id
    ``gate[<that>/<perturbation label>]``); such a gate is configured under the
    perturbation's ``gates:``, not the suite's."""
    tested: bool = False
    """The gate returns :class:`Evidence` and shares the suite's alpha with the suite's other tested gates."""


GATES: Registry[Gate] = Registry(
    "gate",
    builtins=tuple(
        f"pytest_medmodel.gates.{name}"
        for name in ("accuracy", "agreement", "calibration", "groups", "probability", "reliance", "robustness", "tags")
    ),
)


def gate(
    name: str,
    *,
    params: Mapping[str, Param] | None = None,
    default: bool = False,
    check: Check | None = None,
    per_perturbation: str = "",
    tested: bool = False,
) -> Callable[[Evaluate], Evaluate]:
    """Register the decorated ``evaluate(ctx) -> GateResult`` function as gate ``name``.

    ``tested``: the gate returns :class:`Evidence` (a p-value) instead of deciding alone,
    and the suite's false-alarm budget decides (see :mod:`.family`).
    """

    def register(evaluate: Evaluate) -> Evaluate:
        entry = Gate(name, evaluate, dict(params or {}), default, check, per_perturbation, tested)
        GATES.register(name, entry, origin_of(evaluate))
        return evaluate

    return register


def check_tolerance(settings: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """The ``tolerance`` setting names one of :data:`TOLERANCES`."""
    if settings.get("tolerance", "point") not in TOLERANCES:
        return ("tolerance", f"unknown value '{settings['tolerance']}'", "use point or margin")
    return None


def tolerance_param() -> Param:
    return Param((str,), "point or margin", "point")


def run_gate(ctx: GateContext, name: str) -> GateResult:
    """Evaluate the suite's gate called ``name``; the result always names that gate."""
    use = next((g for g in ctx.suite.gates if g.name == name), None)
    result = GATES.get(use.registered if use is not None else name).evaluate(ctx)
    if result.gate != name:
        raise ValueError(f"gate '{name}' returned a result for '{result.gate}'")
    return result
