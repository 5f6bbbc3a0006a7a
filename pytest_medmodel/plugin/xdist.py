"""pytest-xdist integration: shard-aware scheduling, one worker per GPU, worker output merge.

Imported only when xdist is active. ``--dist loadgroup`` is not used: on pytest
9.2 it silently stops grouping (xdist #1386, see shared research). Instead a
``LoadScopeScheduling`` subclass maps each item test to its shard, so a shard's
tests go to one worker together and the shard is inferred there once. The
prediction cache's locks keep inference exactly-once even if a scheduler
splits a shard; the scheduler just avoids the waiting.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from xdist.scheduler import LoadScopeScheduling

from ..execution.shards import plan_shards
from ..models.devices import visible_gpus
from ..suite.types import is_suite_path
from .activation import activate
from .gpu import gpus_per_worker, worker_groups
from .progress import Progress
from .state import get_controller, get_session
from .wire import WORKER_OUTPUT
from .worker_progress import WORKERINPUT_KEY, ProgressTail


def shard_scopes(nodeids: Sequence[str], shard_size: int) -> dict[str, str]:
    """Work-unit scope for each test id: its suite's shard, its suite's gates, or itself.

    Workers plan shards from the same ordered selection with the same size
    (:func:`pytest_medmodel.execution.shards.plan_shards`), so both sides agree.
    """
    items_by_suite: dict[str, list[str]] = {}
    scopes: dict[str, str] = {}
    for nodeid in nodeids:
        path, _, rest = nodeid.partition("::")
        if is_suite_path(path) and rest.startswith("item["):
            items_by_suite.setdefault(path, []).append(nodeid)
        elif is_suite_path(path) and rest.startswith("gate["):
            scopes[nodeid] = f"{path}::gates"
        else:
            scopes[nodeid] = nodeid
    for path, ids in items_by_suite.items():
        for index, shard in enumerate(plan_shards(ids, shard_size)):
            for nodeid in shard:
                scopes[nodeid] = f"{path}::shard{index}"
    return scopes


class ShardScheduling(LoadScopeScheduling):
    """Load-scope scheduling where a scope is one inference shard."""

    def __init__(self, config: pytest.Config, log: object | None = None, shard_size: int = 64) -> None:
        super().__init__(config, log)
        self.shard_size = shard_size
        self._scopes: dict[str, str] | None = None

    def _split_scope(self, nodeid: str) -> str:
        if self._scopes is None:
            collection = self.collection or next(iter(self.registered_collections.values()))
            self._scopes = shard_scopes(collection, self.shard_size)
        return self._scopes.get(nodeid, nodeid)

    def remove_node(self, node: Any) -> str | None:
        """A worker finished or died: give its unfinished tests, and only those, to the others.

        xdist 3.8's ``LoadScopeScheduling.remove_node`` puts every scope the dead worker
        had back in the queue, completed ones included (pytest-xdist issues 1323 and
        1378): with many small scopes (our shards) the rerun tests confuse the
        bookkeeping and the run hung in 2 of 3 tries. Here only tests that never
        reported go back, and the test that was running when the worker died is
        reported as the crash (as xdist's ``load`` scheduler does), not run again.
        """
        workload = self.assigned_work.pop(node)
        if not self._pending_of(workload):
            return None
        crashitem = next(nodeid for unit in workload.values() for nodeid, done in unit.items() if not done)
        for scope, unit in workload.items():
            pending = {nodeid: False for nodeid, done in unit.items() if not done and nodeid != crashitem}
            if pending:
                self.workqueue[scope] = pending
        self._reschedule_ready()
        return crashitem

    def schedule(self) -> None:
        """Like xdist's, but once running, never hand work to a replacement worker still collecting.

        After a crash xdist adds the replacement worker at once and registers its
        collection later; rescheduling "all nodes" in between raised ``KeyError`` in
        xdist 3.8 (an INTERNALERROR that ended the run without a summary).
        """
        if self.collection is not None:
            self._reschedule_ready()
            return
        super().schedule()

    def _reschedule_ready(self) -> None:
        for node in list(self.assigned_work):
            if node in self.registered_collections:
                self._reschedule(node)
                self._keep_going(node)

    def _keep_going(self, node: Any) -> None:
        """Give ``node`` at least two pending tests, or tell it to stop after the one it has.

        A worker holds its last test until it learns the next one (or is told to shut
        down), and xdist hands out more work only when a test completes. A replacement
        worker given a single one-test unit (a suite's gates) would hold it forever; with
        ``-n 1`` nobody else completes anything, and the run hung after a crash.
        """
        if node.shutting_down:
            return
        while self.workqueue and self._pending_of(self.assigned_work[node]) < 2:
            self._assign_work_unit(node)
        if not self.workqueue:
            node.shutdown()


class ChosenOnCollection:
    """xdist's ``load`` scheduler until a worker's collection shows suite tests, then :class:`ShardScheduling`.

    xdist builds its scheduler before any worker collects, so a run that asked for
    nothing yet (its model comes from a conftest fixture, its suites from
    ``testpaths``) cannot know it will need shards. This stand-in passes every call
    to xdist's ``LoadScheduling`` and, at the first collection, keeps it (no suite
    test: the run is plain pytest) or swaps in the shard scheduler, replaying the
    nodes added so far. No work is handed out before a collection, so nothing is lost.
    """

    def __init__(self, config: pytest.Config, log: object, shard_size: int) -> None:
        from xdist.scheduler import LoadScheduling

        self._config, self._log, self._shard_size = config, log, shard_size
        self._inner: Any = LoadScheduling(config, log)
        self._added: list[Any] = []
        self._chosen = False

    @property  # type: ignore[misc]
    def __class__(self) -> type:  # what xdist prints with -v ("scheduling tests via ...")
        return type(self._inner)

    def add_node(self, node: Any) -> None:
        self._added.append(node)
        self._inner.add_node(node)

    def add_node_collection(self, node: Any, collection: Sequence[str]) -> None:
        if not self._chosen:
            self._chosen = True
            if any(is_suite_path(nodeid.split("::", 1)[0]) for nodeid in collection):
                self._inner = ShardScheduling(self._config, self._log, shard_size=self._shard_size)
                for added in self._added:
                    self._inner.add_node(added)
        self._inner.add_node_collection(node, collection)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class XdistHooks:
    """Hooks that exist only when xdist runs workers (registered from pytest_configure).

    Until the run asks for medmodel they stay out of the way: xdist's own scheduler
    (behind :class:`ChosenOnCollection`, which swaps in the shard scheduler only when
    a worker collects suite tests) and worker count, nothing sent to the workers. ``asked``: the run named a model,
    a medmodel flag or a suite file before collection (the scheduler is chosen then).
    """

    def __init__(
        self, config: pytest.Config, shard_size: int, model_active: bool, asked: bool, progress: str = "auto"
    ) -> None:
        self.config = config
        self.shard_size = shard_size
        self.model_active = model_active
        self.asked = asked
        self.progress = progress
        self.tail: ProgressTail | None = None

    def pytest_configure_node(self, node: Any) -> None:
        """Hand each worker the file its progress lines go to (followed by a thread here)."""
        if not self.asked or not self._show_worker_progress(node.config):
            return
        if self.tail is None:
            show = Progress(node.config)
            self.tail = ProgressTail(get_session(node.config).cache_folder() / "progress", show)
        node.workerinput[WORKERINPUT_KEY] = str(self.tail.path)

    def _show_worker_progress(self, config: pytest.Config) -> bool:
        if self.progress != "auto":
            return self.progress == "always"
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        return bool(getattr(reporter, "isatty", False))

    def close(self) -> None:
        if self.tail is not None:
            self.tail.close()
            self.tail = None

    @pytest.hookimpl(tryfirst=True)
    def pytest_xdist_auto_num_workers(self, config: pytest.Config) -> int | None:
        """``-n auto``: one worker per group of ``--medmodel-gpus-per-worker`` GPUs (else xdist's CPU count)."""
        if not self.model_active:
            return None
        gpus = visible_gpus()
        return len(worker_groups(gpus, gpus_per_worker(config))) if gpus else None

    def pytest_xdist_make_scheduler(
        self, config: pytest.Config, log: object
    ) -> ShardScheduling | ChosenOnCollection | None:
        """``--dist load`` (what ``-n`` means): shards as scopes, decided now or at the first collection."""
        if config.getvalue("dist") != "load":
            return None
        if self.asked:
            return ShardScheduling(config, log, shard_size=self.shard_size)
        return ChosenOnCollection(config, log, self.shard_size)

    def pytest_xdist_node_collection_finished(self, node: object, ids: Sequence[str]) -> None:
        """A worker collected a suite: turn on here too (the controller), before any test is scheduled."""
        if any(is_suite_path(nodeid.split("::", 1)[0]) for nodeid in ids):
            activate(self.config)

    def pytest_testnodedown(self, node: object, error: object) -> None:
        output = getattr(node, "workeroutput", {}).get(WORKER_OUTPUT)
        if output:
            from .payloads import ProcessReport

            activate(self.config)
            controller = get_controller(self.config)
            if controller is not None:
                controller.merge_output(ProcessReport.from_json(output))

    def pytest_handlecrashitem(self, crashitem: str, report: pytest.TestReport, sched: object) -> None:
        controller = get_controller(self.config)
        if controller is not None:
            controller.dead_workers.append(report.longreprtext.strip().splitlines()[-1])
