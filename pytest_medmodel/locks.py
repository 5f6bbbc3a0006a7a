"""Inter-process file locks: how xdist workers agree that one of them does a job.

A lock is an advisory ``flock`` on a small file. Whoever holds it computes (a
shard's predictions, a GGUF conversion); everyone else blocks, then finds the
result on disk. Locks vanish with the process, so a crashed worker never leaves
the others waiting.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no cross-process exclusion; every process computes for itself.
    fcntl = None  # type: ignore[assignment]


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if needed) for the ``with`` block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(os.open(path, os.O_RDWR | os.O_CREAT, 0o644)):
        yield


@contextlib.contextmanager
def folder_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on the folder ``path`` itself (created if needed); leaves no lock file behind."""
    path.mkdir(parents=True, exist_ok=True)
    with _locked(os.open(path, os.O_RDONLY)):
        yield


def append_locked(path: Path, data: bytes) -> None:
    """Append ``data`` to ``path`` (created if needed) while holding an exclusive lock on the file itself.

    Writers in several processes never interleave, and no lock file is left beside ``path``.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)) as fd:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]


@contextlib.contextmanager
def _locked(fd: int) -> Iterator[int]:
    """flock ``fd`` exclusively for the block (which gets ``fd``), then unlock and close it."""
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
