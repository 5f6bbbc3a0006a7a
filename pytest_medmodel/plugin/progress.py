"""Progress lines on the terminal while tests run, written only through pytest's public API.

Inference of a shard happens inside the first test that needs it, while pytest
is in the middle of a line of progress dots and output capture is on. The line
is written with ``TerminalReporter.write_line`` (which starts a fresh line when
the dots left one open) inside ``CaptureManager.global_and_fixture_disabled``.
xdist workers have no terminal: they write their lines to a file the controller
follows (:mod:`.worker_progress`), or stay quiet.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest

from ..text_safety import inert
from .worker_progress import WORKERINPUT_KEY, append_line

PREFIX = "[medmodel] "


class Progress:
    """Callable that prints one ``[medmodel] ...`` line (a no-op on xdist workers)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        workerinput = getattr(config, "workerinput", None)
        never = getattr(getattr(config, "option", None), "medmodel_progress", None) == "never"
        self.enabled = workerinput is None and not never
        self._worker_file = (workerinput or {}).get(WORKERINPUT_KEY)
        self._worker = str((workerinput or {}).get("workerid", "worker"))

    def __call__(self, message: str) -> None:
        if self._worker_file:  # an xdist worker whose controller follows its lines (worker_progress)
            append_line(self._worker_file, self._worker, message)
            return
        if not self.enabled:
            return
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        write_line = getattr(reporter, "write_line", None)
        if not callable(write_line):
            return  # -p no:terminal, or a reporter that cannot write lines
        with self._capture_disabled():
            ensure_newline = getattr(reporter, "ensure_newline", None)
            if callable(ensure_newline):
                ensure_newline()  # the reporter's own dots (a serial run)
            if self._mid_line():  # xdist's dots leave the line open without the reporter knowing
                self.config.get_terminal_writer().line()
            write_line(PREFIX + inert(message))  # a model's name, a suite's: no terminal control gets through

    def _mid_line(self) -> bool:
        """Whether the terminal's current line has text on it (public ``Config.get_terminal_writer``)."""
        get_writer = getattr(self.config, "get_terminal_writer", None)
        try:
            return bool(get_writer().width_of_current_line) if callable(get_writer) else False
        except (AssertionError, AttributeError):  # no terminal writer (a bare config in a script)
            return False

    def _capture_disabled(self) -> Any:
        capture = self.config.pluginmanager.get_plugin("capturemanager")
        disabled = getattr(capture, "global_and_fixture_disabled", None)
        return disabled() if callable(disabled) else contextlib.nullcontext()
