"""pytest hooks of pytest-medmodel: each a few lines, handing off to the session or the controller.

pytest imports this module in every run of every project where the package is
installed, so it imports nothing heavy: no torch, transformers, datasets or
numpy. Those load when a suite actually runs a model.

Two objects do the work (pytest's own ``junitxml``/``LogXML`` shape): a
:class:`~pytest_medmodel.plugin.session.TestSession` in every process that runs tests,
and a :class:`~pytest_medmodel.plugin.controller.Controller` in the process that sees
every report (the serial process, or the xdist controller).
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from ..credentials import shown
from ..models.base import ModelUnusable
from ..models.handle import ModelHandle
from ..models.specs import ModelOptions, resolve_model
from ..records import ItemScore
from ..report.terminal import summary_lines
from ..suite.types import is_suite_path
from ..text_safety import inert
from . import collect, options, wire
from .after_run import run_after_tasks
from .controller import Controller
from .gpu import pin_worker_gpu
from .selection import GatesFollowItems
from .session import SESSION_KEY, TestSession, get_session

CONTROLLER_KEY = pytest.StashKey[Controller]()
_PLUGINS = ("medmodel-controller", "medmodel-xdist", "medmodel-selection")


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from . import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    options.add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "medmodel: a test generated from a medmodel suite")
    config.addinivalue_line("markers", "medmodel_gate: a suite-level gate test of a medmodel suite")
    settings = options.read_settings(config)
    if settings.spec is not None:
        pin_worker_gpu(config)  # before anything can initialise CUDA
    config.stash[SESSION_KEY] = TestSession(config, settings)
    config.pluginmanager.register(GatesFollowItems(), "medmodel-selection")
    controller = None
    if not hasattr(config, "workerinput"):
        controller = config.stash[CONTROLLER_KEY] = Controller(config, settings)
        config.pluginmanager.register(controller, "medmodel-controller")
    if config.pluginmanager.hasplugin("xdist"):
        from .xdist import XdistHooks

        hooks = XdistHooks(settings.shard_size, settings.spec is not None, controller, settings.progress)
        config.pluginmanager.register(hooks, "medmodel-xdist")


def pytest_unconfigure(config: pytest.Config) -> None:
    session = config.stash.get(SESSION_KEY, None)
    controller = config.stash.get(CONTROLLER_KEY, None)
    if session is not None:
        session.close()
        if controller is not None:
            session.remove_run_stores(controller.run_ids)
        del config.stash[SESSION_KEY]
    for name in _PLUGINS:
        plugin = config.pluginmanager.get_plugin(name)
        if plugin is not None:
            config.pluginmanager.unregister(plugin)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if is_suite_path(file_path):
        return collect.SuiteFile.from_parent(parent, path=file_path)
    if file_path.suffix.lower() in (".yaml", ".yml") and collect.named_on_command_line(parent.session, file_path):
        return collect.NotASuite.from_parent(parent, path=file_path)  # say why it is not collected
    return None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "medmodel_case" in metafunc.fixturenames or "medmodel_gate" in metafunc.fixturenames:
        collect.generate(metafunc)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Gates run after every item, so under xdist their shards are usually done already."""
    gates = [it for it in items if it.get_closest_marker("medmodel_gate") is not None]
    if gates:
        items[:] = [it for it in items if it.get_closest_marker("medmodel_gate") is None] + gates


def pytest_collection_finish(session: pytest.Session) -> None:
    get_session(session.config).pytest_session = session
    selection = collect.selection(session.items)
    if selection:
        pin_worker_gpu(session.config)  # a model from a conftest fixture: pin now, still before any test runs
        get_session(session.config).plan(selection)


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    s = get_session(config).settings
    if s.spec is None:
        return None
    profile = s.profile or "(from the model)"
    return [
        f"medmodel: model {shown(s.spec)}, profile {profile}, device {s.device}, dtype {s.dtype}, "
        f"baselines {s.baseline_dir}"
    ]


@pytest.hookimpl(trylast=True)
def pytest_medmodel_make_adapter(config: pytest.Config, spec: str, options: ModelOptions) -> ModelHandle:
    """The default: every spec the registered model resolvers know (loaded lazily)."""
    return resolve_model(spec, options)


@pytest.fixture(scope="session")
def medmodel(request: pytest.FixtureRequest) -> Any:
    """The model under test, built from ``--medmodel`` (its weights load when first needed).

    Override it in a conftest.py with a session-scoped fixture returning an adapter
    (or a spec string).
    """
    session = get_session(request.config)
    try:
        return session.default_model()
    except ModelUnusable as exc:
        session.stop(str(exc))


@pytest.fixture
def medmodel_score(medmodel_case: collect.Case, medmodel: Any, request: pytest.FixtureRequest) -> ItemScore:
    """The model's score for this item test (its shard is inferred on first use)."""
    session = get_session(request.config)
    return session.score(medmodel_case.suite_key, medmodel_case.key, session.use_model(medmodel))


@pytest.fixture
def medmodel_suite_scores(medmodel: Any, request: pytest.FixtureRequest) -> dict[str, ItemScore]:
    """Scores of every selected variant of this test's suite (for gates)."""
    session = get_session(request.config)
    return session.suite_scores(request.node.parent.nodeid, session.use_model(medmodel))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    wire.copy_to_report(item, report, get_session(item.config).stop_reason)
    return report


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> tuple[str, str, Any] | None:
    if report.when != "call" or not report.passed:
        return None
    outcome = (wire.read(report, wire.ITEM) or {}).get("outcome")
    if outcome == "regressed":
        return "regressed", "R", ("REGRESSED", {"yellow": True})
    if outcome == "improved":
        return "improved", "I", ("IMPROVED", {"green": True})
    return None


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    test_session = get_session(session.config)
    controller = session.config.stash.get(CONTROLLER_KEY, None)
    if controller is None:  # an xdist worker: hand what it knows to the controller
        session.config.workeroutput[wire.WORKER_OUTPUT] = test_session.process_output()  # type: ignore[attr-defined]
        return
    xdist_hooks = session.config.pluginmanager.get_plugin("medmodel-xdist")
    if xdist_hooks is not None:
        xdist_hooks.close()  # print the workers' last progress lines before the summary
    controller.merge_output(test_session.process_output())  # a serial run's own (nothing under xdist)
    controller.finish(int(exitstatus))
    if exitstatus != pytest.ExitCode.INTERRUPTED:
        run_after_tasks(session.config, test_session, controller)  # each fails in one line, never the run's end
    if controller.update_failed and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED  # an update that was asked for did not happen
    if controller.stop_reason is not None:
        session.exitstatus = pytest.ExitCode.USAGE_ERROR  # the model could not be used: like a bad option


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    controller = config.stash.get(CONTROLLER_KEY, None)
    if controller is None:
        return
    detail, update = config.get_verbosity() > 0, controller.settings.update
    lines = summary_lines(controller.summary, detail=detail, update=update) if controller.summary is not None else []
    for title, section in (
        ("medmodel summary", lines),
        ("medmodel search", controller.search_lines),
        ("medmodel mutation report", controller.mutation_lines),
        ("", controller.report_lines),
    ):
        if section and title:
            terminalreporter.write_sep("=", title)
        for line in section:  # names, answers and messages from outside: no terminal control gets through
            terminalreporter.write_line(inert(line))
