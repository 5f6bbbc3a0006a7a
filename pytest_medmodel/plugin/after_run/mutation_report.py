"""``--medmodel-mutation-report``: after the run, the suites against damaged copies of the model.

Runs in the process that reports (the serial process, or the xdist controller),
once every test has finished: each mutation loads a fresh copy of the model, so
this is the expensive part of such a run, and it says what it is doing. The
predictions go into the project's prediction cache under each mutated model's
own fingerprint, so a second report with the same mutations costs seconds.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from ...baselines.format import Baseline, BaselineError, read_baseline
from ...loading.recipe import load_suite
from ...mutate.matrix import mutation_matrix, report_lines
from ...suite.types import Suite, SuiteError
from ..progress import Progress
from ..session import TestSession


def run_mutation_report(
    config: pytest.Config, session: TestSession, suite_keys: Iterable[str]
) -> tuple[list[str], list[dict[str, Any]]]:
    """The report's lines (or the one line saying why it could not run), and its rows as plain data.

    A failure (the model cannot be loaded again, a mutation cannot apply) is raised to the
    caller, :mod:`pytest_medmodel.plugin.after_run`, which makes it one line.
    """
    settings = session.settings
    assert settings.mutation_report is not None
    if not settings.spec:
        return [
            "the mutation report needs the model as a spec (--medmodel=SPEC or the 'medmodel' ini key): "
            "a medmodel fixture cannot be loaded again for each mutation"
        ], []
    suites = _suites(config, session, sorted(suite_keys))
    if not suites:
        return ["the mutation report found no suite that ran; select some suite tests"], []
    progress = Progress(config)
    progress(
        f"mutation report: {len(settings.mutation_report)} mutation(s) x {len(suites)} suite(s); "
        "each mutation loads a fresh copy of the model"
    )
    runner = session.side_runner()
    try:
        outcomes = mutation_matrix(
            suites,
            session.default_model,
            settings.mutation_report,
            lambda suite, profile: _baseline(settings.baseline_dir, settings.profile or profile, suite),
            runner=runner,
            limit=settings.limit,
            progress=progress,
        )
    finally:
        runner.close()
    return report_lines(outcomes), [o.to_json() for o in outcomes]


def _suites(config: pytest.Config, session: TestSession, keys: list[str]) -> list[Suite]:
    out = []
    for key in keys:
        try:
            out.append(load_suite(Path(config.rootpath) / key, root=session.settings.data_root))
        except SuiteError:
            continue  # already reported by its own tests
    return out


def _baseline(folder: Path, profile: str, suite: Suite) -> Baseline | None:
    try:
        return read_baseline(folder / profile / f"{suite.name}.json")
    except BaselineError:
        return None
