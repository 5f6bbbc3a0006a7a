"""The test process: suites, variants, the shard plan, the model, and judging items and gates.

One :class:`TestSession` lives in ``config.stash`` of every process that runs
tests (a serial run, or each xdist worker). The pytest hooks and the test
functions hand off to it; it hands off to the plain-Python core for everything
that is not about pytest (loading, scoring, comparing, gating). What the
reporting process needs travels on test reports (:mod:`pytest_medmodel.plugin.wire`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import pytest

from ..baselines.folder import BaselineFolder
from ..baselines.format import Baseline, BaselineError, relative_to
from ..execution.calls import AdapterFault, AdapterRaised, ModelTimeout, said
from ..execution.run_stats import RunStats
from ..execution.runner import Runner
from ..execution.shards import ShardFailed, Shards, Unservable, UnusableImage
from ..execution.store import StoreError
from ..gates.base import GateResult
from ..gates.comparison import Comparison, compare
from ..gates.family import gate_context, judge_suite
from ..loading.recipe import load_suite
from ..metrics.base import METRICS
from ..models.base import AdapterError, ModelUnusable
from ..models.handle import ModelHandle
from ..mutate.base import MutationError
from ..perturb.plan import SuiteVariants
from ..records import ItemScore, judge, scores_digest
from ..report.document import junit_suite_properties
from ..report.facts import SuiteFacts, suite_row
from ..report.summary import GateVerdict, ModelSummary, SuiteSummary
from ..scoring.extract import PatternTimeout
from ..suite.types import Item, Suite, SuiteError, Variant
from ..text_safety import inert
from . import stores
from .model_choice import ModelChoice
from .payloads import GateReport, ItemReport, ProcessReport
from .progress import Progress
from .settings import Settings
from .wire import GATE, ITEM, VERDICT, attach, junit_item_properties

T = TypeVar("T")


@dataclass
class Decided:
    """A suite's gates decided on one set of scores, with its comparison and summary row."""

    digest: str
    """:func:`~pytest_medmodel.records.scores_digest` of the scores."""
    verdicts: dict[str, GateResult]
    comparison: Comparison
    row: SuiteSummary
    row_sent: bool = False
    """The row went out on a gate report already (it goes once per process)."""


