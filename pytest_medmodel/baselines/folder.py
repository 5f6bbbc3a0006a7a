"""Where baseline files may be read and written: inside the baseline folder, symlinks followed.

Everything under ``baselines/`` is committed, so a pull request controls it: a
profile folder that is a symlink to somewhere else on the CI machine, a
``baselines`` that is itself such a symlink, or an update journal naming
``demo/../../../x``. The plugin reads and writes a baseline file only when its
real path (symlinks resolved) lies inside the baseline folder, and the baseline
folder's real path inside the project when it is configured inside the project.
A baseline folder configured outside the project (an absolute ini path) is the
user's own choice and is confined to itself.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from .format import Baseline, BaselineError, read_baseline

SEGMENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
"""A profile or suite name: one plain path segment, never ``..``, never a slash."""


@dataclass(frozen=True)
class BaselineFolder:
    """The baseline folder of one project, with the rule of what may be touched inside it."""

    path: Path
    """The folder as configured (absolute, not resolved: a symlink here must stay visible)."""
    project: Path
    """The project's root folder (pytest's rootdir)."""

    def file(self, profile: str, suite: str) -> Path:
        """``<folder>/<profile>/<suite>.json`` (not checked: see :meth:`check`)."""
        return self.path / profile / f"{suite}.json"

    def named(self, name: str) -> Path | None:
        """The file an update journal names as ``<profile>/<suite>.json``; None for any other name."""
        parts = name.split("/")
        if len(parts) != 2 or not parts[1].endswith(".json"):
            return None
        profile, suite = parts[0], parts[1][: -len(".json")]
        if not (SEGMENT.match(profile) and SEGMENT.match(suite)):
            return None
        return self.file(profile, suite)

    def problem(self, path: Path | None = None) -> str | None:
        """Why ``path`` (default: the folder itself) may not be read or written; None when it may."""
        real_folder = self.path.resolve()
        if _within(self.path, self.project) and not _within(real_folder, self.project.resolve()):
            return f"the baseline folder {self.path} leads outside the project, to {real_folder} (a symlink?)"
        if path is None:
            return None
        real = path.resolve()
        if not _within(real, real_folder):
            return f"{self.shown(path)} leads to {real}, outside the baseline folder (a symlink?)"
        return None

    def check(self, path: Path | None = None) -> None:
        """Raise :class:`BaselineError` when :meth:`problem` finds one."""
        problem = self.problem(path)
        if problem is not None:
            raise BaselineError(f"{problem}; baselines are read and written only inside it")

    def read(self, path: Path) -> Baseline | None:
        """The baseline at ``path`` once :meth:`check` allows it (None: none yet)."""
        self.check(path)
        return read_baseline(path)

    def shown(self, path: Path) -> str:
        """``path`` as messages show it: relative to the project when it is inside, lexically."""
        try:
            return str(Path(os.path.normpath(path)).relative_to(os.path.normpath(self.project)))
        except ValueError:
            return str(path)


def _within(path: Path, folder: Path) -> bool:
    """Lexically: is ``path`` ``folder`` or below it (``..`` collapsed, nothing resolved)."""
    return Path(os.path.normpath(path)).is_relative_to(os.path.normpath(folder))
