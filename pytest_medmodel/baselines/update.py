"""Writing a set of baseline files all or nothing, even when the process is killed half way.

An update may rewrite several files. Everything is merged, serialised and checked
first (every target writable, every text valid JSON with no NaN); only then is the
new content of every changed file written to a journal next to the baselines
(atomically), the files replaced one by one (each atomically), and the journal
removed. A run killed after the journal was written leaves a journal behind, and
the next run of the plugin in that project completes the update from it before
anything reads a baseline: the set is never left half old, half new. Updates of
one baseline folder are serialised by a lock on the folder itself (no lock file).

The journal and the baseline folder are committed content, so nothing here
writes outside the folder (:mod:`pytest_medmodel.baselines.folder`): a journal
naming anything but ``<profile>/<suite>.json`` files inside it is refused and
kept, and the sweep of killed writes' temporaries removes only names this
module gives them.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..locks import folder_lock
from .folder import SEGMENT, BaselineFolder
from .format import BaselineError

JOURNAL = ".medmodel-update.json"
JOURNAL_FORMAT = "pytest-medmodel/update-journal-v1"
_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.\d+\.tmp$")
"""The name :func:`_atomic_write` gives its temporary file: ``.<target name>.<pid>.tmp``."""


@dataclass(frozen=True)
class PlannedWrite:
    path: Path
    text: str


@dataclass(frozen=True)
class Completion:
    """What looking for an interrupted update found."""

    lines: list[str] = field(default_factory=list)
    """For the run summary (none when there was nothing to do)."""
    refused: bool = False
    """A journal was found that names files it may not, and was left in place: no update may run."""


def write_all(folder: BaselineFolder, writes: Sequence[PlannedWrite]) -> None:
    """Write every planned file, or none; raises :class:`BaselineError` (nothing written) when one cannot be."""
    if not writes:
        return
    for write in writes:
        folder.check(write.path)
        _check_target(write)
    root = folder.path
    with folder_lock(root):
        journal = root / JOURNAL
        payload = {"format": JOURNAL_FORMAT, "files": {os.path.relpath(w.path, root): w.text for w in writes}}
        _atomic_write(journal, json.dumps(payload, ensure_ascii=False))
        for write in writes:
            _atomic_write(write.path, write.text)
        journal.unlink(missing_ok=True)


def complete_interrupted(folder: BaselineFolder) -> Completion:
    """Finish an update a killed run left half done, if its journal names only this folder's baseline files.

    A journal is committed content like any other (a pull request can add one): it
    may name only ``<profile>/<suite>.json`` files whose real paths lie inside the
    baseline folder. A journal that names anything else is refused as a whole (not
    one byte written) and left in place for a person to look at.
    """
    root = folder.path
    journal = root / JOURNAL
    if not root.is_dir() or folder.problem() is not None:
        return Completion()
    _remove_stray_temporaries(folder)
    if not journal.is_file() and not journal.is_symlink():
        return Completion()
    shown = folder.shown(journal)
    with folder_lock(root):
        try:
            if journal.is_symlink():
                raise _Refused("it is a symlink")
            files = json.loads(journal.read_text(encoding="utf-8"))["files"]
            targets = [PlannedWrite(_target(folder, name), _text(name, text)) for name, text in files.items()]
        except _Refused as why:
            line = (
                f"{shown}: refused: {why}; an update journal may name only <profile>/<suite>.json files inside "
                f"{folder.shown(root)}; nothing was written and the journal was left in place: look at it "
                "(who committed it?), then delete it"
            )
            return Completion([line], refused=True)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            journal.unlink(missing_ok=True)
            return Completion(
                [
                    f"{shown}: the journal of an interrupted update was unreadable and was removed; "
                    "check the baselines with git status and re-run --snapshot-update if they look mixed"
                ]
            )
        if not journal.is_file():  # another process completed it while we waited
            return Completion()
        for write in targets:
            if not write.path.is_file() or write.path.read_text(encoding="utf-8") != write.text:
                _atomic_write(write.path, write.text)
        journal.unlink(missing_ok=True)
    names = ", ".join(sorted(os.path.relpath(w.path, root) for w in targets))
    return Completion(
        [f"completed an update that a killed run left half done: {len(targets)} baseline file(s) ({names})"]
    )


class _Refused(Exception):
    """A journal entry this folder may not write (the message says which and why)."""


def _target(folder: BaselineFolder, name: object) -> Path:
    path = folder.named(name) if isinstance(name, str) else None
    if path is None:
        raise _Refused(f"it names {json.dumps(name)[:200]}")
    problem = folder.problem(path)
    if problem is not None:
        raise _Refused(f"it names {json.dumps(name)}, and {problem}")
    return path


def _text(name: str, text: object) -> str:
    if not isinstance(text, str):
        raise _Refused(f"its entry for {json.dumps(name)} is not text")
    return text


def _remove_stray_temporaries(folder: BaselineFolder) -> None:
    """Temporary files of this plugin's writes that were killed before their rename (never read by anyone).

    Only names :func:`_atomic_write` gives, only where it writes (the folder itself
    for the journal, a profile folder for baseline files): a user's own ``.draft.tmp``
    anywhere under the folder is none of the plugin's business.
    """
    root = folder.path
    with folder_lock(root):  # nobody is writing while we hold it
        candidates = [root / entry for entry in os.listdir(root)]
        for profile in [p for p in candidates if SEGMENT.match(p.name) and p.is_dir() and not p.is_symlink()]:
            candidates += [profile / entry for entry in os.listdir(profile)]
        for stray in candidates:
            match = _TEMPORARY.match(stray.name)
            if match is None or stray.is_symlink() or not stray.is_file():
                continue
            ours = match["name"] == JOURNAL if stray.parent == root else match["name"].endswith(".json")
            if ours and folder.problem(stray) is None:
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
