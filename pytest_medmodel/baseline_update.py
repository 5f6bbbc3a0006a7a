"""Writing a set of baseline files all or nothing, even when the process is killed half way.

An update may rewrite several files. Everything is merged, serialised and checked
first (every target writable, every text valid JSON with no NaN); only then is the
new content of every changed file written to a journal next to the baselines
(atomically), the files replaced one by one (each atomically), and the journal
removed. A run killed after the journal was written leaves a journal behind, and
the next run of the plugin in that project completes the update from it before
anything reads a baseline: the set is never left half old, half new. Updates of
one baseline folder are serialised by a lock on the folder itself (no lock file).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .baseline import BaselineError
from .locks import folder_lock

JOURNAL = ".medmodel-update.json"
JOURNAL_FORMAT = "pytest-medmodel/update-journal-v1"


@dataclass(frozen=True)
class PlannedWrite:
    path: Path
    text: str


def write_all(root: Path, writes: Sequence[PlannedWrite]) -> None:
    """Write every planned file, or none; raises :class:`BaselineError` (nothing written) when one cannot be."""
    if not writes:
        return
    for write in writes:
        _check_target(write)
    with folder_lock(root):
        journal = root / JOURNAL
        payload = {"format": JOURNAL_FORMAT, "files": {os.path.relpath(w.path, root): w.text for w in writes}}
        _atomic_write(journal, json.dumps(payload, ensure_ascii=False))
        for write in writes:
            _atomic_write(write.path, write.text)
        journal.unlink(missing_ok=True)


def complete_interrupted(root: Path) -> list[str]:
    """Finish an update a killed run left half done (lines for the summary; none when there was none)."""
    journal = root / JOURNAL
    if not root.is_dir():
        return []
    _remove_stray_temporaries(root)
    if not journal.is_file():
        return []
    with folder_lock(root):
        try:
            files = json.loads(journal.read_text(encoding="utf-8"))["files"]
            targets = [PlannedWrite(root / rel, text) for rel, text in files.items()]
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            journal.unlink(missing_ok=True)
            return [
                f"{journal}: the journal of an interrupted update was unreadable and was removed; "
                "check the baselines with git status and re-run --snapshot-update if they look mixed"
            ]
        if not journal.is_file():  # another process completed it while we waited
            return []
        for write in targets:
            if not write.path.is_file() or write.path.read_text(encoding="utf-8") != write.text:
                _atomic_write(write.path, write.text)
        journal.unlink(missing_ok=True)
    names = ", ".join(sorted(str(w.path.relative_to(root)) for w in targets))
    return [f"completed an update that a killed run left half done: {len(targets)} baseline file(s) ({names})"]


def _remove_stray_temporaries(root: Path) -> None:
    """Temporary files of writes that were killed before their rename (never read by anyone)."""
    with folder_lock(root):  # nobody is writing while we hold it
        for stray in root.rglob(".*.tmp"):
            if stray.is_file():
                stray.unlink(missing_ok=True)


def _check_target(write: PlannedWrite) -> None:
    """Fail before anything is written if this file could not be written."""
    try:
        json.loads(write.text, parse_constant=_refuse)
    except ValueError as exc:
        raise BaselineError(f"{write.path}: would not be valid JSON ({exc}); this is a bug, please report it") from None
    if write.path.is_dir():
        raise BaselineError(f"{write.path}: is a directory; move it away so the baseline can be written")
    parent = write.path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise BaselineError(f"{parent}: a part of this path is a file, not a folder; move it away") from None
    except OSError as exc:
        raise BaselineError(f"{parent}: cannot be created ({exc.strerror}); check the permissions") from None
    if not os.access(parent, os.W_OK):
        raise BaselineError(f"{parent}: is not writable; check the permissions")


def _refuse(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
