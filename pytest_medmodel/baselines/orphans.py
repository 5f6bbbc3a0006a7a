"""Baseline files that no suite owns any more (a suite renamed or removed), found so they can be mentioned.

A renamed suite starts a new baseline file and leaves the old one behind, where it
gates nothing and misleads reviewers. A file under the profile's folder is an
orphan when no suite file anywhere under the project root has its name (its
``name:`` key, else its file name), so running a single suite never flags the
others.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

from ..suite.types import SUITE_SUFFIXES, suite_stem

_SKIP = {"node_modules", "venv", "site-packages", "__pycache__", "build", "dist"}
_NAME = re.compile(r"^name:\s*['\"]?([A-Za-z0-9_.-]+)['\"]?\s*$", re.MULTILINE)


def suite_names(root: Path) -> set[str]:
    """Names of every suite file under ``root`` (hidden folders and virtual environments skipped)."""
    names: set[str] = set()
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in _SKIP]
        for file in files:
            if file.endswith(SUITE_SUFFIXES):
                path = Path(folder) / file
                try:
                    match = _NAME.search(path.read_text(encoding="utf-8", errors="replace"))
                except OSError:
                    match = None
                names.add(match.group(1) if match else suite_stem(path))  # a name: key wins over the file name
    return names


def orphaned(profile_dir: Path, root: Path, known: Iterable[str] = ()) -> list[Path]:
    """Baseline files in ``profile_dir`` whose suite exists nowhere under ``root``."""
    if not profile_dir.is_dir():
        return []
    files = sorted(p for p in profile_dir.glob("*.json") if p.stem not in set(known))
    if not files:
        return []
    names = suite_names(root)
    return [p for p in files if p.stem not in names]
