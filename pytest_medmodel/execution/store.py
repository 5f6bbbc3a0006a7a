"""The prediction cache: results stored by a key of the model's identity and the request.

lm-evaluation-harness keys its response cache without the model (issues #2715,
#4063), so a second checkpoint silently gets the first one's scores. Here every
key starts with the model's fingerprint (a hash of its weights, tokenizer, dtype
and device kind), so a different model can never be served these answers.

Two stores share one interface: :class:`SQLiteStore`, one file that every xdist
worker opens (WAL mode), and :class:`MemoryStore` for a single process (plain
Python use, tests).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import time
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from ..locks import file_lock
from ..models.base import Request

CACHE_FORMAT = "pytest-medmodel-cache-v2"
"""Bumped whenever the meaning of a stored result changes, which empties the cache."""
STALE_RUN_SECONDS = 24 * 3600
"""Run-scoped stores older than this (left by killed runs) are removed with the next run's."""


def request_key(identity: str, request: Request) -> str:
    """Cache key of one request: the model's identity plus everything but the request's ``meta``."""
    return _key([CACHE_FORMAT, identity, request.identity()])


def chat_key(identity: str, messages: Sequence[Mapping[str, str]]) -> str:
    """Cache key of a rendered chat prompt (the chat template is part of the model's fingerprint)."""
    return _key([CACHE_FORMAT, identity, "chat", [dict(m) for m in messages]])


def _key(payload: Any) -> str:
    blob = json.dumps(payload, ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class Store(Protocol):
    """Plain-data results by key."""

    def get_many(self, keys: Iterable[str]) -> dict[str, dict[str, Any]]: ...

    def put_many(self, entries: Mapping[str, Mapping[str, Any]]) -> None: ...

    def close(self) -> None: ...


class StoreError(RuntimeError):
    """The prediction cache cannot be read or written (one line saying how to clear it)."""


class MemoryStore:
    """A store that lives as long as the process."""

    def __init__(self) -> None:
        self._data: dict[str, dict[str, Any]] = {}

    def get_many(self, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        return {k: self._data[k] for k in keys if k in self._data}

    def put_many(self, entries: Mapping[str, Mapping[str, Any]]) -> None:
        self._data.update({k: dict(v) for k, v in entries.items()})

    def close(self) -> None:
        pass


class SQLiteStore:
    """Results in one SQLite file (WAL), shared by every process of a run and by later runs."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.rebuilt: str | None = None
        """Set when the file was corrupt: what happened to it (a cache can always be rebuilt)."""
        # Switching to WAL does not wait on SQLite's busy timeout: two workers opening a
        # new file at once get "database is locked". Opening is serialised instead.
        with file_lock(path.with_name(path.name + ".open.lock")):
            try:
                self._db = self._open()
            except sqlite3.DatabaseError as exc:
                if isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc)):
                    # Busy is not damaged: another program holds the file; moving it aside would lose the cache.
                    raise StoreError(
                        f"the prediction cache {path} is locked by another process ({exc}); "
                        "let that process finish, or run with --medmodel-no-cache"
                    ) from exc
                aside = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
                for suffix in ("", "-wal", "-shm"):
                    with contextlib.suppress(FileNotFoundError):
                        os.replace(f"{path}{suffix}", f"{aside}{suffix}")
                self.rebuilt = (
                    f"the prediction cache {path} was unreadable ({exc}); moved to {aside.name}, starting empty"
                )
                warnings.warn(self.rebuilt, RuntimeWarning, stacklevel=2)
                self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(str(self.path), timeout=120, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("CREATE TABLE IF NOT EXISTS results (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            db.execute("SELECT COUNT(*) FROM results").fetchone()
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def get_many(self, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        keys = list(dict.fromkeys(keys))
        found: dict[str, dict[str, Any]] = {}
        with self._damage_reported():
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                for key, value in self._db.execute(f"SELECT key, value FROM results WHERE key IN ({marks})", chunk):
                    found[key] = json.loads(value)
        return found

    def put_many(self, entries: Mapping[str, Mapping[str, Any]]) -> None:
        rows = [(key, json.dumps(dict(value))) for key, value in entries.items()]
        with self._damage_reported(), self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("INSERT OR REPLACE INTO results (key, value) VALUES (?, ?)", rows)

    @contextlib.contextmanager
    def _damage_reported(self) -> Iterator[None]:
        try:
            yield
        except (sqlite3.DatabaseError, ValueError) as exc:
            raise StoreError(
                f"the prediction cache {self.path} is damaged ({exc}); "
                f"delete it (rm {self.path}*) or run pytest --cache-clear, and run again"
            ) from None

    def close(self) -> None:
        self._db.close()


def remove_run_stores(runs: Path, run_ids: Iterable[str]) -> None:
    """Delete the run-scoped stores of ``run_ids`` under ``runs``, and stores and batch locks older than a day.

    (Lock files are named after their batch and would otherwise only accumulate; a lock
    older than a day belongs to no running batch.)
    """
    for run_id in run_ids:
        shutil.rmtree(runs / run_id, ignore_errors=True)
    cutoff = time.time() - STALE_RUN_SECONDS
    for folder in (runs, runs.parent / "locks"):
        if not folder.is_dir():
            continue
        for entry in folder.iterdir():
            with contextlib.suppress(OSError):
                if entry.stat().st_mtime < cutoff:
                    shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink()
