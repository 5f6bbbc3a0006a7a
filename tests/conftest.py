"""Shared fixtures: offline hub settings, tiny models, and a pytester project builder.

Tests that take more than a few seconds (real models, xdist or other subprocess runs) are marked
``slow`` and run after all the others, so a run reports the fast part first; the terminal summary
ends with one line timing each part. ``pytest tests -m "not slow"`` is the quick run for development;
CI runs everything.

torch and transformers are imported here, before any pytester run: pytester
restores ``sys.modules`` after each in-process run, and a torch imported inside
one run and dropped afterwards cannot be imported again in the same process. The same holds for
the ~320 parts of torch a transformers model module imports lazily (dynamo, distributed tensors),
some of which register torch operators: imported first inside an inner run, dropped, and imported
again by a later model build, they failed with "Only a single TORCH_LIBRARY can be used to register
the namespace c10d_functional". Importing one modeling module here (about 1.7 s) imports them all.
hypothesis too: its pytest plugin imports it at the end of every inner run, and
re-importing it each time costs about a second per run.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

_HF_HOME = tempfile.mkdtemp(prefix="medmodel-tests-hf-")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_HOME"] = _HF_HOME
os.environ.setdefault("MEDMODEL_CACHE_DIR", tempfile.mkdtemp(prefix="medmodel-tests-cache-"))
os.environ.pop("PYTEST_ADDOPTS", None)

import hypothesis  # noqa: E402,F401  (see module docstring)
import torch  # noqa: E402,F401
import transformers  # noqa: E402,F401
import transformers.models.llama.modeling_llama  # noqa: E402,F401  (torch's lazily imported parts: see above)

sys.path.insert(0, str(Path(__file__).parent))

ORACLE = '''
"""A test adapter that knows the answer key and can be told to get items wrong or to crash."""
import json, os
from pathlib import Path
from pytest_medmodel import ChoiceResult

KEY = json.loads((Path(__file__).parent / "answer_key.json").read_text())

class Oracle:
    def __init__(self, flips=(), crash_on=None, name="oracle"):
        self.flips = set(flips)
        self.crash_on = crash_on
        self.name = name
        self.fingerprint = name + ":" + ",".join(sorted(self.flips))

    def loglikelihood(self, requests):
        log = os.environ.get("ORACLE_LOG")
        if log:
            with open(log, "a") as handle:
                handle.write(f"{os.getpid()} {len(requests)} {os.environ.get('CUDA_VISIBLE_DEVICES', '-')}\\n")
        out = []
        for request in requests:
            item_id = request.meta["item"]
            if item_id == self.crash_on:
                raise RuntimeError(f"simulated CUDA error on {item_id}")
            once = not os.environ.get("ORACLE_KILL_ALWAYS")
            if item_id == os.environ.get("ORACLE_KILL_ON") and not (once and os.path.exists("killed.flag")):
                open("killed.flag", "w").close()  # once: like an OOM kill of one worker
                os.kill(os.getpid(), 9)
            right = KEY[item_id]
            pick = (right + 1) % len(request.continuations) if item_id in self.flips else right
            out.append(ChoiceResult(tuple(-0.4 if k == pick else -1.8 for k in range(len(request.continuations)))))
        return out

def _split(name):
    value = os.environ.get(name, "")
    return [v for v in value.split(",") if v]

def make():
    return Oracle(flips=_split("ORACLE_FLIPS"), crash_on=os.environ.get("ORACLE_CRASH_ON") or None)
'''


CONTENT_ORACLE = '''
"""A test adapter that answers by content: it gives the right option's text the highest score.

