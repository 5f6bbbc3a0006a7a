"""Where a test process keeps predictions: the project's cache, a run's own store, and their cleanup.

The prediction cache lives in pytest's cache folder (``.pytest_cache/d/medmodel``),
so ``pytest --cache-clear`` empties it. Each run also has a store of its own under
``runs/<run id>`` (shared by its xdist workers, removed at its end): with
``--medmodel-no-cache`` it serves everything, so nothing is read from or written
to the project's cache.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from ..execution.prompt_log import PromptLog
from ..execution.runner import Runner
from ..execution.shards import Shards
from ..execution.store import MemoryStore, SQLiteStore, remove_run_stores
from .settings import Settings


def cache_folder(config: pytest.Config, run_id: str) -> Path:
    cache = getattr(config, "cache", None)
    if cache is not None:
        return Path(cache.mkdir("medmodel"))
    return Path(tempfile.gettempdir()) / f"pytest-medmodel-{run_id}"


def shards(settings: Settings, root: Path, run_id: str, progress: Callable[[str], None]) -> Shards:
    """The test process's shards over the prediction cache (or the run's own store, without a cache)."""
    run_file = root / "runs" / run_id / "predictions.sqlite3"
    persistent = run_file if settings.no_cache else root / "predictions.sqlite3"
    runner = Runner(
        SQLiteStore(persistent),
        run_store=lambda: SQLiteStore(run_file),
        lock_dir=root / "locks",
        progress=progress,
        timeout=settings.timeout,
    )
    log = PromptLog(settings.log_prompts) if settings.log_prompts else None
    return Shards(runner, settings.shard_size, log)


def side_runner(settings: Settings, root: Path, progress: Callable[[str], None] | None) -> Runner:
    """A runner over the project's prediction cache for work after the tests (mutation report, search)."""
    store = MemoryStore() if settings.no_cache else SQLiteStore(root / "predictions.sqlite3")
    return Runner(store, lock_dir=root / "locks", timeout=settings.timeout, progress=progress)


def remove(config: pytest.Config, root: Path, run_ids: list[str]) -> None:
    """Delete the run-scoped stores of ``run_ids`` (and old ones a killed run left behind)."""
    if not run_ids:
        return  # nothing ran: leave the project's cache folder alone
    if getattr(config, "cache", None) is None:  # -p no:cacheprovider: the whole store was this run's
        for run_id in run_ids:
            shutil.rmtree(Path(tempfile.gettempdir()) / f"pytest-medmodel-{run_id}", ignore_errors=True)
        return
    remove_run_stores(root / "runs", run_ids)
