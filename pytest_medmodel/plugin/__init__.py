"""pytest hooks of pytest-medmodel: each a few lines, handing off to the session or the controller.

pytest imports this module in every run of every project where the package is
installed, so it imports almost nothing and builds nothing until the run asks
for it (:mod:`.activation`): a run with no model spec, no ``--medmodel*`` flag
and no suite file leaves every hook below a no-op, registers no plugin object and
touches no file.

Once on, two objects do the work (pytest's own ``junitxml``/``LogXML`` shape): a
:class:`~pytest_medmodel.plugin.session.TestSession` in every process that runs
tests, and a :class:`~pytest_medmodel.plugin.controller.Controller` in the
process that sees every report (the serial process, or the xdist controller).
The tasks after the tests are plugin objects of their own (:mod:`.after_run`),
registered only when asked for.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ..suite.types import is_suite_path
from . import options, wire
from .activation import activate, deactivate
from .state import SETTINGS_KEY, get_controller, get_session, is_active

if TYPE_CHECKING:
    from ..models.handle import ModelHandle
    from ..models.specs import ModelOptions
    from ..records import ItemScore
    from .collect import Case


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from . import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    options.add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "medmodel: a test generated from a medmodel suite")
    config.addinivalue_line("markers", "medmodel_gate: a suite-level gate test of a medmodel suite")
    settings = config.stash[SETTINGS_KEY] = options.read_settings(config)
    asked = options.asked_for(config, settings)
    if asked:
        activate(config)
    if config.pluginmanager.hasplugin("xdist") and config.getoption("dist", "no") != "no":
        from .xdist import XdistHooks

        hooks = XdistHooks(config, settings.shard_size, settings.spec is not None, asked, settings.progress)
        config.pluginmanager.register(hooks, "medmodel-xdist")


def pytest_unconfigure(config: pytest.Config) -> None:
    deactivate(config)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if is_suite_path(file_path):
        activate(parent.config)  # a suite: the plugin turns on
        from .collect import SuiteFile

        return SuiteFile.from_parent(parent, path=file_path)
    if file_path.suffix.lower() in (".yaml", ".yml"):
        from .collect import NotASuite, named_on_command_line

        if named_on_command_line(parent.session, file_path):
            return NotASuite.from_parent(parent, path=file_path)  # say why it is not collected
    return None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "medmodel_case" in metafunc.fixturenames or "medmodel_gate" in metafunc.fixturenames:
        from .collect import generate

        generate(metafunc)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Gates run after every item, so under xdist their shards are usually done already."""
    gates = [it for it in items if it.get_closest_marker("medmodel_gate") is not None]
    if gates:
        items[:] = [it for it in items if it.get_closest_marker("medmodel_gate") is None] + gates


def pytest_collection_finish(session: pytest.Session) -> None:
    if not is_active(session.config):
        return
    from .collect import selection
    from .gpu import pin_worker_gpu

    get_session(session.config).pytest_session = session
    chosen = selection(session.items)
    if chosen:
        pin_worker_gpu(session.config)  # a model from a conftest fixture: pin now, still before any test runs
        get_session(session.config).plan(chosen)


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    s = config.stash[SETTINGS_KEY]
    if s.spec is None:
        return None
    from ..credentials import shown

    profile = s.profile or "(from the model)"
    return [
        f"medmodel: model {shown(s.spec)}, profile {profile}, device {s.device}, dtype {s.dtype}, "
        f"baselines {s.baseline_dir}"
    ]


@pytest.hookimpl(trylast=True)
def pytest_medmodel_make_adapter(config: pytest.Config, spec: str, options: ModelOptions) -> ModelHandle:
    """The default: every spec the registered model resolvers know (loaded lazily)."""
    from ..models.specs import resolve_model

    return resolve_model(spec, options)


@pytest.fixture(scope="session")
def medmodel(request: pytest.FixtureRequest) -> Any:
    """The model under test, built from ``--medmodel`` (its weights load when first needed).

    Override it in a conftest.py with a session-scoped fixture returning an adapter
    (or a spec string).
    """
    from ..models.base import ModelUnusable

    session = activate(request.config)  # a test may ask for the model before any suite was collected
    try:
        return session.default_model()
    except ModelUnusable as exc:
        session.stop(str(exc))


@pytest.fixture
def medmodel_score(medmodel_case: Case, medmodel: Any, request: pytest.FixtureRequest) -> ItemScore:
    """The model's score for this item test (its shard is inferred on first use)."""
    session = activate(request.config)  # a test may ask for the model before any suite was collected
    return session.score(medmodel_case.suite_key, medmodel_case.key, session.use_model(medmodel))


@pytest.fixture
def medmodel_suite_scores(medmodel: Any, request: pytest.FixtureRequest) -> dict[str, ItemScore]:
    """Scores of every selected variant of this test's suite (for gates)."""
    session = activate(request.config)  # a test may ask for the model before any suite was collected
    return session.suite_scores(request.node.parent.nodeid, session.use_model(medmodel))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if is_active(item.config):
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
    config = session.config
    if not is_active(config):
        return
    test_session = get_session(config)
    controller = get_controller(config)
    if controller is None:  # an xdist worker: hand what it knows to the controller
        config.workeroutput[wire.WORKER_OUTPUT] = test_session.process_output().to_json()  # type: ignore[attr-defined]
        return
    from .after_run import run_after_tasks

    xdist_hooks = config.pluginmanager.get_plugin("medmodel-xdist")
    if xdist_hooks is not None:
        xdist_hooks.close()  # print the workers' last progress lines before the summary
    controller.merge_output(test_session.process_output())  # a serial run's own (nothing under xdist)
    controller.finish(int(exitstatus))
    if exitstatus != pytest.ExitCode.INTERRUPTED:
        run_after_tasks(config, test_session, controller)  # each fails in one line, never the run's end
    if controller.update_failed and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED  # an update that was asked for did not happen
    if controller.stop_reason is not None:
        session.exitstatus = pytest.ExitCode.USAGE_ERROR  # the model could not be used: like a bad option


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    controller = get_controller(config)
    if controller is None:
        return
    from ..report.terminal import summary_lines
    from ..text_safety import inert
    from .after_run import task_sections

    detail, update = config.get_verbosity() > 0, controller.settings.update
    lines = summary_lines(controller.summary, detail=detail, update=update) if controller.summary is not None else []
    for title, section in [("medmodel summary", lines), *task_sections(config)]:
        if section and title:
            terminalreporter.write_sep("=", title)
        for line in section:  # names, answers and messages from outside: no terminal control gets through
            terminalreporter.write_line(inert(line))
