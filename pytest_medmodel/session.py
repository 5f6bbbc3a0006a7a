"""The per-run state behind the plugin's hooks: suites, model, runner, results, baselines.

One :class:`MedModelSession` lives in ``config.stash`` for each pytest run (and
each xdist worker). The hooks in :mod:`pytest_medmodel.plugin` are a few lines
each and hand off here.

Where things happen:

* every process that runs tests (serial run or xdist worker) loads suites,
  plans shards, owns a model and judges items and gates;
* the process that sees every report (serial run or xdist controller) collects
  item records from reports and writes baselines at the very end, so a serial
  and a parallel run write the same bytes.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .baseline import Baseline, BaselineError, baseline_path, merge_baseline, read_baseline, record_for, write_baseline
from .gates import Comparison, accuracy_gate, compare
from .scoring import Prediction
from .suite import Suite, SuiteError, is_suite_path, load_suite

SESSION_KEY = pytest.StashKey["MedModelSession"]()

RECORD = "medmodel_record"
GATE = "medmodel_gate"
STATUS = "medmodel_status"
VERDICT = "medmodel_verdict"
WORKER_OUTPUT = "medmodel"


def get_session(config: pytest.Config) -> MedModelSession:
    return config.stash[SESSION_KEY]


@dataclass(frozen=True)
class Case:
    """The parameter of one item test: which item of which suite."""

    suite_key: str
    item_id: str


@dataclass
class Settings:
    spec: str | None
    profile: str | None
    device: str
    dtype: str
    batch_size: int | None
    limit: int | None
    strict: bool
    shard_size: int
    update: bool
    baseline_dir: Path
    cache_dir: Path | None

    @classmethod
    def from_config(cls, config: pytest.Config) -> Settings:
        from .options import read_settings

        return read_settings(cls, config)


@dataclass
class ModelInfo:
    name: str
    fingerprint: str | None
    profile: str
    description: str

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class MedModelSession:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.settings = Settings.from_config(config)
        self.is_worker = hasattr(config, "workerinput")
        self.run_id = (config.workerinput.get("testrunuid") if self.is_worker else None) or uuid.uuid4().hex  # type: ignore[attr-defined]
        self.suites: dict[str, Suite] = {}
        self._suites_by_path: dict[Path, Suite] = {}
        self._adapters: dict[int, Any] = {}
        self.adapter: Any = None
        self.model: ModelInfo | None = None
        self._runner: Any = None
        self._baselines: dict[str, Baseline | None] = {}
        self._baseline_errors: dict[str, str] = {}
        # Filled on the reporting process (serial run or xdist controller).
        self.records: dict[str, dict[str, dict[str, Any]]] = {}
        self.option_mass: dict[str, dict[str, float]] = {}
        """Per suite and item: total probability of the scored options (format diagnostic)."""
        self.gate_reports: dict[str, list[dict[str, Any]]] = {}
        self.errors: list[str] = []
        self.suite_info: dict[str, dict[str, Any]] = {}
        self.models: list[dict[str, Any]] = []
        self.stats: dict[str, Any] = {}
        self.update_outcomes: list[str] = []
        self.model_seconds = 0.0
        self._comparisons: list[tuple[str, Comparison, str]] | None = None
        self._gpu_pinned = False

    # ------------------------------------------------------------------ collection

    def load_suite(self, path: Path) -> Suite:
        if path not in self._suites_by_path:
            suite = load_suite(path)
            for other in self._suites_by_path.values():
                if other.name == suite.name:
                    raise SuiteError(path, "name", f"suite name '{suite.name}' is also used by {other.path} (both would share baselines/<profile>/{suite.name}.json)", "set a distinct name: in one of them")
            self._suites_by_path[path] = suite
        return self._suites_by_path[path]

    def plan(self, items: list[pytest.Item]) -> None:
        """After collection (and deselection): cut each suite's selected items into shards."""
        from .collect import SuiteFile

        selected: dict[str, list[str]] = {}
        for node in items:
            parent = node.parent
            if not isinstance(parent, SuiteFile) or parent.suite is None:
                continue
            self.suites[parent.nodeid] = parent.suite
            callspec = getattr(node, "callspec", None)
            if callspec is not None and "medmodel_case" in callspec.params:
                selected.setdefault(parent.nodeid, []).append(callspec.params["medmodel_case"].item_id)
            else:
                selected.setdefault(parent.nodeid, [])
        if selected:
            self.pin_gpu()  # a model from a conftest fixture: pin now, still before any test runs
        runner = self.runner
        for suite_key, ids in selected.items():
            if not ids:
                # Only the gate was selected: it evaluates the whole (limited) suite.
                suite = self.suites[suite_key]
                pool = suite.items[: self.settings.limit] if self.settings.limit else suite.items
                ids = [it.id for it in pool]
            runner.plan(suite_key, ids)

    # ------------------------------------------------------------------ model

    def pin_gpu(self) -> None:
        """On xdist worker ``gwK``, expose only GPU ``K mod n`` (once, before CUDA starts)."""
        if not self.is_worker or self._gpu_pinned:
            return
        self._gpu_pinned = True
        import sys

        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_initialized():
            import warnings

            warnings.warn("pytest-medmodel: CUDA was initialised before worker GPU pinning; this worker sees every GPU", stacklevel=1)
            return
        from .xdist import pin_worker_gpu

        pin_worker_gpu(str(self.config.workerinput.get("workerid", "")))  # type: ignore[attr-defined]

    @property
    def runner(self) -> Any:
        if self._runner is None:
            from .runner import Runner

            self._runner = Runner(
                cache_dir=self._cache_folder(),
                run_id=self.run_id,
                shard_size=self.settings.shard_size,
                progress=self.say,
            )
        return self._runner

    def _cache_folder(self) -> Path:
        cache = getattr(self.config, "cache", None)
        if cache is not None:
            return Path(cache.mkdir("medmodel"))
        import tempfile

        return Path(tempfile.gettempdir()) / f"pytest-medmodel-{self.run_id}"

    def build_adapter(self) -> Any:
        """The adapter for ``--medmodel`` / the ``medmodel`` ini key (the default fixture)."""
        from .models.base import AdapterError
        from .models.loading import ModelOptions, load_adapter

        if not self.settings.spec:
            raise AdapterError("no model given: pass --medmodel=SPEC, set the 'medmodel' ini key, or define a 'medmodel' fixture")
        started = time.perf_counter()
        self._limit_cpu_threads()
        options = ModelOptions(
            device=self.settings.device,
            dtype=self.settings.dtype,
            batch_size=self.settings.batch_size,
            cache_dir=self.settings.cache_dir,
            log=self.say,
        )
        adapter = load_adapter(self.settings.spec, options)
        self.adapter = adapter
        self.model_seconds = time.perf_counter() - started
        self.say(f"model ready in {self.model_seconds:.1f} s: {_describe(adapter)}")
        return adapter

    def use_adapter(self, value: Any) -> Any:
        """Normalise what the ``medmodel`` fixture returned (an adapter or a spec string)."""
        key = id(value)
        if key in self._adapters:
            return self._adapters[key]
        from .models.loading import ModelOptions, check_adapter, load_adapter, profile_for_spec

        spec = None
        adapter = value
        if isinstance(value, str):
            spec = value
            adapter = load_adapter(value, ModelOptions(self.settings.device, self.settings.dtype, self.settings.batch_size, self.settings.cache_dir, self.say))
        check_adapter(adapter, "the medmodel fixture")
        if spec is None and value is self.adapter:
            spec = self.settings.spec
        profile = self.settings.profile or getattr(adapter, "profile", None)
        if not profile:
            profile = profile_for_spec(spec) if spec else profile_for_spec("py:" + str(adapter.name))
        self.model = ModelInfo(name=str(adapter.name), fingerprint=adapter.fingerprint, profile=profile, description=_describe(adapter))
        self._adapters[key] = adapter
        return adapter

    def _limit_cpu_threads(self) -> None:
        """Parallel CPU workers would each grab every core; split the cores instead."""
        if not self.is_worker or self.settings.device not in ("auto", "cpu"):
            return
        count = int(self.config.workerinput.get("workercount", 1) or 1)  # type: ignore[attr-defined]
        if count > 1 and not os.environ.get("CUDA_VISIBLE_DEVICES"):
            import torch

            if not torch.cuda.is_available():
                torch.set_num_threads(max(1, (os.cpu_count() or 1) // count))

    # ------------------------------------------------------------------ judging

    def prediction(self, case: Case, adapter: Any) -> Prediction:
        suite = self.suites[case.suite_key]
        return self.runner.prediction(case.suite_key, suite, case.item_id, adapter)

    def suite_predictions(self, suite_key: str, adapter: Any) -> dict[str, Prediction]:
        return self.runner.predictions(suite_key, self.suites[suite_key], adapter)

    def baseline_location(self, suite: Suite) -> Path:
        assert self.model is not None
        return baseline_path(self.settings.baseline_dir, self.model.profile, suite.name)

    def baseline(self, suite_key: str) -> Baseline | None:
        if suite_key not in self._baselines:
            suite = self.suites[suite_key]
            try:
                self._baselines[suite_key] = read_baseline(self.baseline_location(suite))
            except BaselineError as exc:
                self._baseline_errors[suite_key] = str(exc)
                self._baselines[suite_key] = None
        if suite_key in self._baseline_errors and not self.settings.update:
            # Not a model problem: one clean line, no traceback (still blocks baseline writes).
            pytest.fail(self._baseline_errors[suite_key], pytrace=False)
        return self._baselines[suite_key]  # on --snapshot-update an unreadable file is re-recorded

    def judge_item(self, node: pytest.Item, case: Case, prediction: Prediction) -> None:
        suite = self.suites[case.suite_key]
        item = suite.item(case.item_id)
        record = record_for(suite, item, prediction)
        node.user_properties.append((RECORD, {"suite": case.suite_key, "item": item.id, "record": record, "mass": prediction.option_mass}))
        baseline = self.baseline(case.suite_key)
        then = baseline.items.get(item.id) if baseline else None
        if then is not None and then.get("hash") != record["hash"]:
            then = None  # the item changed since the baseline; nothing to compare with
        answer = record["answer"]
        key = suite.choice_key(item, item.answer)
        tie = " (near tie)" if prediction.near_tie else ""
        if prediction.correct:
            if then is not None and not then["correct"]:
                node.user_properties.append((STATUS, "improved"))
            return
        if then is None:
            pytest.xfail(f"wrong: answered {answer}, key {key}{tie}; no baseline entry")
        if not then["correct"]:
            pytest.xfail(f"known miss: answered {answer}, key {key}{tie}")
        node.user_properties.append((STATUS, "regressed"))
        message = f"regressed: answered {answer} (key {key}{tie}); the baseline answered {then['answer']}, correctly"
        if self.settings.strict and not self.settings.update:
            node.user_properties.append((VERDICT, "regressed"))
            pytest.fail(message, pytrace=False)
        node.add_report_section("call", "medmodel", message)  # shown with -rA

    def judge_gate(self, node: pytest.Item, gate: str, predictions: Mapping[str, Prediction]) -> None:
        suite_key = node.parent.nodeid  # type: ignore[union-attr]
        suite = self.suites[suite_key]
        records = {item_id: record_for(suite, suite.item(item_id), pred) for item_id, pred in predictions.items()}
        assert self.model is not None
        comparison = compare(
            suite=suite.name,
            profile=self.model.profile,
            records=records,
            baseline=self.baseline(suite_key),
            suite_ids=[it.id for it in suite.items],
            model_fingerprint=self.model.fingerprint,
            suite_fingerprint=suite.fingerprint,
        )
        location = _relative(self.baseline_location(suite), self.config.rootpath)
        result = accuracy_gate(comparison, suite.accuracy_gate, location)
        status = result.status
        if self.settings.update and status != "passed":
            status = "accepted"
        node.user_properties.append((GATE, {"suite_key": suite_key, "gate": gate, "status": status, "comparison": comparison.to_json(), "message": result.message}))
        if status in ("passed", "accepted"):
            node.add_report_section("call", "medmodel", result.message)  # shown with -rP
        if status == "skipped":
            pytest.skip(result.message)
        if status == "failed":
            node.user_properties.append((VERDICT, "gate_failed"))
            pytest.fail(result.message, pytrace=False)

    # ------------------------------------------------------------------ reporting process

    def on_report(self, report: pytest.TestReport) -> None:
        """Collect what tests found (serial run, or xdist controller receiving worker reports)."""
        if not _is_suite_nodeid(report.nodeid):
            return
        props = dict(report.user_properties)
        if report.failed and VERDICT not in props:
            self.errors.append(f"{report.nodeid} ({report.when}): {_first_line(report)}")
        if report.when != "call" and not (report.when == "setup" and report.skipped):
            return
        if RECORD in props:
            data = props[RECORD]
            self.records.setdefault(data["suite"], {})[data["item"]] = data["record"]
            if data.get("mass") is not None:
                self.option_mass.setdefault(data["suite"], {})[data["item"]] = float(data["mass"])
        if GATE in props:
            self.gate_reports.setdefault(props[GATE]["suite_key"], []).append(props[GATE])

    def process_output(self) -> dict[str, Any]:
        """What this process knows that the reporting process needs (xdist workeroutput)."""
        suites = {}
        for key, suite in self.suites.items():
            suites[key] = {
                "name": suite.name,
                "fingerprint": suite.fingerprint,
                "ids": [it.id for it in suite.items],
                "scoring": suite.scoring.method,
            }
        return {
            "model": self.model.to_json() if self.model else None,
            "stats": self._runner.stats.to_json() if self._runner else {},
            "model_seconds": self.model_seconds,
            "suites": suites,
        }

    def merge_output(self, output: Mapping[str, Any]) -> None:
        if output.get("model"):
            self.models.append(dict(output["model"]))
        from .runner import RunStats

        stats = RunStats(**{k: v for k, v in self.stats.items()}) if self.stats else RunStats()
        stats.merge(output.get("stats") or {})
        self.stats = stats.to_json()
        self.model_seconds = max(self.model_seconds, float(output.get("model_seconds") or 0.0))
        for key, info in (output.get("suites") or {}).items():
            self.suite_info.setdefault(key, dict(info))

    def finish(self, exitstatus: int) -> None:
        """End of run on the reporting process: write baselines on --snapshot-update."""
        if not self.is_worker and not self.suite_info:
            self.merge_output(self.process_output())
        self.comparisons()
        if not self.settings.update:
            return
        if not self.records:
            return
        if self.errors:
            self.update_outcomes.append(
                f"baselines left untouched: {len(self.errors)} test(s) hit a model or data error "
                f"(first: {self.errors[0]}); fix it and run --snapshot-update again"
            )
            return
        if exitstatus == pytest.ExitCode.INTERRUPTED:
            self.update_outcomes.append("baselines left untouched: the run was interrupted")
            return
        model = self.reporting_model()
        if model is None:
            if self.models:
                self.update_outcomes.append(f"baselines left untouched: workers disagree about the model ({self.models})")
            return
        for suite_key in sorted(self.records):
            info = self.suite_info.get(suite_key)
            if info is None:
                continue
            path = baseline_path(self.settings.baseline_dir, model["profile"], info["name"])
            try:
                old = read_baseline(path)
            except BaselineError as exc:
                self.update_outcomes.append(f"{_relative(path, self.config.rootpath)}: was unreadable ({exc}); recorded afresh from this run")
                old = None
            new, added, changed, dropped = merge_baseline(
                old,
                suite=info["name"],
                profile=model["profile"],
                model_name=model["name"],
                model_fingerprint=model["fingerprint"],
                suite_fingerprint=info["fingerprint"],
                scoring=info["scoring"],
                suite_ids=info["ids"],
                records=self.records[suite_key],
            )
            written = write_baseline(path, new)
            what = ", ".join(
                part
                for part in (
                    f"{len(added)} added" if added else "",
                    f"{len(changed)} changed" if changed else "",
                    f"{len(dropped)} stale dropped" if dropped else "",
                )
                if part
            )
            state = ("written" if old is None else "updated") if written else "unchanged"
            self.update_outcomes.append(f"{_relative(path, self.config.rootpath)}: {state}" + (f" ({what})" if what and written else ""))

    def reporting_model(self) -> dict[str, Any] | None:
        """The model every worker used (None if none loaded, or if they disagree)."""
        models = self.models or ([self.model.to_json()] if self.model else [])
        if len({(m["fingerprint"], m["profile"]) for m in models}) != 1:
            return None
        return models[0]

    def comparisons(self) -> list[tuple[str, Comparison, str]]:
        """(suite key, comparison, gate status) per suite that ran, for the summary table.

        Computed once, before any baseline is written, so an update shows what it replaced.
        """
        if self._comparisons is None:
            self._comparisons = self._compare_all()
        return self._comparisons

    def _compare_all(self) -> list[tuple[str, Comparison, str]]:
        rows = []
        model = self.reporting_model()
        for suite_key in sorted(set(self.records) | set(self.gate_reports)):
            gates = self.gate_reports.get(suite_key)
            if gates:
                rows.append((suite_key, Comparison.from_json(gates[0]["comparison"]), gates[0]["status"]))
                continue
            info = self.suite_info.get(suite_key)
            if info is None or model is None:
                continue
            path = baseline_path(self.settings.baseline_dir, model["profile"], info["name"])
            try:
                base = read_baseline(path)
            except BaselineError:
                base = None
            comparison = compare(
                suite=info["name"],
                profile=model["profile"],
                records=self.records[suite_key],
                baseline=base,
                suite_ids=info["ids"],
                model_fingerprint=model["fingerprint"],
                suite_fingerprint=info["fingerprint"],
            )
            rows.append((suite_key, comparison, "not run"))
        return rows

    # ------------------------------------------------------------------ output

    def say(self, message: str) -> None:
        """Progress on the terminal while tests run (serial runs; workers stay quiet)."""
        if self.is_worker:
            return
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        capture = self.config.pluginmanager.get_plugin("capturemanager")
        if reporter is None:
            return

        def emit() -> None:
            writer = reporter._tw  # the progress dots share this line; start a fresh one
            if writer.width_of_current_line:
                writer.line()
            writer.line(f"[medmodel] {message}")

        if capture is not None:
            with capture.global_and_fixture_disabled():
                emit()
        else:
            emit()

    def close(self) -> None:
        for adapter in self._adapters.values():
            close = getattr(adapter, "close", None)
            if callable(close):
                close()
        if self._runner is not None:
            self._runner.close()


def _describe(adapter: Any) -> str:
    describe = getattr(adapter, "describe", None)
    return describe() if callable(describe) else str(getattr(adapter, "name", type(adapter).__name__))


def _is_suite_nodeid(nodeid: str) -> bool:
    return is_suite_path(nodeid.split("::", 1)[0])


def _first_line(report: pytest.TestReport) -> str:
    text = report.longreprtext.strip().splitlines() if report.longrepr else []
    for line in reversed(text):
        if line.startswith("E "):
            return line[1:].strip()
    return text[-1] if text else "error"


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)

