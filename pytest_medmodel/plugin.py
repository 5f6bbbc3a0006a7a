"""pytest hooks of pytest-medmodel: each a few lines, handing off to :class:`MedModelSession`.

pytest imports this module in every run of every project where the package is
installed, so it imports nothing heavy: no torch, transformers, datasets or
numpy. Those load when a suite actually runs a model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from . import options
from .session import SESSION_KEY, STATUS, WORKER_OUTPUT, MedModelSession, get_session
from .suite import is_suite_path


def pytest_addoption(parser: pytest.Parser) -> None:
    options.add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "medmodel: a test generated from a medmodel suite")
    config.addinivalue_line("markers", "medmodel_gate: a suite-level gate test of a medmodel suite")
    session = MedModelSession(config)
    if options.model_spec(config) is not None:
        session.pin_gpu()  # before anything can initialise CUDA
    config.stash[SESSION_KEY] = session
    config.pluginmanager.register(_ReportHooks(session), "medmodel-reports")
    if config.pluginmanager.hasplugin("xdist"):
        from .xdist import XdistHooks

        config.pluginmanager.register(XdistHooks(session.settings.shard_size, options.model_spec(config) is not None), "medmodel-xdist")


def pytest_unconfigure(config: pytest.Config) -> None:
    session = config.stash.get(SESSION_KEY, None)
    if session is not None:
        session.close()
        del config.stash[SESSION_KEY]
    for name in ("medmodel-reports", "medmodel-xdist"):
        plugin = config.pluginmanager.get_plugin(name)
        if plugin is not None:
            config.pluginmanager.unregister(plugin)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if is_suite_path(file_path):
        from .collect import SuiteFile

        return SuiteFile.from_parent(parent, path=file_path)
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
        others = [it for it in items if it.get_closest_marker("medmodel_gate") is None]
        items[:] = others + gates


def pytest_collection_finish(session: pytest.Session) -> None:
    get_session(session.config).plan(session.items)


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    settings = get_session(config).settings
    if settings.spec is None:
        return None
    profile = settings.profile or "(from the model)"
    return [f"medmodel: model {settings.spec}, profile {profile}, device {settings.device}, dtype {settings.dtype}, baselines {settings.baseline_dir}"]


@pytest.fixture(scope="session")
def medmodel(request: pytest.FixtureRequest) -> Any:
    """The model under test, built from ``--medmodel``; override it in a conftest.py
    with a session-scoped fixture returning an adapter (or a spec string)."""
    return get_session(request.config).build_adapter()


@pytest.fixture
def medmodel_prediction(medmodel_case: Any, medmodel: Any, request: pytest.FixtureRequest) -> Any:
    """The model's prediction for this item (its shard is inferred on first use)."""
    session = get_session(request.config)
    return session.prediction(medmodel_case, session.use_adapter(medmodel))


@pytest.fixture
def medmodel_suite_predictions(medmodel: Any, request: pytest.FixtureRequest) -> Any:
    """Predictions for every selected item of this test's suite (for gates)."""
    session = get_session(request.config)
    return session.suite_predictions(request.node.parent.nodeid, session.use_adapter(medmodel))


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> tuple[str, str, Any] | None:
    if report.when != "call" or not report.passed:
        return None
    status = dict(report.user_properties).get(STATUS)
    if status == "regressed":
        return "regressed", "R", ("REGRESSED", {"yellow": True})
    if status == "improved":
        return "improved", "I", ("IMPROVED", {"green": True})
    return None


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    medmodel_session = get_session(session.config)
    if medmodel_session.is_worker:
        session.config.workeroutput[WORKER_OUTPUT] = medmodel_session.process_output()  # type: ignore[attr-defined]
        return
    medmodel_session.finish(int(exitstatus))


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    from .report import summary_lines

    session = config.stash.get(SESSION_KEY, None)
    if session is None or session.is_worker:
        return
    lines = summary_lines(session)
    if lines:
        terminalreporter.write_sep("=", "medmodel summary")
        for line in lines:
            terminalreporter.write_line(line)


class _ReportHooks:
    """Per-run receiver of test reports (``pytest_runtest_logreport`` gets no config)."""

    def __init__(self, session: MedModelSession) -> None:
        self.session = session

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.session.on_report(report)