For option-text (loglikelihood) scoring, where continuations are the option texts, so
a variant that reorders the options is answered the same way a reading model would.
"""
import json
from pathlib import Path
from pytest_medmodel import ChoiceResult

TEXTS = json.loads((Path(__file__).parent / "answer_texts.json").read_text())

class ContentOracle:
    name = "content-oracle"
    fingerprint = "content-oracle-v1"

    def loglikelihood(self, requests):
        return [
            ChoiceResult(tuple(-0.4 if c.strip() == TEXTS[r.meta["item"]] else -1.8 for c in r.continuations))
            for r in requests
        ]

def make():
    return ContentOracle()
'''


FORGET = '''
import json, pathlib
from pytest_medmodel import mutation

@mutation("forget")
def forget(every: int = 2):
    """Answer every n-th item (in id order) wrong: damage a test adapter understands."""
    def apply(adapter):
        key = json.loads((pathlib.Path(__file__).parent / "answer_key.json").read_text())
        adapter.flips |= {item for i, item in enumerate(sorted(key)) if i % every == 0}
        return adapter
    return apply
'''
"""A conftest registering the ``forget`` mutation: the oracle answers every n-th item wrong."""


class Project:
    """A throwaway project with suites, an answer key and the oracle adapter."""

    def __init__(self, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
        self.pytester = pytester
        self.env = monkeypatch
        """The test's ``monkeypatch`` fixture: environment variables set through it are restored after the test."""
        self.path = pytester.path
        pytester.makeini("[pytest]\n")
        pytester.syspathinsert()
        (self.path / "oracle.py").write_text(ORACLE)
        (self.path / "content_oracle.py").write_text(CONTENT_ORACLE)
        self.key: dict[str, int] = {}
        self.texts: dict[str, str] = {}
        self._write_key()

    def _write_key(self) -> None:
        (self.path / "answer_key.json").write_text(json.dumps(self.key))
        (self.path / "answer_texts.json").write_text(json.dumps(self.texts))

    def suite(
        self,
        name: str,
        n: int = 20,
        *,
        prefix: str | None = None,
        task: str = "multiple_choice",
        scoring: str = "letter",
        extra_yaml: str = "",
        rows: Sequence[dict[str, Any]] | None = None,
    ) -> Path:
        """Write ``suites/<name>.suite.yaml`` with ``n`` items whose keys rotate A-D."""
        prefix = prefix or name[:2]
        suites = self.path / "suites"
        (suites / "data").mkdir(parents=True, exist_ok=True)
        if rows is None:
            rows = []
            for i in range(n):
                item_id = f"{prefix}-{i:03d}"
                if task == "multiple_choice":
                    choices = ["alpha", "beta", "gamma", "delta"]
                    row = {
                        "id": item_id,
                        "question": f"[{item_id}] Which option is right?",
                        "choices": choices,
                        "answer": "ABCD"[i % 4],
                        "tags": ["even" if i % 2 == 0 else "odd"],
                    }
                    self.key[item_id] = i % 4
                    self.texts[item_id] = choices[i % 4]
                else:
                    answer = ["yes", "no", "maybe"][i % 3]
                    row = {
                        "id": item_id,
                        "context": f"A fictional study number {i}.",
                        "question": f"[{item_id}] Did it work?",
                        "answer": answer,
                    }
                    self.key[item_id] = i % 3
                    self.texts[item_id] = answer
                rows.append(row)
        else:
            for row in rows:
                self.key.setdefault(str(row.get("id")), 0)
        (suites / "data" / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        text = f"task: {task}\ndata:\n  path: data/{name}.jsonl\nscoring: {scoring}\n{extra_yaml}"
        path = suites / f"{name}.suite.yaml"
        path.write_text(text)
        self._write_key()
        return path

    def paired_probes(self, name: str, groups: int) -> None:
        """A yes/no suite of ``groups`` probe pairs: ``pp-NNa`` (answer yes) and ``pp-NNb`` (answer no)."""
        rows = []
        for i in range(groups):
            for member, answer in (("a", "yes"), ("b", "no")):
                item = f"pp-{i:02d}{member}"
                rows.append({"id": item, "question": f"[{item}] Is it so?", "answer": answer, "group": f"pp-{i:02d}"})
                self.key[item] = 0 if answer == "yes" else 1
        self.suite(name, rows=rows, task="yes_no", scoring="loglikelihood")

    def run(
        self, *args: str, flips: Iterable[str] = (), crash_on: str | None = None, subprocess: bool = False
    ) -> pytest.RunResult:
        env = self.env
        env.setenv("ORACLE_FLIPS", ",".join(flips))
        env.setenv("ORACLE_CRASH_ON", crash_on or "")
        env.setenv("ORACLE_LOG", str(self.path / "oracle.log"))
        argv = ["suites", "--medmodel=py:oracle:make", "-p", "no:randomly", *args]
        if subprocess:
            return self.pytester.runpytest_subprocess(*argv)
        return self.pytester.runpytest(*argv)

    def calls(self) -> list[int]:
        """Batch sizes of every oracle call so far (one line per loglikelihood call)."""
        log = self.path / "oracle.log"
        if not log.exists():
            return []
        return [int(line.split()[1]) for line in log.read_text().splitlines()]

    def devices(self) -> set[str]:
        """CUDA_VISIBLE_DEVICES as each oracle call saw it."""
        log = self.path / "oracle.log"
        return {line.split()[2] for line in log.read_text().splitlines()} if log.exists() else set()

    def clear_calls(self) -> None:
        (self.path / "oracle.log").unlink(missing_ok=True)

    def baseline(self, suite: str, profile: str = "oracle-make") -> dict[str, Any]:
        return json.loads((self.path / "baselines" / profile / f"{suite}.json").read_text())

    def baseline_bytes(self) -> dict[str, bytes]:
        root = self.path / "baselines"
        if not root.exists():
            return {}
        return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Project:
    return Project(pytester, monkeypatch)


SLOW_PART = "medmodel-tests-slow-part"
"""The keyword a slow test's reports carry (a parameter id like ``slow`` is a keyword too, so not that)."""


@pytest.hookimpl(trylast=True)  # after any shuffle (pytest-randomly): each part keeps the order it has
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow-marked tests last, so that a run reports the fast part first."""
    fast = [item for item in items if item.get_closest_marker("slow") is None]
    slow = [item for item in items if item.get_closest_marker("slow") is not None]
    for item in slow:
        item.keywords[SLOW_PART] = True  # reports carry it, also from xdist workers
    items[:] = fast + slow


class _PartTimes:
    """How many tests each part (fast, slow) ran and their setup+call+teardown seconds, summed."""

    def __init__(self) -> None:
        self.tests: dict[str, set[str]] = {"fast": set(), "slow": set()}
        self.seconds: dict[str, float] = {"fast": 0.0, "slow": 0.0}
        self.workers: set[str] = set()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        part = "slow" if SLOW_PART in report.keywords else "fast"
        self.tests[part].add(report.nodeid)
        self.seconds[part] += report.duration
        node = getattr(report, "node", None)  # set by xdist on the reports of its workers
        if node is not None:
            self.workers.add(str(getattr(getattr(node, "gateway", None), "id", node)))

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not any(self.tests.values()):  # --collect-only, or nothing selected
            return
        parts = "; ".join(
            f"{part} part: {len(self.tests[part])} tests in {self.seconds[part]:.1f} s" for part in self.tests
        )
        if self.workers:
            parts += f" (test time summed over {len(self.workers)} xdist workers, not wall time)"
        terminalreporter.write_line(parts)


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # the xdist controller or a plain run: the one that reports
        config.pluginmanager.register(_PartTimes(), "medmodel-tests-part-times")


@pytest.fixture(autouse=True)
def _registries_restored() -> Iterator[None]:
    """Entries a test registers (directly or from a pytester conftest) never leak into other tests."""
    from pytest_medmodel import registry

    saved = registry.snapshot()
    yield
    registry.restore(saved)


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tiny_models import build_tiny_llama

    return build_tiny_llama(tmp_path_factory.mktemp("models") / "tiny-llama")


@pytest.fixture(scope="session")
def tiny_gpt2_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tiny_models import build_tiny_gpt2

    return build_tiny_gpt2(tmp_path_factory.mktemp("models") / "tiny-gpt2")


def outcomes(result: pytest.RunResult) -> dict[str, int]:
    """The summary line's counts, custom categories (regressed, improved) included."""
    return {k: v for k, v in result.parseoutcomes().items() if k not in ("seconds",)}


def expect_lines(result: pytest.RunResult, patterns: Sequence[str]) -> None:
    """``fnmatch_lines`` where ``[`` is literal (test ids and intervals are full of brackets)."""
    result.stdout.fnmatch_lines([p.replace("[", "[[]") for p in patterns])


def suite_error(suite: Path, root: Path | None = None) -> str:
    """The one-line :class:`SuiteError` loading ``suite`` raises (it must raise one, on one line)."""
    from pytest_medmodel import load_suite
    from pytest_medmodel.suite.errors import SuiteError

    with pytest.raises(SuiteError) as info:
        load_suite(suite, root=root)
    assert "\n" not in str(info.value)
    return str(info.value)
