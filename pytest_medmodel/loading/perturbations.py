"""A suite's ``perturbations:`` section: each entry checked, and the gates each perturbation gets.

A perturbation that must not change the answer gets ``accuracy/<id>`` and
``consistency/<id>`` gates. An *ablation* (the image removed, blanked or
swapped) is expected to change it: it gets no gates of its own, and feeds
``gate[image_reliance]`` instead, which a suite with an ablation may declare and
a suite without one may not.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from ..gates.base import GATES
from ..perturb.base import PERTURBATIONS
from ..suite.schema import Checker
from ..suite.types import DEFAULT_ALPHA, GateUse, PerturbationUse

_LABEL = re.compile(r"^[A-Za-z0-9_.:-]+$")
NEEDS_ABLATION = ("image_reliance",)
"""Gates that compare a suite's items with their ablated variants."""


def parse_perturbations(
    checker: Checker, value: Any, suite_gates: Sequence[str] = ()
) -> tuple[tuple[PerturbationUse, ...], tuple[GateUse, ...]]:
    """The suite's perturbations, and the gates each of them gets (``accuracy/<id>``, ``consistency/<id>``)."""
    uses: list[PerturbationUse] = []
    gates: list[GateUse] = []
    for index, entry in enumerate(value):
        where = f"perturbations[{index}]"
        spec = {"name": entry} if isinstance(entry, str) else entry
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            raise checker.error(
                where, "expected a perturbation name or a mapping with 'name'", "write e.g. - reverse_choices"
            )
        name = spec["name"]
        if name not in PERTURBATIONS:
            raise checker.error(
                f"{where}.name", PERTURBATIONS.unknown(name).split("; ")[0], PERTURBATIONS.unknown(name).split("; ")[1]
            )
        label = str(spec.get("id", name))
        if not _LABEL.match(label):
            raise checker.error(
                f"{where}.id", f"'{label}' would break test ids", "use letters, digits, '_', '.', ':' and '-'"
            )
        if any(u.label == label for u in uses):
            raise checker.error(f"{where}.id", f"'{label}' is used twice", "give each perturbation a distinct id:")
        params = {k: v for k, v in spec.items() if k not in ("name", "id", "gates")}
        found = PERTURBATIONS.get(name).check(params)
        if found is not None:
            key, problem, fix = found
            raise checker.error(f"{where}.{key}" if key else where, problem, fix)
        uses.append(PerturbationUse(name, label, params))
        if PERTURBATIONS.get(name).ablation:
            if "gates" in spec:
                problem = f"'{name}' is an ablation: it is meant to change answers, so it has no gates of its own"
                raise checker.error(f"{where}.gates", problem, "declare gates: {image_reliance: {}} for the suite")
            continue
        gates.extend(_perturbation_gates(checker, spec.get("gates", {}), f"{where}.gates", label))
    needing = [g for g in suite_gates if g in NEEDS_ABLATION]
    if needing and not any(PERTURBATIONS.get(u.name).ablation for u in uses):
        problem = f"gate {needing[0]} compares each item with its image removed, blanked or swapped"
        raise checker.error(f"gates.{needing[0]}", problem, "add an ablation: perturbations: [no_image]")
    return tuple(uses), tuple(gates)


def _perturbation_gates(checker: Checker, value: Any, where: str, label: str) -> list[GateUse]:
    """Every per-perturbation gate, on by default; ``false`` turns one off, a mapping sets it."""
    kinds = {g.per_perturbation: g for g in GATES if g.per_perturbation}
    described = "a mapping of settings, or false to turn it off"
    declared = checker.mapping(value, where, {short: ((dict, type(None), bool), described) for short in kinds})
    uses = []
    for short, definition in kinds.items():
        raw = declared.get(short, {})
        if raw is False:
            continue
        if raw is True:
            raw = {}
        checker.no_own_alpha(raw, f"{where}.{short}", DEFAULT_ALPHA)
        settings = checker.params(raw or {}, f"{where}.{short}", definition.params)
        problem = definition.check(settings) if definition.check else None
        if problem is not None:
            key, what, fix = problem
            raise checker.error(f"{where}.{short}.{key}", what, fix)
        uses.append(GateUse(f"{short}/{label}", {**settings, "perturbation": label}, kind=definition.name))
    return uses
