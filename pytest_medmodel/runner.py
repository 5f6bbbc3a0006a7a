"""Shard planning, batched execution and the prediction cache.

Tests never call the model. The selected items of each suite are cut into
shards (consecutive items, in collection order); the first test that needs an
item's prediction computes its whole shard in one batched adapter call, and
every later test reads the result.

Exactly-once across processes: predictions are stored per request in a SQLite
file shared by all workers, keyed by the model's fingerprint and the rendered
request. A shard is computed under a file lock named after its keys, so when
two xdist workers want the same shard one computes and the other waits and
reads. The xdist scheduler (see :mod:`pytest_medmodel.xdist`) keeps shards on
one worker so the wait is rare; correctness does not depend on it.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .locks import file_lock
from .models.base import ChoiceRequest, ChoiceResult
from .scoring import Prediction, build_request, predict
from .suite import Item, Suite

CACHE_FORMAT = "choice-v1"
"""Bumped whenever the meaning of a stored result changes, which empties the cache."""


def plan_shards(item_ids: Sequence[str], shard_size: int) -> list[tuple[str, ...]]:
    """Consecutive groups of ``shard_size`` ids. Controller and workers call this on
    the same ordered selection, so they agree on shard membership without talking."""
    size = max(1, shard_size)
    return [tuple(item_ids[i : i + size]) for i in range(0, len(item_ids), size)]


def request_key(model_identity: str, request: ChoiceRequest) -> str:
    blob = json.dumps([CACHE_FORMAT, model_identity, request.context, list(request.continuations)], ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class PredictionStore:
    """Raw adapter results by request key, in one SQLite file (WAL, shared by workers)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        # Switching to WAL does not wait on SQLite's busy timeout: two workers opening a
        # new file at once get "database is locked". Opening is serialised instead.
        with file_lock(path.with_name(path.name + ".open.lock")):
            self._db = sqlite3.connect(str(path), timeout=120, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("CREATE TABLE IF NOT EXISTS results (key TEXT PRIMARY KEY, value TEXT NOT NULL)")

    def get_many(self, keys: Iterable[str]) -> dict[str, ChoiceResult]:
        keys = list(dict.fromkeys(keys))
        found: dict[str, ChoiceResult] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for key, value in self._db.execute(f"SELECT key, value FROM results WHERE key IN ({marks})", chunk):
                found[key] = ChoiceResult.from_json(json.loads(value))
        return found

    def put_many(self, entries: Mapping[str, ChoiceResult]) -> None:
        rows = [(key, json.dumps(result.to_json())) for key, result in entries.items()]
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("INSERT OR REPLACE INTO results (key, value) VALUES (?, ?)", rows)

    def close(self) -> None:
        self._db.close()


@dataclass
class RunStats:
    """What the runner did, for the summary (merged across workers)."""

    shards_computed: int = 0
    requests_computed: int = 0
    requests_cached: int = 0
    seconds: float = 0.0
    oom_backoffs: int = 0

    def merge(self, other: Mapping[str, Any]) -> None:
        for name in ("shards_computed", "requests_computed", "requests_cached", "oom_backoffs"):
            setattr(self, name, getattr(self, name) + int(other.get(name, 0)))
        self.seconds += float(other.get("seconds", 0.0))

    def to_json(self) -> dict[str, Any]:
        return {
            "shards_computed": self.shards_computed,
            "requests_computed": self.requests_computed,
            "requests_cached": self.requests_cached,
            "seconds": round(self.seconds, 3),
            "oom_backoffs": self.oom_backoffs,
        }


class ShardFailed(RuntimeError):
    """Inference failed on a shard; every test of that shard reports the same cause."""


@dataclass
class Runner:
    """Computes predictions shard by shard, once, and remembers them for the session."""

    cache_dir: Path
    """Holds ``predictions.sqlite3`` and the shard locks; opened on the first computation."""
    run_id: str
    shard_size: int
    progress: Callable[[str], None] | None = None
    stats: RunStats = field(default_factory=RunStats)
    _shards: dict[str, list[tuple[str, ...]]] = field(default_factory=dict)
    _shard_of: dict[tuple[str, str], int] = field(default_factory=dict)
    _done: dict[tuple[str, int], dict[str, Prediction]] = field(default_factory=dict)
    _failed: dict[tuple[str, int], BaseException] = field(default_factory=dict)
    _store: PredictionStore | None = None

    @property
    def store(self) -> PredictionStore:
        if self._store is None:
            self._store = PredictionStore(self.cache_dir / "predictions.sqlite3")
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def plan(self, suite_key: str, item_ids: Sequence[str]) -> None:
        """Record the selected items of a suite (in test order) and cut them into shards."""
        shards = plan_shards(item_ids, self.shard_size)
        self._shards[suite_key] = shards
        for index, shard in enumerate(shards):
            for item_id in shard:
                self._shard_of[(suite_key, item_id)] = index

    def shard_count(self, suite_key: str) -> int:
        return len(self._shards.get(suite_key, ()))

    def prediction(self, suite_key: str, suite: Suite, item_id: str, adapter: Any) -> Prediction:
        """The prediction for one selected item, computing its shard on first use."""
        index = self._shard_of.get((suite_key, item_id))
        if index is None:
            raise KeyError(f"item {item_id} of {suite_key} was not planned; call plan() with the selected items first")
        return self._shard(suite_key, suite, index, adapter)[item_id]

    def predictions(self, suite_key: str, suite: Suite, adapter: Any) -> dict[str, Prediction]:
        """Predictions for every selected item of a suite (what a gate needs)."""
        out: dict[str, Prediction] = {}
        for index in range(self.shard_count(suite_key)):
            out.update(self._shard(suite_key, suite, index, adapter))
        return out

    def _shard(self, suite_key: str, suite: Suite, index: int, adapter: Any) -> dict[str, Prediction]:
        key = (suite_key, index)
        if key in self._done:
            return self._done[key]
        if key in self._failed:
            cause = self._failed[key]
            raise ShardFailed(f"inference failed earlier on this shard: {type(cause).__name__}: {cause}") from cause
        try:
            result = self._compute(suite_key, suite, index, adapter)
        except BaseException as exc:
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            self._failed[key] = exc
            raise
        self._done[key] = result
        return result

    def _compute(self, suite_key: str, suite: Suite, index: int, adapter: Any) -> dict[str, Prediction]:
        items: list[Item] = [suite.item(i) for i in self._shards[suite_key][index]]
        identity = adapter.fingerprint or f"run:{self.run_id}:{adapter.name}"
        requests = [build_request(suite, item, adapter) for item in items]
        keys = [request_key(identity, req) for req in requests]
        found = self.store.get_many(keys)
        computed = 0
        if len(found) < len(set(keys)):
            shard_lock = hashlib.sha256("".join(keys).encode()).hexdigest()[:24]
            with file_lock(self.cache_dir / "locks" / f"{shard_lock}.lock"):
                found = self.store.get_many(keys)  # another worker may have finished it while we waited
                missing = [i for i, key in enumerate(keys) if key not in found]
                if missing:
                    label = f"{suite.name} shard {index + 1}/{self.shard_count(suite_key)}"
                    fresh = self._infer(suite, label, [requests[i] for i in missing], adapter)
                    new = {keys[i]: res for i, res in zip(missing, fresh)}
                    self.store.put_many(new)
                    found.update(new)
                    computed = len(missing)
                    self.stats.shards_computed += 1
                    self.stats.requests_computed += computed
        self.stats.requests_cached += len(keys) - computed
        return {item.id: predict(suite, item, found[key]) for item, key in zip(items, keys)}

    def _infer(self, suite: Suite, label: str, requests: list[ChoiceRequest], adapter: Any) -> list[ChoiceResult]:
        label = f"{label} ({len(requests)} items, {suite.scoring.method})"
        started = time.perf_counter()
        self._say(f"inferring {label}")
        method = adapter.loglikelihood
        if self.progress is not None and _accepts_progress(method):
            last = [started]

            def report(done: int, total: int) -> None:
                now = time.perf_counter()
                if now - last[0] >= 5.0 and done < total:
                    last[0] = now
                    self._say(f"  {label}: {done}/{total} items, {now - started:.0f} s")

            results = method(requests, progress=report)
        else:
            results = method(requests)
        results = list(results)
        if len(results) != len(requests):
            raise RuntimeError(f"{adapter.name}: loglikelihood returned {len(results)} results for {len(requests)} requests")
        for res in results:
            if not isinstance(res, ChoiceResult):
                raise TypeError(f"{adapter.name}: loglikelihood must return ChoiceResult objects, got {type(res).__name__}")
        elapsed = time.perf_counter() - started
        self.stats.seconds += elapsed
        self.stats.oom_backoffs = int(getattr(adapter, "oom_backoffs", 0))
        self._say(f"  {label}: done in {elapsed:.1f} s ({len(requests) / max(elapsed, 1e-9):.1f} items/s)")
        return results

    def _say(self, message: str) -> None:
        if self.progress is not None:
            self.progress(message)


def _accepts_progress(method: Callable[..., Any]) -> bool:
    import inspect

    try:
        return "progress" in inspect.signature(method).parameters
    except (TypeError, ValueError):
        return False
