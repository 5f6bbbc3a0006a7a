"""The tasks after the tests: the mutation report, the search, the report files; each one guarded.

They run in the reporting process from ``pytest_sessionfinish``, after the
summary was built and the baselines written. They load the model again, run
user code (adapters, mutations) and write files, so anything can go wrong; an
exception escaping ``pytest_sessionfinish`` would end the run in an internal
error with no summary and no report. Instead a task that fails is one line
naming the task and the cause (``medmodel search: stopped: RuntimeError: boom``),
added to the summary's notes, and the other tasks still run: the report files are
written last, so they list the failures of the tasks before them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import pytest

from ..controller import Controller
from ..session import TestSession

T = TypeVar("T")


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
    """The tasks this run asked for, in order; their failures go into the summary's notes."""
    settings = session.settings
    failures: list[str] = []
    summary = controller.summary
    if settings.mutation_report:
        from .mutation_report import run_mutation_report

        done = guarded("mutation report", lambda: run_mutation_report(config, session, controller.suite_info), failures)
        if done is not None:
            controller.mutation_lines, controller.mutations = done
    if settings.search or any(info.get("search") for info in controller.suite_info.values()):
        from .search import run_search

        guarded("search", lambda: run_search(config, session, controller.scores, controller.search_lines), failures)
    if summary is not None:
        summary.updates.extend(failures)  # before the report files, so they list them
    else:
        controller.report_lines.extend(failures)
    if settings.report is not None:
        from .report_files import write_run_report

        report_failures: list[str] = []
        lines = guarded("report", lambda: write_run_report(config, session, controller), report_failures)
        controller.report_lines.extend(lines or report_failures)
