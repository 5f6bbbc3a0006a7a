"""Progress lines on the terminal while tests run, written only through pytest's public API.

Inference of a shard happens inside the first test that needs it, while pytest
is in the middle of a line of progress dots and output capture is on. The line
is written with ``TerminalReporter.write_line`` (which starts a fresh line when
the dots left one open) inside ``CaptureManager.global_and_fixture_disabled``.
xdist workers stay quiet: they have no terminal, and their reports carry results.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest

PREFIX = "[medmodel] "


class Progress:
    """Callable that prints one ``[medmodel] ...`` line (a no-op on xdist workers)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.enabled = not hasattr(config, "workerinput")

    def __call__(self, message: str) -> None:
        if not self.enabled:
            return
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        write_line = getattr(reporter, "write_line", None)
        if not callable(write_line):
            return  # -p no:terminal, or a reporter that cannot write lines
        with self._capture_disabled():
            write_line(PREFIX + message)

    def _capture_disabled(self) -> Any:
        capture = self.config.pluginmanager.get_plugin("capturemanager")
        disabled = getattr(capture, "global_and_fixture_disabled", None)
        return disabled() if callable(disabled) else contextlib.nullcontext()
