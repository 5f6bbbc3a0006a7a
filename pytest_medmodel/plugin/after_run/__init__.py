"""The tasks after the tests: the mutation report, the search, the report files; each a plugin object, each guarded.

Each task is a plugin object registered with pytest only when it is asked for
(its flag, or for the search a suite's own ``search:`` key), as pytest's own
``stepwise`` registers itself only when enabled; ``config.pluginmanager.get_plugin
("medmodel-search")`` says whether this run has one. They run in the reporting
process from ``pytest_sessionfinish``, after the summary was built and the
baselines written, in :data:`TASKS` order.

They load the model again, run user code (adapters, mutations) and write files,
so anything can go wrong; an exception escaping ``pytest_sessionfinish`` would end
the run in an internal error with no summary and no report. Instead a task that
fails is one line naming the task and the cause (``medmodel search: stopped:
RuntimeError: boom``), added to the summary's notes, and the other tasks still
run: the report files are written last, so they list the failures of the tasks
before them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import pytest

if TYPE_CHECKING:
    from ...report.pictures import SearchPictures
    from ..controller import Controller
    from ..session import TestSession
    from ..settings import Settings

T = TypeVar("T")


class AfterRunTask:
    """One task after the tests; its terminal section is ``title`` over ``lines``."""

    name: ClassVar[str]
    """The plugin's name (``medmodel-search``)."""
    task: ClassVar[str]
    """How a failure line names it (``medmodel search: stopped: ...``)."""
    title: ClassVar[str]
    """The terminal section's title ("" for lines printed under the summary without one)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def run(self, config: pytest.Config, session: TestSession, controller: Controller) -> None:
        raise NotImplementedError


class MutationReport(AfterRunTask):
    """``--medmodel-mutation-report``: the suites against damaged copies of the model."""

    name, task, title = "medmodel-mutation-report", "mutation report", "medmodel mutation report"

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, Any]] = []
        """One row per mutation, suite and gate, as plain data (for the report files)."""

    def run(self, config: pytest.Config, session: TestSession, controller: Controller) -> None:
        from .mutation_report import run_mutation_report

        self.lines, self.rows = run_mutation_report(config, session, controller.suite_info)


class Search(AfterRunTask):
    """``--medmodel-search`` (or a suite's ``search:`` key): the smallest change that flips each right answer."""

    name, task, title = "medmodel-search", "search", "medmodel search"
    pictures: SearchPictures | None = None
    """The pictures before and after of image flips, when the report files are asked for."""

    def run(self, config: pytest.Config, session: TestSession, controller: Controller) -> None:
        from ...report.pictures import SearchPictures
        from .search import run_search

        if session.settings.report is not None and session.settings.report_pictures > 0:
            self.pictures = SearchPictures()
        run_search(config, session, controller.scores, self.lines, self.pictures)  # lines kept as each suite is done


class ReportFiles(AfterRunTask):
    """``--medmodel-report=DIR``: report.json, report.md and report.html, written last."""

    name, task, title = "medmodel-report", "report", ""

    def run(self, config: pytest.Config, session: TestSession, controller: Controller) -> None:
        from .report_files import write_run_report

        mutations = config.pluginmanager.get_plugin(MutationReport.name)
        search = config.pluginmanager.get_plugin(Search.name)
        self.lines = write_run_report(
            config,
            session,
            controller,
            mutations=mutations.rows if mutations is not None else [],
            search=search.lines if search is not None else [],
            search_pictures=search.pictures if search is not None else None,
        )


TASKS: tuple[type[AfterRunTask], ...] = (MutationReport, Search, ReportFiles)
"""The order the tasks run in: the report files last, so they hold what the others found."""
SECTIONS: tuple[type[AfterRunTask], ...] = (Search, MutationReport, ReportFiles)
"""The order their lines are printed in, after the summary."""


def register_tasks(config: pytest.Config, settings: Settings) -> None:
    """Register the tasks this run's flags ask for (the reporting process only)."""
    wanted = (
        (MutationReport, settings.mutation_report is not None),
        (Search, settings.search is not None),
        (ReportFiles, settings.report is not None),
    )
    for task, asked in wanted:
        if asked and config.pluginmanager.get_plugin(task.name) is None:
            config.pluginmanager.register(task(), task.name)


def unregister_tasks(config: pytest.Config) -> None:
    for task in TASKS:
        plugin = config.pluginmanager.get_plugin(task.name)
        if plugin is not None:
            config.pluginmanager.unregister(plugin)


def stopped(task: str, exc: BaseException) -> str:
    """One line: the task, the exception's type and the first line of its message."""
    message = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
    return f"medmodel {task}: stopped: {type(exc).__name__}" + (f": {message}" if message else "")


def guarded(task: str, call: Callable[[], T], failures: list[str]) -> T | None:
    """``call()``, or None with the one-line failure added to ``failures`` (a Ctrl-C still stops the run)."""
    try:
        return call()
    except (Exception, pytest.fail.Exception, pytest.skip.Exception) as exc:
        failures.append(stopped(task, exc))
        return None


def run_after_tasks(config: pytest.Config, session: TestSession, controller: Controller) -> None:
    """The registered tasks, in order; a failure is one line in the summary's notes (the report's: its own lines)."""
    plugins = config.pluginmanager
    if any(facts.search for facts in controller.suite_info.values()) and plugins.get_plugin(Search.name) is None:
        plugins.register(Search(), Search.name)  # a suite's own search: key asks for it
    failures: list[str] = []
    for kind in TASKS:
        task = plugins.get_plugin(kind.name)
        if task is None:
            continue
        if kind is ReportFiles:
            notes, failures = failures, []
            if controller.summary is not None:
                controller.summary.updates.extend(notes)  # before the report files, so they list them
        guarded(kind.task, functools.partial(task.run, config, session, controller), failures)
        if kind is ReportFiles and failures:
            task.lines, failures = failures, []
    if controller.summary is not None:
        controller.summary.updates.extend(failures)


def task_sections(config: pytest.Config) -> list[tuple[str, list[str]]]:
    """Each registered task's terminal section, in print order."""
    sections = []
    for kind in SECTIONS:
        task = config.pluginmanager.get_plugin(kind.name)
        if task is not None:
            sections.append((kind.title, task.lines))
    return sections
