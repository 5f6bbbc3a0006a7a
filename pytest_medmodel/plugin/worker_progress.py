"""Progress lines from xdist workers on the controller's terminal.

xdist gives a worker no terminal and no channel for free-form output: its
reports reach the controller only when a test ends, and the first test of a
shard ends only after the shard's inference (minutes, on a big model). So
workers append their ``[medmodel]`` lines to a file in the project's cache
folder, named by the controller and handed to each worker in
``workerinput``; a daemon thread in the controller follows the file and prints
new lines as they arrive, prefixed with the worker's id.

Shown when the output is a terminal (or with ``--medmodel-progress=always``),
so CI logs stay as they were unless asked.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable
from pathlib import Path

WORKERINPUT_KEY = "medmodel_progress_file"
POLL_SECONDS = 0.5


def append_line(path: str, worker: str, message: str) -> None:
    """One line from a worker; a single small ``O_APPEND`` write, so lines from workers never interleave."""
    data = f"[{worker}] {message}".replace("\n", " ") + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data.encode("utf-8")[:4000])
    finally:
        os.close(fd)


class ProgressTail:
    """Follows the progress file in a background thread and hands each complete new line to ``show``."""

    def __init__(self, folder: Path, show: Callable[[str], None]) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"progress-{uuid.uuid4().hex}.log"
        self.path.write_bytes(b"")
        self._show = show
        self._offset = 0
        self._pending = b""
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="medmodel-progress", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            self.poll()

    def poll(self) -> None:
        with self._lock:
            try:
                with self.path.open("rb") as handle:
                    handle.seek(self._offset)
                    chunk = handle.read()
            except OSError:
                return
            self._offset += len(chunk)
            *lines, self._pending = (self._pending + chunk).split(b"\n")
            for line in lines:
                self._show(line.decode("utf-8", errors="replace"))

    def close(self) -> None:
        """Stop following, print what is left, remove the file."""
        self._stop.set()
        self._thread.join(timeout=5)
        self.poll()
        self.path.unlink(missing_ok=True)