class TestSession:
    """Per-process state behind the hooks (see the module docstring)."""

    __test__ = False  # not a test class, whatever its name says

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.is_worker = hasattr(config, "workerinput")
        self.run_id = str((getattr(config, "workerinput", None) or {}).get("testrunuid") or uuid.uuid4().hex)
        self.say = Progress(config)
        self._suites: dict[Path, Suite] = {}
        self.suites: dict[str, Suite] = {}
        self._variants: dict[str, SuiteVariants] = {}
        self.models = ModelChoice(config, settings, self.say)
        self._shards: Shards | None = None
        self._baselines: dict[str, Baseline | None] = {}
        self._baseline_errors: dict[str, str] = {}
        self._decided: dict[str, Decided] = {}
        """Per suite: its gates' verdicts and its summary row, decided once on the scores they name."""
        self.pytest_session: pytest.Session | None = None
        """Set once collection is done; :meth:`stop` ends the run through it."""
        self.stop_reason: str | None = None
        """Why the model cannot be used (the run stops after the first test that found out)."""

    # ------------------------------------------------------------------ collection

    def load_suite(self, path: Path) -> Suite:
        if path not in self._suites:
            suite = load_suite(path, root=self.settings.data_root)
            for other in self._suites.values():
                if other.name == suite.name:
                    problem = (
                        f"suite name '{suite.name}' is also used by {other.path} "
                        f"(both would share baselines/<profile>/{suite.name}.json)"
                    )
                    raise SuiteError(path, "name", problem, "set a distinct name: in one of them")
            self._suites[path] = suite
        return self._suites[path]

    def variants(self, suite_key: str, suite: Suite) -> dict[str, Variant]:
        """The tests of a suite by key, after ``pytest_medmodel_modify_variants`` (``--medmodel-limit`` applied).

        Every item's variant keys are built here too (beyond the limit), so a failing
        perturbation or hook is a collection error, never a crash at the end of the run.
        """
        if suite_key not in self._variants:

            def modify(suite: Suite, item: Item, variants: list[Variant]) -> None:
                self.config.hook.pytest_medmodel_modify_variants(
                    config=self.config, suite=suite, item=item, variants=variants
                )

            planned = SuiteVariants(suite, self.settings.limit, modify)
            planned.all_keys()
            self._variants[suite_key] = planned
            self.suites[suite_key] = suite
        return self._variants[suite_key].selected()

    def all_keys(self, suite_key: str) -> list[str]:
        """Every key the suite defines now, beyond ``--medmodel-limit``: baseline entries of other keys are stale."""
        return self._variants[suite_key].all_keys()

    def plan(self, selection: Mapping[str, tuple[Suite, Sequence[str]]]) -> None:
        """After collection and deselection: cut each suite's selected variants into shards."""
        for suite_key, (suite, keys) in selection.items():
            variants = self.variants(suite_key, suite)
            # Only the gate was selected: it evaluates the whole (limited) suite.
            self.shards.plan(suite_key, suite, variants, list(keys) or list(variants))

    # ------------------------------------------------------------------ model

    @property
    def shards(self) -> Shards:
        if self._shards is None:
            self._shards = stores.shards(self.settings, self.cache_folder(), self.run_id, self.say)
            self._shards.on_fallback = self.suites.__setitem__  # gates and the summary see the scoring used
        return self._shards

    def side_runner(self, progress: Callable[[str], None] | None = None) -> Runner:
        """A runner over the project's prediction cache for work after the tests (mutation report, search)."""
        return stores.side_runner(self.settings, self.cache_folder(), progress)

    def cache_folder(self) -> Path:
        return stores.cache_folder(self.config, self.run_id)

    def default_model(self) -> ModelHandle:
        """What the default ``medmodel`` fixture returns (:class:`ModelUnusable` when it cannot be built)."""
        return self.models.default()

    def use_model(self, value: Any) -> ModelHandle:
        """What the ``medmodel`` fixture returned, as the run's one model; stops the run when it is unusable."""
        try:
            handle = self.models.use(value)
        except ModelUnusable as exc:
            self.stop(str(exc))
        return handle

    @property
    def model(self) -> ModelHandle | None:
        """The run's model, once a test has asked for it."""
        return self.models.current

    def model_for(self, suite: Suite, model: ModelHandle | None = None) -> ModelHandle | None:
        """The model that answers ``suite``: the run's, or for a suite with images its model for images
        (:attr:`~pytest_medmodel.models.handle.ModelHandle.for_images`) when the run's takes none."""
        model = model or self.model
        return None if model is None else model.answering(any(item.images for item in suite.items))

    def stop(self, reason: str) -> NoReturn:
        """The model cannot be used: fail this test in one line and end the run after it (exit status 4)."""
        self.stop_reason = reason
        if self.pytest_session is not None:
            self.pytest_session.shouldstop = "the model cannot be used (above)"
        raise pytest.fail.Exception(visible(reason), pytrace=False) from None

    def score(self, suite_key: str, key: str, model: ModelHandle) -> ItemScore:
        answering = self.model_for(self.suites[suite_key], model) or model
        return self._answered(lambda: self.shards.score(suite_key, key, answering))

    def suite_scores(self, suite_key: str, model: ModelHandle) -> dict[str, ItemScore]:
        answering = self.model_for(self.suites[suite_key], model) or model
        return self._answered(lambda: self.shards.suite_scores(suite_key, answering))

    def _answered(self, compute: Callable[[], T]) -> T:
        """What ``compute`` returns; every failure of the model as one line (a traceback only when asked for)."""
        try:
            return compute()
        except Unservable as why:
            pytest.skip(visible(str(why)))
        except (ModelUnusable, MutationError) as exc:  # nothing can run: say it once and stop
            self.stop(str(exc))
        except AdapterRaised as exc:
            if self._tracebacks_wanted():
                raise exc.error from None  # the adapter's own traceback, as -v or --tb asked
            raise pytest.fail.Exception(visible(f"{exc}; -v or --tb=long shows its traceback"), pytrace=False) from None
        except (
            AdapterFault,
            ModelTimeout,
            PatternTimeout,
            ShardFailed,
            StoreError,
            AdapterError,
            UnusableImage,
        ) as exc:
            raise _one_line(exc) from None

    def _tracebacks_wanted(self) -> bool:
        option = self.config.option
        return getattr(option, "verbose", 0) > 0 or getattr(option, "tbstyle", "auto") not in ("auto", "no", "line")

    # ------------------------------------------------------------------ judging

    def baseline_location(self, suite: Suite) -> Path:
        model = self.model_for(suite)
        assert model is not None
        return self.baseline_folder.file(model.profile, suite.name)

    @property
    def baseline_folder(self) -> BaselineFolder:
        return BaselineFolder(self.settings.baseline_dir, Path(self.config.rootpath))

    def baseline(self, suite_key: str) -> Baseline | None:
        if suite_key not in self._baselines:
            try:
                self._baselines[suite_key] = self.baseline_folder.read(self.baseline_location(self.suites[suite_key]))
            except BaselineError as exc:
                self._baseline_errors[suite_key] = str(exc)
                self._baselines[suite_key] = None
        if suite_key in self._baseline_errors and not self.settings.update:
            # Not a model problem: one clean line, no traceback (still blocks baseline writes).
            pytest.fail(visible(self._baseline_errors[suite_key]), pytrace=False)
        return self._baselines[suite_key]  # on --snapshot-update an unreadable file is re-recorded

    def judge_item(self, node: pytest.Item, suite_key: str, score: ItemScore) -> None:
        baseline = self.baseline(suite_key)
        then = baseline.paired_entry(score) if baseline else None  # None too when the item changed since
        outcome = judge(score, then)
        attach(node, **{ITEM: ItemReport(suite_key, score, outcome.kind).to_json()})
        junit_item_properties(node, outcome.kind, score, then)
        message = visible(outcome.message)  # the answers are the model's and the baseline's text
        if outcome.kind in ("known_miss", "new_miss"):
            pytest.xfail(message)
        if outcome.kind == "regressed":
            if self.settings.strict and not self.settings.update:
                attach(node, **{VERDICT: "regressed"})
                pytest.fail(message, pytrace=False)
            node.add_report_section("call", "medmodel", message)  # shown with -rA

    def judge_gate(self, node: pytest.Item, suite_key: str, name: str, scores: Mapping[str, ItemScore]) -> None:
        suite = self.suites[suite_key]
        decided = self._decide(suite_key, scores)
        result = decided.verdicts[name]
        self.config.hook.pytest_medmodel_gate_result(config=self.config, suite=suite, result=result)
        status = "accepted" if self.settings.update and result.status == "failed" else result.status
        verdict = GateVerdict(name, status, result.message, dict(result.numbers))
        first = not decided.row_sent  # the row travels once per suite and process; the controller reuses it
        decided.row_sent = True
        row = decided.row if first else None
        attach(node, **{GATE: GateReport(suite_key, verdict, row, decided.digest if first else None).to_json()})
        node.user_properties.extend(  # JUnit properties for CI readers; a figure with no value is left out
            (f"medmodel.{key}", value) for key, value in result.numbers.items() if value is not None
        )
        node.user_properties.extend(junit_suite_properties(decided.row.stats, decided.row.metrics))
        message = visible(result.message)  # names item keys, answers and the baseline's model
        if status in ("passed", "accepted"):
            node.add_report_section("call", "medmodel", message)  # shown with -rP
        elif status == "skipped":
            pytest.skip(message)
        elif status == "failed":
            attach(node, **{VERDICT: "gate_failed"})
            pytest.fail(message, pytrace=False)

    def facts(self, suite_key: str) -> SuiteFacts:
        """What the reporting process needs to know about a suite (after scoring: a fallback changes it)."""
        suite = self.suites[suite_key]
        model = self.model_for(suite)
        answered = None if model is None or model is self.model else ModelSummary.of(model)
        note = model.chat_note if model else None
        if model is not None and model.image_capabilities is not None and any(it.images for it in suite.items):
            note = None  # its requests go to a chat endpoint (a served VLM): the server applies its template
        return SuiteFacts.of(suite, self.all_keys(suite_key), note, answered)

    def _decide(self, suite_key: str, scores: Mapping[str, ItemScore]) -> Decided:
        """The suite's gates, decided together (they share its alpha), and its summary row: once per suite."""
        digest = scores_digest(scores)
        decided = self._decided.get(suite_key)
        if decided is None or decided.digest != digest:
            suite = self.suites[suite_key]
            model = self.model_for(suite)
            assert model is not None
            location = relative_to(self.baseline_location(suite), self.config.rootpath)
            baseline = self.baseline(suite_key)
            facts = self.facts(suite_key)
            comparison = compare(
                facts.pairing,
                profile=model.profile,
                scores=scores,
                baseline=baseline,
                model_fingerprint=model.fingerprint,
            )
            contexts = {g: gate_context(suite, g, scores, baseline, comparison, location) for g in suite.gate_names}
            row = suite_row(suite_key, facts, comparison.stats(), scores, baseline)
            decided = self._decided[suite_key] = Decided(digest, judge_suite(contexts), comparison, row)
        return decided

    # ------------------------------------------------------------------ end of session

    def process_output(self) -> ProcessReport:
        """What this process knows that the reporting process needs (xdist ``workeroutput``, as plain data)."""
        model = self.model
        return ProcessReport(
            model=ModelSummary.of(model) if model else None,
            stats=self._shards.runner.stats if self._shards else RunStats(),
            model_seconds=model.load_seconds if model else 0.0,
            suites={key: self.facts(key) for key in self.suites},
            run_id=self.run_id if self._shards is not None else None,
            metrics_known=METRICS.names(),
        )

    def remove_run_stores(self, run_ids: Iterable[str]) -> None:
        """Delete this run's run-scoped prediction stores (and old ones a killed run left behind)."""
        stores.remove(self.config, self.cache_folder(), list(run_ids))

    def close(self) -> None:
        self.models.close()
        if self._shards is not None:
            self._shards.runner.close()


def _one_line(exc: Exception) -> BaseException:
    """A failure the plugin diagnosed itself (a bad answer, a timeout, an earlier failure) as one line.

    These are already complete sentences, so no traceback and no chain. (The adapter's
    own exceptions are one line too, unless ``-v`` or ``--tb`` asks for their traceback.)
    """
    return pytest.fail.Exception(visible(said(exc)), pytrace=False)


def visible(message: str) -> str:
    """A message for the terminal and JUnit: its lines kept, any control character from outside text
    (an answer, a server's error body, a committed baseline) shown as its escape."""
    return inert(message, lines=True)
