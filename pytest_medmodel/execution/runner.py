"""Batched execution: every model call goes through :meth:`Runner.execute`, the cache and the locks.

``execute`` takes any batch of requests (choice scoring or generation, from suite
shards or from an ad-hoc search), serves what the prediction cache has, computes
the rest in one adapter call per request kind, validates the results, stores
them, and returns results in request order. It never loads the model when the
cache has everything.

Exactly-once across processes: the missing part of a batch is computed under a
file lock named after the batch's keys, so when two xdist workers want the same
batch one computes and the other waits and reads.

Shards (:mod:`pytest_medmodel.execution.shards`) are the usual callers: a suite's selected
items cut into fixed groups, each computed on first use.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..locks import file_lock
from ..models.base import (
    RESULT_TYPES,
    AdapterError,
    ChoiceRequest,
    GenerationRequest,
    GenerationResult,
    ModelUnusable,
    Request,
    Result,
)
from ..models.handle import ModelHandle
from .calls import AdapterCaller, AdapterRaised
from .run_stats import RunStats
from .store import MemoryStore, Store, chat_key, request_key

Progress = Callable[[str], None]


class Runner:
    """Serves requests from the cache or the model, once per request across processes.

    Args:
        store: where results of fingerprinted models are kept (shared across runs).
        run_store: where results of models without a fingerprint are kept; it must
            not outlive the run (default: memory). Built on first use.
        lock_dir: folder for cross-process locks (None: this process only).
        progress: receives one-line progress messages.
        timeout: seconds an adapter call may take (None: no limit).
    """

    def __init__(
        self,
        store: Store | None = None,
        *,
        run_store: Callable[[], Store] | None = None,
        lock_dir: Path | None = None,
        progress: Progress | None = None,
        timeout: float | None = None,
    ) -> None:
        self.store = store if store is not None else MemoryStore()
        self._run_store_factory = run_store or MemoryStore
        self._run_store: Store | None = None
        self.lock_dir = lock_dir
        self.progress = progress
        self.stats = RunStats()
        self.caller = AdapterCaller(timeout, progress)
        """Calls the adapter: time limit, result checks (see :mod:`pytest_medmodel.execution.calls`)."""

    def close(self) -> None:
        self.store.close()
        if self._run_store is not None:
            self._run_store.close()

    def _store_for(self, model: ModelHandle) -> tuple[Store, str]:
        if model.fingerprint:
            return self.store, model.fingerprint
        if self._run_store is None:
            self._run_store = self._run_store_factory()
        return self._run_store, f"run:{model.name}"

    # ------------------------------------------------------------------ requests

    def execute(
        self, requests: Sequence[Request], model: ModelHandle, *, label: str = "requests", detail: str = ""
    ) -> list[Result]:
        """Results for ``requests`` in order: from the cache, else from the model (once).

        ``label`` and ``detail`` name the batch in progress messages
        (``general_medicine shard 1/2 (64 items, letter)``).
        """
        store, identity = self._store_for(model)
        keys = [request_key(identity, r) for r in requests]
        found = store.get_many(keys)
        computed = 0
        if len(found) < len(set(keys)):
            with self._lock(keys):
                found.update(store.get_many(k for k in keys if k not in found))
                todo = [i for i, k in enumerate(keys) if k not in found and keys.index(k) == i]
                if todo:
                    what = f"{label} ({len(todo)} items{', ' + detail if detail else ''})"
                    fresh = self._infer([requests[i] for i in todo], model, what)
                    new = {keys[i]: result.to_json() for i, result in zip(todo, fresh, strict=True)}
                    store.put_many(new)
                    found.update(new)
                    computed = len(todo)
        self.stats.requests_cached += len(keys) - computed
        return [RESULT_TYPES[r.kind].from_json(found[k]) for r, k in zip(requests, keys, strict=True)]

    def chat(self, model: ModelHandle) -> ChatCache:
        """The model's chat formatter, answered from the cache when it can be."""
        store, identity = self._store_for(model)
        return ChatCache(model, store, identity, self.load)

    def load(self, model: ModelHandle) -> Any:
        """The model's adapter, built now if it was not yet (with a progress line before and after).

        A model that cannot be loaded is :class:`ModelUnusable`, whatever raised: nothing
        else can run, so the run stops with this one line.
        """
        if not model.loaded:
            self._say(f"loading the model: {model.describe().split(';')[0]}")
            try:
                model.adapter  # noqa: B018 - builds it
            except AdapterError as exc:
                raise ModelUnusable(str(exc)) from None
            except Exception as exc:
                raise ModelUnusable(f"{model.name}: cannot be loaded: {AdapterRaised(exc)}") from exc
            self._say(f"model ready in {model.load_seconds:.1f} s: {model.describe()}")
        return model.adapter

    @contextlib.contextmanager
    def _lock(self, keys: Sequence[str]) -> Iterator[None]:
        if self.lock_dir is None:
            yield
            return
        name = hashlib.sha256("".join(keys).encode()).hexdigest()[:24]
        with file_lock(self.lock_dir / f"{name}.lock"):
            yield

    def _infer(self, requests: Sequence[Request], model: ModelHandle, label: str) -> list[Result]:
        adapter = self.load(model)  # before the clock starts: loading is not inference
        started, wall_start = time.perf_counter(), time.time()
        self._say(f"inferring {label}")
        choice = [(i, r) for i, r in enumerate(requests) if isinstance(r, ChoiceRequest)]
        generation = [(i, r) for i, r in enumerate(requests) if isinstance(r, GenerationRequest)]
        results: list[Result | None] = [None] * len(requests)
        if choice:
            scored = self.caller.loglikelihood(adapter, model.name, [r for _, r in choice], label)
            for (i, _), result in zip(choice, scored, strict=True):
                results[i] = result
        if generation:
            texts = self.caller.generate(adapter, model.name, [r for _, r in generation], label)
            for (i, _), text in zip(generation, texts, strict=True):
                results[i] = GenerationResult(text)
        elapsed = time.perf_counter() - started
        self.stats.add_interval(wall_start, wall_start + elapsed)
        self.stats.shards_computed += 1
        self.stats.requests_computed += len(requests)
        self.stats.oom_backoffs = int(getattr(adapter, "oom_backoffs", 0))
        self._say(f"  {label}: done in {elapsed:.1f} s ({len(requests) / max(elapsed, 1e-9):.1f} items/s)")
        return [r for r in results if r is not None]

    def _say(self, message: str) -> None:
        if self.progress is not None:
            self.progress(message)


class ChatCache:
    """A chat formatter that asks the model only for prompts the cache has not seen.

    Rendering a chat template needs the tokenizer, so a fully cached rerun would
    otherwise load the model just to rebuild prompts. The template is part of the
    model's fingerprint, so a rendered prompt can be stored under it like a result.
    """

    def __init__(self, model: ModelHandle, store: Store, identity: str, load: Callable[[ModelHandle], Any]) -> None:
        self.model = model
        self.store = store
        self.identity = identity
        self.load = load
        self._pending: dict[str, dict[str, Any]] = {}

    def __call__(self, messages: Sequence[Mapping[str, str]]) -> str | None:
        key = chat_key(self.identity, messages)
        hit = self._pending.get(key) or self.store.get_many([key]).get(key)
        if hit is None:
            self.load(self.model)
            hit = {"text": self.model.format_chat([dict(m) for m in messages])}
            self._pending[key] = hit
        return hit["text"]

    def flush(self) -> None:
        """Store the prompts rendered since the last flush."""
        if self._pending:
            self.store.put_many(self._pending)
            self._pending = {}


__all__ = ["ChatCache", "Runner", "RunStats"]
