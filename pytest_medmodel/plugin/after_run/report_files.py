"""``--medmodel-report=DIR``: gather what the reporting process holds and write the report files.

Runs once, at the end of the run, in the process that reports (serial, or the
xdist controller), after the mutation report and the search so their results
are in it. Prompts are rendered here, from the suite files, for the regressed
and improved items only: the model is not needed for that.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ...baselines.format import relative_to
from ...report.document import PROMPTED, SuiteItems, build_report, run_timings
from ...report.pictures import PictureBudget, SearchPictures
from ...report.write import Written, write_reports
from ...scoring.prompts import render_user_message
from ...suite.types import SuiteError
from ..controller import Controller
from ..session import TestSession
from .report_pictures import suite_pictures


def write_run_report(
    config: pytest.Config,
    session: TestSession,
    controller: Controller,
    *,
    mutations: Sequence[Mapping[str, Any]] = (),
    search: Sequence[str] = (),
    search_pictures: SearchPictures | None = None,
) -> list[str]:
    """Write the report; the lines to print about it (where it went, or why it could not be written).

    ``mutations`` and ``search``: what the mutation report and the search found, when they ran;
    ``search_pictures``: the search's image flips with their thumbnails (they come out of the budget first).
    """
    started = time.perf_counter()  # the whole cost: gathering, prompts, rendering, writing
    settings = session.settings
    assert settings.report is not None and controller.summary is not None
    summary = controller.summary
    items = {key: _suite_items(config, session, controller, key) for key in controller.scores}
    if search_pictures is not None:
        search_pictures = search_pictures.within(settings.report_pictures)
    _add_pictures(config, session, controller, items, search_pictures.size if search_pictures else 0)
    stamp = datetime.now(UTC).replace(microsecond=0).isoformat()
    report = build_report(
        summary,
        {k: v for k, v in items.items() if v is not None},
        mutations=[dict(row) for row in mutations],
        search=list(search),
        search_pictures=search_pictures.to_json() if search_pictures and search_pictures.flips else None,
        timings=run_timings(summary, stamp),
    )
    summary_file = os.environ.get("GITHUB_STEP_SUMMARY")
    try:
        written = write_reports(settings.report, report, Path(summary_file) if summary_file else None)
    except OSError as exc:
        return [f"the report could not be written to {settings.report}: {exc}"]
    return _said(replace(written, seconds=time.perf_counter() - started), config)


def _said(written: Written, config: pytest.Config) -> list[str]:
    where = relative_to(written.folder, config.rootpath)
    line = (
        f"report: {where}/report.html ({written.html_bytes / 1024:.0f} KiB), report.md, report.json; "
        f"written in {written.seconds:.2f} s"
    )
    return [line] + ([f"report: report.md appended to {written.step_summary}"] if written.step_summary else [])


def _suite_items(
    config: pytest.Config, session: TestSession, controller: Controller, suite_key: str
) -> SuiteItems | None:
    """A suite's items with the baseline the summary compared them with (read once, by the controller)."""
    facts = controller.suite_info.get(suite_key)
    if facts is None:
        return None
    outcomes = controller.outcomes.get(suite_key, {})
    path, baseline = controller.baselines.get(suite_key, (None, None))
    where = relative_to(path, config.rootpath) if path is not None else ""
    wanted = sorted(key for key, outcome in outcomes.items() if outcome in PROMPTED)
    prompts = _prompts(config, session, suite_key, wanted)
    return SuiteItems(facts, controller.scores[suite_key], outcomes, baseline, where, prompts)


def _add_pictures(
    config: pytest.Config,
    session: TestSession,
    controller: Controller,
    items: Mapping[str, SuiteItems | None],
    spent: int,
) -> None:
    """Thumbnails for the items worth seeing, every suite with images taking an equal share of what is left."""
    assert controller.summary is not None
    if session.settings.report_pictures <= 0:  # --medmodel-report-pictures=0: no thumbnails, nothing decoded
        return
    budget = PictureBudget(max(session.settings.report_pictures - spent, 0))
    rows = {row.key: row for row in controller.summary.suites}
    keys = [key for key, held in items.items() if held is not None and key in rows]
    for done, key in enumerate(keys):
        held = items[key]
        assert held is not None
        share = budget.left // (len(keys) - done)
        held.pictures = suite_pictures(config, session, key, rows[key], held.scores, held.outcomes, budget, share)


def _prompts(config: pytest.Config, session: TestSession, suite_key: str, keys: list[str]) -> dict[str, str]:
    """The user message of each key, rendered from the suite file (empty when it no longer loads)."""
    if not keys:
        return {}
    try:
        suite = session.load_suite(Path(config.rootpath) / suite_key)
        variants = session.variants(suite_key, suite)
    except SuiteError:
        return {}
    return {key: render_user_message(suite.prompt, variants[key]) for key in keys if key in variants}
