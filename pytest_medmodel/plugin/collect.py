"""Collection: a suite file becomes a module of real ``pytest.Function`` tests.

Custom ``pytest.Item`` classes would get no fixtures, confuse syrupy and
pytest-xdist, and need their own ``-k`` support (see shared research). Instead
the suite file is collected as a :class:`pytest.Module` whose object is a
synthetic module holding two plain test functions, ``item`` and ``gate``;
``pytest_generate_tests`` parametrizes them with the suite's variants and gates.
Everything pytest offers for functions then just works: ids such as
``suites/x.suite.yaml::item[gm-017]``, ``-k``, ``-m``, ``--lf``, ``--deselect``,
JUnit XML, fixtures, and xdist.
"""

from __future__ import annotations

import os
import re
import sys
import types
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ..suite.types import Suite, SuiteError
from ..text_safety import inert
from .state import get_session

_PYTEST_MARKS = {"skip", "skipif", "xfail", "parametrize", "usefixtures", "filterwarnings", "tryfirst", "trylast"}
_TAG_MARKS = pytest.StashKey[dict[str, str]]()
"""Tag -> the marker name it was registered as, for this run."""


@dataclass(frozen=True)
class Case:
    """The parameter of one item test: which variant of which suite."""

    suite_key: str
    key: str
    """``<item id>`` or ``<item id>/<variant name>``."""


def item(medmodel_case: Case, medmodel_score: Any, request: pytest.FixtureRequest) -> None:
    """One benchmark item (or a variant of it): passes when answered correctly.

    Wrong and wrong in the baseline too: xfailed (a known miss). Wrong but right
    in the baseline: "regressed" (fails only with --medmodel-strict). Right but
    wrong in the baseline: "improved".
    """
    get_session(request.config).judge_item(request.node, medmodel_case.suite_key, medmodel_score)


def gate(medmodel_gate: str, medmodel_suite_scores: Any, request: pytest.FixtureRequest) -> None:
    """A suite-level gate: current predictions against the committed baseline."""
    suite_key = request.node.parent.nodeid
    get_session(request.config).judge_gate(request.node, suite_key, medmodel_gate, medmodel_suite_scores)


class SuiteFile(pytest.Module):
    """A ``*.suite.yaml`` file, collected like a test module."""

    suite: Suite | None = None

    def _getobj(self) -> types.ModuleType:
        name = "medmodel_suite__" + re.sub(r"\W", "_", str(self.path))
        module = sys.modules.get(name)
        if module is None or getattr(module, "__file__", None) != str(self.path):
            module = types.ModuleType(name, f"Tests generated from {self.path.name}")
            module.__file__ = str(self.path)
            for function in (item, gate):
                copy = types.FunctionType(
                    function.__code__,
                    function.__globals__,
                    function.__name__,
                    function.__defaults__,
                    function.__closure__,
                )
                copy.__doc__ = function.__doc__
                copy.__module__ = name
                copy.__annotations__ = {}
                # reportinfo() (item.location, JUnit file/line, IDE links) asks where the function
                # lives; place_as sends it to the synthetic module, whose file is the suite.
                copy.place_as = module  # type: ignore[attr-defined]
                setattr(module, function.__name__, copy)
            sys.modules[name] = module
        return module

    def collect(self) -> Any:
        self.suite = get_session(self.config).load_suite(self.path)
        return super().collect()

    def istestfunction(self, obj: object, name: str) -> bool:
        return name in ("item", "gate") and callable(obj)

    def istestclass(self, obj: object, name: str) -> bool:
        return False

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException]) -> Any:  # type: ignore[override]
        if excinfo.errisinstance(SuiteError):
            return inert(str(excinfo.value), lines=True)  # it may quote the suite's data
        return super().repr_failure(excinfo)


def named_on_command_line(session: pytest.Session, path: Path) -> bool:
    """Whether ``path`` is one of the run's arguments, also when pytest dropped it as lying inside a folder
    argument (``pytest suites suites/sub/items.yaml``: the walk then reaches it like any other file)."""
    if session.isinitpath(path):
        return True
    config = session.config
    named = config.stash.get(_NAMED, None)
    if named is None:
        where = config.invocation_params.dir
        named = config.stash[_NAMED] = frozenset(
            Path(os.path.abspath(where / arg.split("::", 1)[0])) for arg in config.args
        )
    return Path(os.path.abspath(path)) in named


_NAMED = pytest.StashKey[frozenset[Path]]()
"""The run's path arguments, absolute (computed once)."""


class NotASuite(pytest.File):
    """A YAML file named on the command line that is not a suite: a one-line reason instead of "not found"."""

    def collect(self) -> Any:
        stem = self.path.name.rsplit(".", 1)[0]
        raise self.CollectError(
            f"{self.path.name} is not collected: pytest-medmodel collects suites named *.suite.yaml "
            f"(or *.suite.yml); if this is a suite, rename it to {stem}.suite.yaml"
        )


def generate(metafunc: pytest.Metafunc) -> None:
    """Parametrize the two functions of a suite module (called from the plugin's hook)."""
    parent = metafunc.definition.parent
    if not isinstance(parent, SuiteFile) or parent.suite is None:
        return
    suite, suite_key = parent.suite, parent.nodeid
    session = get_session(metafunc.config)
    if "medmodel_case" in metafunc.fixturenames:
        params = []
        for variant in session.variants(suite_key, suite).values():
            marks = [pytest.mark.medmodel] + [
                getattr(pytest.mark, mark_name(metafunc.config, tag)) for tag in variant.tags
            ]
            params.append(pytest.param(Case(suite_key, variant.key), id=variant.key, marks=marks))
        metafunc.parametrize("medmodel_case", params)
    if "medmodel_gate" in metafunc.fixturenames:
        marks = [pytest.mark.medmodel, pytest.mark.medmodel_gate]
        metafunc.parametrize("medmodel_gate", [pytest.param(name, id=name, marks=marks) for name in suite.gate_names])


def selection(items: Sequence[pytest.Item]) -> dict[str, tuple[Suite, list[str]]]:
    """Per suite file among the selected tests: the suite and its selected variant keys, in order."""
    selected: dict[str, tuple[Suite, list[str]]] = {}
    for node in items:
        parent = node.parent
        if not isinstance(parent, SuiteFile) or parent.suite is None:
            continue
        keys = selected.setdefault(parent.nodeid, (parent.suite, []))[1]
        callspec = getattr(node, "callspec", None)
        if callspec is not None and "medmodel_case" in callspec.params:
            keys.append(callspec.params["medmodel_case"].key)
    return selected


def mark_name(config: pytest.Config, tag: str) -> str:
    """A tag as a marker name of its own (``-m cardiology``), never one another plugin registered.

    A tag whose name is already a marker (``skip``, or ``order`` from pytest-order)
    would silently mean that marker; it becomes ``tag_<name>`` instead.
    """
    registered = config.stash.setdefault(_TAG_MARKS, {})
    if tag in registered:
        return registered[tag]
    name = re.sub(r"\W+", "_", tag).strip("_") or "tag"
    ours = set(registered.values())
    taken = (_PYTEST_MARKS | _markers(config)) - ours
    if name in taken or name[0].isdigit():
        name = f"tag_{name}"
    registered[tag] = name
    if name not in ours:
        config.addinivalue_line("markers", f"{name}: items tagged '{tag}' in a medmodel suite")
    return name


def _markers(config: pytest.Config) -> set[str]:
    """Names of every marker registered so far (by pytest, plugins, ini files and conftests)."""
    lines = config.getini("markers")
    return {re.split(r"[:(]", str(line), maxsplit=1)[0].strip() for line in lines}
