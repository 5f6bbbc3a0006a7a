"""Collection: a suite file becomes a module of real ``pytest.Function`` tests.

Custom ``pytest.Item`` classes would get no fixtures, confuse syrupy and
pytest-xdist, and need their own ``-k`` support (see shared research). Instead
the suite file is collected as a :class:`pytest.Module` whose object is a
synthetic module holding two plain test functions, ``item`` and ``gate``;
``pytest_generate_tests`` parametrizes them with the suite's items and gates.
Everything pytest offers for functions then just works: ids such as
``suites/x.suite.yaml::item[gm-017]``, ``-k``, ``-m``, ``--lf``, ``--deselect``,
JUnit XML, fixtures, and xdist.
"""

from __future__ import annotations

import re
import sys
import types
from typing import Any

import pytest

from .suite import Suite, SuiteError

_BUILTIN_MARKS = {
    "skip", "skipif", "xfail", "parametrize", "usefixtures", "filterwarnings",
    "tryfirst", "trylast", "no_cover", "timeout", "asyncio", "django_db", "flaky",
}


def item(medmodel_case: Any, medmodel_prediction: Any, request: pytest.FixtureRequest) -> None:
    """One benchmark item: passes when answered correctly.

    Wrong and wrong in the baseline too: xfailed (a known miss). Wrong but right
    in the baseline: "regressed" (fails only with --medmodel-strict). Right but
    wrong in the baseline: "improved".
    """
    from .session import get_session

    get_session(request.config).judge_item(request.node, medmodel_case, medmodel_prediction)


def gate(medmodel_gate: Any, medmodel_suite_predictions: Any, request: pytest.FixtureRequest) -> None:
    """A suite-level gate: current predictions against the committed baseline."""
    from .session import get_session

    get_session(request.config).judge_gate(request.node, medmodel_gate, medmodel_suite_predictions)


class SuiteFile(pytest.Module):
    """A ``*.suite.yaml`` file, collected like a test module."""

    suite: Suite | None = None

    def _getobj(self) -> types.ModuleType:
        name = "medmodel_suite__" + re.sub(r"\W", "_", str(self.path))
        module = sys.modules.get(name)
        if module is None or getattr(module, "__file__", None) != str(self.path):
            module = types.ModuleType(name, f"Tests generated from {self.path.name}")
            # reportinfo() (JUnit file/line, --durations) points at the suite, not at this package.
            module.__file__ = str(self.path)
            for function in (item, gate):
                copy = types.FunctionType(function.__code__, function.__globals__, function.__name__, function.__defaults__, function.__closure__)
                copy.__doc__ = function.__doc__
                copy.__module__ = name
                copy.__annotations__ = {}
                copy.compat_co_firstlineno = 0  # type: ignore[attr-defined]
                setattr(module, function.__name__, copy)
            sys.modules[name] = module
        return module

    def collect(self) -> Any:
        from .session import get_session

        self.suite = get_session(self.config).load_suite(self.path)
        return super().collect()

    def istestfunction(self, obj: object, name: str) -> bool:
        return name in ("item", "gate") and callable(obj)

    def istestclass(self, obj: object, name: str) -> bool:
        return False

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if excinfo.errisinstance(SuiteError):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style)


def generate(metafunc: pytest.Metafunc) -> None:
    """Parametrize the two functions of a suite module (called from the plugin's hook)."""
    from .session import Case, get_session

    parent = metafunc.definition.parent
    if not isinstance(parent, SuiteFile) or parent.suite is None:
        return
    suite = parent.suite
    session = get_session(metafunc.config)
    suite_key = parent.nodeid
    if "medmodel_case" in metafunc.fixturenames:
        items = suite.items[: session.settings.limit] if session.settings.limit else suite.items
        params = []
        for it in items:
            marks = [pytest.mark.medmodel]
            for tag in it.tags:
                marks.append(getattr(pytest.mark, _mark_name(metafunc.config, tag)))
            params.append(pytest.param(Case(suite_key, it.id), id=it.id, marks=marks))
        metafunc.parametrize("medmodel_case", params)
    if "medmodel_gate" in metafunc.fixturenames:
        params = [pytest.param(name, id=name, marks=[pytest.mark.medmodel, pytest.mark.medmodel_gate]) for name in suite.gate_names]
        metafunc.parametrize("medmodel_gate", params)


def _mark_name(config: pytest.Config, tag: str) -> str:
    """A tag as a registered marker name (``-m cardiology``); never a builtin like ``skip``."""
    name = re.sub(r"\W+", "_", tag).strip("_") or "tag"
    if name in _BUILTIN_MARKS or name[0].isdigit():
        name = f"tag_{name}"
    registered = config.stash.setdefault(_TAG_MARKS, set())
    if name not in registered:
        registered.add(name)
        config.addinivalue_line("markers", f"{name}: items tagged '{tag}' in a medmodel suite")
    return name


_TAG_MARKS = pytest.StashKey[set]()
