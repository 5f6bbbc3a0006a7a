"""The reporting process: collects what tests found, writes baselines, and builds the run summary.

One :class:`Controller` lives in the process that sees every test report: a
serial run, or the xdist controller (workers send their reports there). It reads
item scores and gate verdicts off the reports (:mod:`pytest_medmodel.plugin.wire`),
merges what each worker knows at its end, then, once, at the end of the run:
builds the :class:`~pytest_medmodel.report.summary.RunSummary` (comparisons
against the baselines as they were before this run) and, on ``--snapshot-update``,
writes the baselines. A serial and a parallel run therefore write the same bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ..baselines.folder import BaselineFolder
from ..baselines.format import Baseline, BaselineError, dumps_baseline, merge_baseline, relative_to
from ..baselines.orphans import orphaned
from ..baselines.update import PlannedWrite, complete_interrupted, write_all
from ..execution.prompt_log import PromptLog
from ..execution.run_stats import RunStats
from ..gates.comparison import compare
from ..metrics.base import METRICS
from ..records import ItemScore, scores_digest
from ..report.facts import SuiteFacts, suite_row
from ..report.summary import GateVerdict, ModelSummary, RunSummary, SuiteSummary
from ..suite.types import is_suite_path
from .payloads import ProcessReport, gate_report, item_report
from .settings import Settings
from .wire import STOP, VERDICT, read


class Controller:
    """Report intake, worker output merge, baseline writing and the run summary."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.scores: dict[str, dict[str, ItemScore]] = {}
        self.outcomes: dict[str, dict[str, str]] = {}
        """Each item test's outcome (``passed``, ``improved``, ``known_miss``, ``new_miss``, ``regressed``)."""
        self.baselines: dict[str, tuple[Path, Baseline | None]] = {}
        """Each summarised suite's baseline file and its content as it was before this run (None: none readable)."""
        self.verdicts: dict[str, list[GateVerdict]] = {}
        self.gate_rows: dict[str, tuple[str | None, SuiteSummary]] = {}
        """Each suite's summary row as a gate's process computed it, with the digest of its scores."""
        self.errors: list[str] = []
        self.suite_info: dict[str, SuiteFacts] = {}
        """What the test processes said about each suite they ran."""
        self.models: list[ModelSummary] = []
        self.stats = RunStats()
        self.model_seconds = 0.0
        self.run_ids: set[str] = set()
        self.updates: list[str] = []
        self.summary: RunSummary | None = None
        self.metrics_known: set[str] = set()
        """Metrics the test processes had registered (a conftest below the rootdir is not loaded here)."""
        self.dead_workers: list[str] = []
        """One line per xdist worker that died (an out-of-memory kill), naming the test it was running."""
        self.update_failed = False
        """``--snapshot-update`` was asked for but refused (the run must not exit 0)."""
        self.stop_reason: str | None = None
        """Why the model could not be used, when a test process stopped the run for it."""
        self.folder = BaselineFolder(settings.baseline_dir, Path(config.rootpath))
        completion = complete_interrupted(self.folder)
        self.updates.extend(completion.lines)
        self.journal_refused = completion.refused
        """An update journal naming files it may not was left in place: no update may run until a person looks."""
        if settings.log_prompts is not None:
            PromptLog(settings.log_prompts).start()  # this run's requests only; test processes append

    # ------------------------------------------------------------------ intake (a pytest plugin object)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Collect what tests found (serial run, or xdist controller receiving worker reports)."""
        if not is_suite_path(report.nodeid.split("::", 1)[0]):
            return
        stop = read(report, STOP)
        if stop is not None and self.stop_reason is None:
            self.stop_reason = str(stop)
        if report.failed and read(report, VERDICT) is None:
            when = f" ({report.when})" if report.when in ("setup", "call", "teardown") else ""
            self.errors.append(f"{report.nodeid}{when}: {_first_line(report)}")
        item = item_report(report)
        if item is not None:
            self.scores.setdefault(item.suite, {})[item.score.item_key] = item.score
            self.outcomes.setdefault(item.suite, {})[item.score.item_key] = item.outcome
        gate = gate_report(report)
        if gate is not None:
            self.verdicts.setdefault(gate.suite, []).append(gate.verdict)
            if gate.row is not None:
                self.gate_rows.setdefault(gate.suite, (gate.digest, gate.row))

    def merge_output(self, output: ProcessReport) -> None:
        """What one test process knew at its end (an xdist worker's ``workeroutput``)."""
        if output.model is not None:
            self.models.append(output.model)
        self.stats.merge(output.stats.to_json())
        self.model_seconds = max(self.model_seconds, output.model_seconds)
        for key, facts in output.suites.items():
            if key not in self.suite_info or facts.fallback:  # a worker that scored it by generation knows
                self.suite_info[key] = facts
        if output.run_id:
            self.run_ids.add(output.run_id)
        self.metrics_known.update(output.metrics_known)

    def reporting_model(self) -> ModelSummary | None:
        """The model every test process used (None if none was used, or if they disagree)."""
        if len({(m.fingerprint, m.profile) for m in self.models}) != 1:
            return None
        return self.models[0]

    # ------------------------------------------------------------------ end of run

    def finish(self, exitstatus: int) -> RunSummary:
        """Build the summary (before any write, so it shows what an update replaces), then update baselines."""
        model = self.reporting_model()
        # Items whose predictions were not computed in this run came from the cache (the same count
        # serially and under xdist, where a gate re-reads shards another worker computed).
        scored = sum(len(scores) for scores in self.scores.values())
        self.stats.requests_cached = max(0, scored - self.stats.requests_computed)
        summary = RunSummary(
            suites=self._suite_rows(model),
            model=model,
            inference=self.stats,
            model_seconds=self.model_seconds,
            errors=self.errors,
        )
        notes = [
            f"{line} (killed, out of memory?); its other tests went to the other workers" for line in self.dead_workers
        ]
        notes += [facts.fallback for _, facts in sorted(self.suite_info.items()) if facts.fallback]
        chat = sorted(facts.name for facts in self.suite_info.values() if facts.chat)
        if chat:
            note = next(facts.chat for facts in self.suite_info.values() if facts.chat)
            notes.append(f"{', '.join(chat)}: ask(s) for the model's chat template; {note}")
        if self.stop_reason is not None:
            notes.append(f"the run stopped: the model cannot be used: {self.stop_reason}")
        notes += self._unknown_metrics() + self._orphans(model)
        if self.settings.update and (self.scores or self.errors or self.gate_rows):
            self._update_baselines(exitstatus, model)
        summary.updates = notes + self.updates
        self.summary = summary
        return summary

    def _suite_rows(self, model: ModelSummary | None) -> list[SuiteSummary]:
        rows = []
        for suite_key in sorted(set(self.scores) | set(self.gate_rows)):
            facts = self.suite_info.get(suite_key)
            verdicts = self.verdicts.get(suite_key, [])
            if suite_key in self.scores and facts is not None and model is not None:
                rows.append(self._suite_row(suite_key, facts, facts.model or model, verdicts))
            elif suite_key in self.gate_rows:  # only the gates ran: what they saw, without the item details
                view = self.gate_rows[suite_key][1]
                rows.append(
                    SuiteSummary(
                        view.key, view.name, view.stats, view.metrics, verdicts, view.detectable_drop, view.blind
                    )
                )
        return rows

    def _suite_row(
        self, suite_key: str, facts: SuiteFacts, model: ModelSummary, verdicts: list[GateVerdict]
    ) -> SuiteSummary:
        """The row a gate's process computed on these very scores, else computed here (once either way)."""
        scores = self.scores[suite_key]
        path = self._path(model, facts)
        baseline = self._read_quietly(path)
        self.baselines[suite_key] = (path, baseline)
        digest, row = self.gate_rows.get(suite_key, (None, None))
        if row is not None and digest == scores_digest(scores) and not self._unknown_metrics():
            return replace(row, gates=list(verdicts))
        comparison = compare(
            facts.pairing, profile=model.profile, scores=scores, baseline=baseline, model_fingerprint=model.fingerprint
        )
        return suite_row(suite_key, facts, comparison.stats(), scores, baseline, verdicts)

    def _orphans(self, model: ModelSummary | None) -> list[str]:
        """Baseline files of each profile this run wrote to that no suite of the run is named after."""
        if model is None or not self.suite_info:
            return []
        profiles = dict.fromkeys(
            (facts.model or model).profile for facts in self.suite_info.values()
        )  # the run's model's, then its model for images'
        known = [facts.name for facts in self.suite_info.values()]
        return [
            f"{relative_to(path, self.config.rootpath)}: no suite is named {path.stem} any more (renamed or removed?); "
            "delete the file, or rename it after the suite's new name"
            for profile in profiles
            for path in orphaned(self.folder.path / profile, Path(self.config.rootpath), known)
        ]

    def _unknown_metrics(self) -> list[str]:
        missing = sorted(self.metrics_known - set(METRICS.names()))
        if not missing:
            return []
        return [
            f"metric(s) {', '.join(missing)} are registered where only the test processes see them (a conftest.py "
            "below the rootdir?); register them in the rootdir's conftest.py or an installed package"
        ]

    def _update_baselines(self, exitstatus: int, model: ModelSummary | None) -> None:
        if self.journal_refused:
            self._refuse(
                "baselines left untouched: the baseline folder holds an update journal that was refused (above)"
            )
            return
        if self._unknown_metrics():
            self._refuse("baselines left untouched: this process cannot compute every metric the tests know (above)")
            return
        gates_only = sorted(
            self.suite_info[k].name for k in set(self.gate_rows) - set(self.scores) if k in self.suite_info
        )
        if gates_only:
            self._refuse(
                f"baselines left untouched: only the gates of {', '.join(gates_only)} ran; select the items too"
            )
            return
        if self.errors:
            self._refuse(
                f"baselines left untouched: {len(self.errors)} test(s) hit a model or data error "
                f"(first: {self.errors[0]}); fix it and run --snapshot-update again"
            )
            return
        if exitstatus == pytest.ExitCode.INTERRUPTED:
            self._refuse("baselines left untouched: the run was interrupted")
            return
        if model is None:
            if self.models:
                self._refuse(f"baselines left untouched: workers disagree about the model ({self.models})")
            return
        writes, lines = [], []
        try:
            for suite_key in sorted(self.scores):
                facts = self.suite_info.get(suite_key)
                if facts is not None:
                    write, said = self._plan_one(facts.model or model, facts, self.scores[suite_key])
                    writes.extend([write] if write else [])
                    lines.extend(said)
            write_all(self.folder, writes)
        except BaselineError as exc:
            self._refuse(f"baselines left untouched: {exc}")
            return
        self.updates.extend(lines)

    def _refuse(self, line: str) -> None:
        self.updates.append(line)
        self.update_failed = True

    def _plan_one(
        self, model: ModelSummary, facts: SuiteFacts, scores: Mapping[str, ItemScore]
    ) -> tuple[PlannedWrite | None, list[str]]:
        """The new text of one suite's baseline (None: unchanged) and what to say about it."""
        path = self._path(model, facts)
        where = relative_to(path, self.config.rootpath)
        notes = []
        self.folder.check(path)
        try:
            old = self.folder.read(path)
        except BaselineError as exc:
            _refuse_partial_rerecord(where, exc, facts, scores)
            old = None
            notes.append(f"{where}: was unreadable ({exc}); recorded afresh from this run")
        new, added, changed, dropped = merge_baseline(
            old,
            suite=facts.name,
            profile=model.profile,
            model_name=model.name,
            model_fingerprint=model.fingerprint,
            suite_fingerprint=facts.fingerprint,
            scoring=facts.scoring,
            suite_keys=facts.keys,
            scores=scores,
        )
        text = dumps_baseline(new.to_json())
        unchanged = old is not None and path.is_file() and path.read_text(encoding="utf-8") == text
        parts = [f"{len(added)} added" if added else "", f"{len(changed)} changed" if changed else ""]
        parts.append(f"{len(dropped)} stale dropped" if dropped else "")
        what = ", ".join(p for p in parts if p)
        if unchanged:
            return None, [*notes, f"{where}: unchanged"]
        state = "written" if old is None else "updated"
        return PlannedWrite(path, text), [*notes, f"{where}: {state}" + (f" ({what})" if what else "")]

    def _path(self, model: ModelSummary, facts: SuiteFacts) -> Path:
        return self.folder.file(model.profile, facts.name)

    def _read_quietly(self, path: Path) -> Baseline | None:
        """The baseline for the summary; an unreadable file was already reported by its tests."""
        try:
            return self.folder.read(path)
        except BaselineError:
            return None


def _refuse_partial_rerecord(where: str, exc: BaselineError, facts: SuiteFacts, scores: Mapping[str, Any]) -> None:
    """Recording an unreadable baseline afresh from a partial run would drop what git still has."""
    wanted = {k for k in facts.keys if "/" not in k}
    covered = wanted & set(scores)
    if covered != wanted:
        raise BaselineError(
            f"{where} is unreadable ({exc}) and this run covered only {len(covered)} of its {len(wanted)} items; "
            "re-record it from a run of the whole suite, or restore it from version control"
        )


def _first_line(report: pytest.TestReport) -> str:
    text = report.longreprtext.strip().splitlines() if report.longrepr else []
    for line in reversed(text):
        if line.startswith("E "):
            return line[1:].strip()
    return text[-1] if text else "error"
