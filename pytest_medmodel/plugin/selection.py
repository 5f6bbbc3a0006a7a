"""Selecting items with ``-k`` or ``-m`` selects their suite's gates too.

A CI job running ``pytest suites -m cardiology`` means "gate my cardiology
items", but ``-m cardiology`` does not match the gate tests (a gate has no
tag), so pytest deselects them and nothing is gated: the run passes having
checked nothing. Here, before pytest applies ``-k``/``-m``, a gate whose suite
has a selected item takes on that item's names and tag markers, so the same
expressions select it: the gate then compares the selected items, paired.

An expression aimed at the gate still wins: the gate is kept only when the
expression holds for the gate *with* one selected item's names, so
``-m "not medmodel_gate"`` or ``-k "not gate"`` turns gates off as before.
Evaluating expressions needs pytest's expression parser, which is not public
API; if it is ever missing, gates are left to pytest and the summary warns
about suites whose gate did not run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from ..perturb.robustness import family_of
from ..suite.types import split_key
from .collect import SuiteFile, mark_name


class GatesFollowItems:
    """The plugin object: runs first among ``pytest_collection_modifyitems`` implementations."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        keep_gates_with_their_items(config, items)


def keep_gates_with_their_items(config: pytest.Config, items: Sequence[pytest.Item]) -> None:
    keyword, markexpr = config.option.keyword.strip(), config.option.markexpr.strip()
    if not keyword and not markexpr:
        return
    try:
        from _pytest.mark import KeywordMatcher, MarkMatcher
        from _pytest.mark.expression import Expression
    except ImportError:  # pragma: no cover - a pytest without them; the summary warns instead
        return
    expressions = [(Expression.compile(e), e is keyword) for e in (keyword, markexpr) if e]

    def selected(names: set[str], marks: list[pytest.Mark]) -> bool:
        return all(
            expr.evaluate(KeywordMatcher(names) if is_keyword else MarkMatcher.from_markers(marks))
            for expr, is_keyword in expressions
        )

    by_suite: dict[str, tuple[list[pytest.Item], list[pytest.Item]]] = {}
    for node in items:
        if isinstance(node.parent, SuiteFile):
            cases, gates = by_suite.setdefault(node.parent.nodeid, ([], []))
            (gates if node.get_closest_marker("medmodel_gate") else cases).append(node)
    for cases, gates in by_suite.values():
        for gate in gates:
            _adopt_first_selected(config, gate, cases, selected)


def _adopt_first_selected(
    config: pytest.Config,
    gate: pytest.Item,
    cases: Sequence[pytest.Item],
    selected: Callable[[set[str], list[pytest.Mark]], bool],
) -> None:
    gate_names, gate_marks = _names(gate), list(gate.iter_markers())
    if selected(gate_names, gate_marks):
        return  # the expressions select the gate as it is
    for case in _cases_for(gate, cases):
        tag_marks = [getattr(pytest.mark, mark_name(config, tag)).mark for tag in _tags(case)]
        if not selected(_names(case), list(case.iter_markers())):
            continue
        names, marks = gate_names | _names(case), gate_marks + tag_marks
        if selected(names, marks):
            gate.extra_keyword_matches.update(names - gate_names)
            for mark in tag_marks:
                gate.add_marker(mark.name)
        return  # the first selected item decides: the gate's own terms still apply


def _cases_for(gate: pytest.Item, cases: Sequence[pytest.Item]) -> list[pytest.Item]:
    """The item tests a gate follows: all of them, or for a perturbation's gate the originals and its variants."""
    callspec = getattr(gate, "callspec", None)
    name = str(callspec.params.get("medmodel_gate", "")) if callspec is not None else ""
    suite = gate.parent.suite if isinstance(gate.parent, SuiteFile) else None
    if "/" not in name or suite is None:
        return list(cases)
    label = name.split("/", 1)[1]
    labels = [p.label for p in suite.perturbations]
    out = []
    for case in cases:
        variant = split_key(case.callspec.params["medmodel_case"].key)[1] if hasattr(case, "callspec") else ""
        if not variant or family_of(variant, labels) == label:
            out.append(case)
    return out


def _names(node: pytest.Item) -> set[str]:
    """What ``-k`` matches for a test: its and its parents' names, extra keywords and marker names."""
    names = {n.name for n in node.listchain() if not isinstance(n, pytest.Session | pytest.Dir)}
    names.update(node.listextrakeywords())
    names.update(mark.name for mark in node.iter_markers())
    return names


def _tags(case: pytest.Item) -> list[str]:
    parent = case.parent
    suite = parent.suite if isinstance(parent, SuiteFile) else None
    callspec = getattr(case, "callspec", None)
    if suite is None or callspec is None:
        return []
    item_id = callspec.params["medmodel_case"].key.split("/", 1)[0]
    return list(suite.item(item_id).tags)
