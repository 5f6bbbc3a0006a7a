"""The test process: suites, variants, the shard plan, the model, and judging items and gates.

One :class:`TestSession` lives in ``config.stash`` of every process that runs
tests (a serial run, or each xdist worker). The pytest hooks and the test
functions hand off to it; it hands off to the plain-Python core for everything
that is not about pytest (loading, scoring, comparing, gating). What the
reporting process needs travels on test reports (:mod:`pytest_medmodel.wire`).
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from .api import as_model, gate_context
from .baseline import Baseline, BaselineError, baseline_path, read_baseline, relative_to
from .calls import AdapterFault, ModelTimeout
from .gates.base import GateResult, run_gate
from .gates.comparison import Comparison, compare
from .metrics.base import METRICS
from .models.base import AdapterError
from .models.handle import ModelHandle
from .models.specs import ModelOptions, profile_for_spec
from .mutate.base import MutationError, mutate_handle
from .perturb.plan import SuiteVariants
from .prompt_log import PromptLog
from .records import ItemScore, judge
from .report.document import junit_suite_properties
from .report.summary import ModelSummary, suite_info, suite_summary
from .runner import Runner
from .scoring.extract import PatternTimeout
from .settings import Settings
from .shards import ShardFailed, Shards, Unservable
from .store import MemoryStore, SQLiteStore, StoreError, remove_run_stores
from .suite.loading import load_suite
from .suite.types import Item, Suite, SuiteError, Variant
from .terminal import Progress
from .wire import GATE, ITEM, VERDICT, attach, junit_item_properties

SESSION_KEY = pytest.StashKey["TestSession"]()


def get_session(config: pytest.Config) -> TestSession:
    return config.stash[SESSION_KEY]


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
        self._models: dict[int, ModelHandle] = {}
        self.model: ModelHandle | None = None
        self._shards: Shards | None = None
        self._baselines: dict[str, Baseline | None] = {}
        self._baseline_errors: dict[str, str] = {}
        self.stopped: str | None = None  # why the run stops after this test (see stop())

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
            root = self.cache_folder()
            run_file = root / "runs" / self.run_id / "predictions.sqlite3"
            # --medmodel-no-cache: the run's own store (shared by its workers, removed at its end) serves all.
            persistent = run_file if self.settings.no_cache else root / "predictions.sqlite3"
            runner = Runner(
                SQLiteStore(persistent),
                run_store=lambda: SQLiteStore(run_file),
                lock_dir=root / "locks",
                progress=self.say,
                timeout=self.settings.timeout,
            )
            log = PromptLog(self.settings.log_prompts) if self.settings.log_prompts else None
            self._shards = Shards(runner, self.settings.shard_size, log)
            self._shards.on_fallback = self.suites.__setitem__  # gates and the summary see the scoring used
        return self._shards

    def side_runner(self, progress: Callable[[str], None] | None = None) -> Runner:
        """A runner over the project's prediction cache for work after the tests (mutation report, search)."""
        root = self.cache_folder()
        store = MemoryStore() if self.settings.no_cache else SQLiteStore(root / "predictions.sqlite3")
        return Runner(store, lock_dir=root / "locks", timeout=self.settings.timeout, progress=progress)

    def cache_folder(self) -> Path:
        cache = getattr(self.config, "cache", None)
        if cache is not None:
            return Path(cache.mkdir("medmodel"))
        return Path(tempfile.gettempdir()) / f"pytest-medmodel-{self.run_id}"

    def model_options(self) -> ModelOptions:
        from .gpu import limit_cpu_threads

        s = self.settings
        return ModelOptions(
            s.device,
            s.dtype,
            s.batch_size,
            s.cache_dir,
            self.say,
            lambda: limit_cpu_threads(self.config, s.device),
            s.trust_remote_code,
            Path(self.config.rootpath),
            s.device_map,
        )

    def default_model(self) -> ModelHandle:
        """What the default ``medmodel`` fixture returns: the spec's model, built by the first hook that can."""
        if not self.settings.spec:
            raise AdapterError(
                "no model given: pass --medmodel=SPEC, set the 'medmodel' ini key, or define a 'medmodel' fixture"
            )
        return self._from_spec(self.settings.spec)

    def _from_spec(self, spec: str) -> ModelHandle:
        model = self.config.hook.pytest_medmodel_make_adapter(
            config=self.config, spec=spec, options=self.model_options()
        )
        if model is None:
            raise AdapterError(f"--medmodel={spec}: no pytest_medmodel_make_adapter implementation built it")
        if isinstance(model, ModelHandle):
            return model
        return ModelHandle.wrap(model, profile=profile_for_spec(spec), where=f"--medmodel={spec}")

    def use_model(self, value: Any) -> ModelHandle:
        """Normalise what the ``medmodel`` fixture returned: a handle, an adapter, or a spec string."""
        key = id(value)
        if key not in self._models:
            handle = self._from_spec(value) if isinstance(value, str) else as_model(value, where="the medmodel fixture")
            if self.settings.mutate:
                handle = mutate_handle(handle, self.settings.mutate)
            if self.settings.profile:
                handle.profile = self.settings.profile
            first = self.model
            if first is not None and (first.name, first.fingerprint, first.profile) != (
                handle.name,
                handle.fingerprint,
                handle.profile,
            ):
                raise pytest.fail.Exception(
                    f"this run uses two models, {first.name} (profile {first.profile}) and {handle.name} "
                    f"(profile {handle.profile}), from different medmodel fixtures; a run gates one model: "
                    "run each model's suites in a run of their own",
                    pytrace=False,
                )
            self._models[key] = handle
            self.model = handle
        return self._models[key]

    def score(self, suite_key: str, key: str, model: ModelHandle) -> ItemScore:
        try:
            return self.shards.score(suite_key, key, model)
        except MutationError as exc:
            raise self.stop(str(exc)) from None
        except Unservable as why:
            pytest.skip(str(why))
        except (AdapterFault, ModelTimeout, PatternTimeout, ShardFailed, StoreError) as exc:
            raise _one_line(exc) from None

    def suite_scores(self, suite_key: str, model: ModelHandle) -> dict[str, ItemScore]:
        try:
            return self.shards.suite_scores(suite_key, model)
        except MutationError as exc:
            raise self.stop(str(exc)) from None
        except Unservable as why:
            pytest.skip(str(why))
        except (AdapterFault, ModelTimeout, PatternTimeout, ShardFailed, StoreError) as exc:
            raise _one_line(exc) from None

    def stop(self, reason: str) -> BaseException:
        """This test's one-line failure; the run stops after it, exit 4 (see the plugin's makereport hook)."""
        self.stopped = reason
        return pytest.fail.Exception(reason, pytrace=False)

    # ------------------------------------------------------------------ judging

    def baseline_location(self, suite: Suite) -> Path:
        assert self.model is not None
        return baseline_path(self.settings.baseline_dir, self.model.profile, suite.name)

    def baseline(self, suite_key: str) -> Baseline | None:
        if suite_key not in self._baselines:
            try:
                self._baselines[suite_key] = read_baseline(self.baseline_location(self.suites[suite_key]))
            except BaselineError as exc:
                self._baseline_errors[suite_key] = str(exc)
                self._baselines[suite_key] = None
        if suite_key in self._baseline_errors and not self.settings.update:
            # Not a model problem: one clean line, no traceback (still blocks baseline writes).
            pytest.fail(self._baseline_errors[suite_key], pytrace=False)
        return self._baselines[suite_key]  # on --snapshot-update an unreadable file is re-recorded

    def judge_item(self, node: pytest.Item, suite_key: str, score: ItemScore) -> None:
        baseline = self.baseline(suite_key)
        then = baseline.entry(score.item_key) if baseline else None
        if then is not None and then.content_hash != score.content_hash:
            then = None  # the item changed since the baseline; nothing to compare with
        outcome = judge(score, then)
        attach(node, **{ITEM: {"suite": suite_key, "score": score.to_json(), "outcome": outcome.kind}})
        junit_item_properties(node, outcome.kind, score, then)
        if outcome.kind in ("known_miss", "new_miss"):
            pytest.xfail(outcome.message)
        if outcome.kind == "regressed":
            if self.settings.strict and not self.settings.update:
                attach(node, **{VERDICT: "regressed"})
                pytest.fail(outcome.message, pytrace=False)
            node.add_report_section("call", "medmodel", outcome.message)  # shown with -rA

    def judge_gate(self, node: pytest.Item, suite_key: str, name: str, scores: Mapping[str, ItemScore]) -> None:
        suite = self.suites[suite_key]
        result, comparison = self._decide(suite_key, name, scores)
        self.config.hook.pytest_medmodel_gate_result(config=self.config, suite=suite, result=result)
        status = "accepted" if self.settings.update and result.status == "failed" else result.status
        row = suite_summary(suite, suite_key, comparison.stats(), scores)
        summary = row.to_json()
        attach(
            node,
            **{
                GATE: {
                    "suite": suite_key,
                    "gate": name,
                    "status": status,
                    "message": result.message,
                    "numbers": dict(result.numbers),
                    "summary": summary,
                }
            },
        )
        for key, value in result.numbers.items():
            node.user_properties.append((f"medmodel.{key}", value))  # JUnit properties for CI readers
        node.user_properties.extend(junit_suite_properties(row.stats, row.metrics))
        if status in ("passed", "accepted"):
            node.add_report_section("call", "medmodel", result.message)  # shown with -rP
        elif status == "skipped":
            pytest.skip(result.message)
        elif status == "failed":
            attach(node, **{VERDICT: "gate_failed"})
            pytest.fail(result.message, pytrace=False)

    def _decide(self, suite_key: str, name: str, scores: Mapping[str, ItemScore]) -> tuple[GateResult, Comparison]:
        suite = self.suites[suite_key]
        assert self.model is not None
        location = relative_to(self.baseline_location(suite), self.config.rootpath)
        baseline = self.baseline(suite_key)
        comparison = compare(
            suite=suite.name,
            profile=self.model.profile,
            scores=scores,
            baseline=baseline,
            suite_keys=self.all_keys(suite_key),
            model_fingerprint=self.model.fingerprint,
            suite_fingerprint=suite.fingerprint,
            chance=suite.chance_by_item(),
            answers=suite.answers_by_item(),
        )
        return run_gate(gate_context(suite, name, scores, baseline, comparison, location), name), comparison

    # ------------------------------------------------------------------ end of session

    def process_output(self) -> dict[str, Any]:
        """What this process knows that the reporting process needs (xdist ``workeroutput``)."""
        suites = {key: suite_info(suite, self.all_keys(key)) for key, suite in self.suites.items()}
        model = self.model
        summary = ModelSummary(model.name, model.fingerprint, model.profile, model.describe()) if model else None
        return {
            "model": summary.to_json() if summary else None,
            "stats": self._shards.runner.stats.to_json() if self._shards else {},
            "model_seconds": model.load_seconds if model else 0.0,
            "suites": suites,
            "run_id": self.run_id if self._shards is not None else None,
            "metrics_known": list(METRICS.names()),
        }

    def remove_run_stores(self, run_ids: Iterable[str]) -> None:
        """Delete this run's run-scoped prediction stores (and old ones a killed run left behind)."""
        run_ids = list(run_ids)
        if not run_ids:
            return  # nothing ran: leave the project's cache folder alone
        if getattr(self.config, "cache", None) is None:  # -p no:cacheprovider: the whole store was this run's
            for run_id in run_ids:
                shutil.rmtree(Path(tempfile.gettempdir()) / f"pytest-medmodel-{run_id}", ignore_errors=True)
            return
        remove_run_stores(self.cache_folder() / "runs", run_ids)

    def close(self) -> None:
        for handle in self._models.values():
            handle.close()
        if self._shards is not None:
            self._shards.runner.close()


def _one_line(exc: Exception) -> BaseException:
    """A failure the plugin diagnosed itself (a bad answer, a timeout, an earlier failure) as one line.

    The first failure of a shard inside the adapter's own code keeps its traceback (it is
    the user's code); these are already complete sentences, so no traceback and no chain.
    """
    return pytest.fail.Exception(f"{type(exc).__name__}: {exc}", pytrace=False)
