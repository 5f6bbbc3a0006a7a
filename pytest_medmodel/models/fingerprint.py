"""Content fingerprints of model files, so a cache never serves one model's answers as another's.

lm-evaluation-harness keys its response cache without the model (issues #2715,
#4063): a second checkpoint silently gets the first one's scores. Here every
prediction key starts with a hash of the weights and tokenizer *contents*.
Hashing a 15 GB checkpoint takes a while, so a file's digest is remembered
against its (size, mtime, ctime, inode); an unchanged file is hashed once per
machine. The ctime is what makes the memo safe: tools that rewrite a file in
place and restore its mtime (``touch -r``, some sync tools) cannot restore the
ctime, which the kernel sets on every write, so the bytes are hashed again.
File timestamps are coarse (a few milliseconds), so, as git does with its index,
a digest is remembered only for a file whose last change is :data:`RACY_SECONDS`
old: a write in the same timestamp tick as the hashing cannot hide behind it.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

_SKIP_SUFFIXES = (".md", ".txt.lock", ".lock")
_SKIP_NAMES = {".gitattributes", "README", "LICENSE", "LICENSE.txt", "USE_POLICY.md"}
_MEMO_NAME = "file-digests.json"
RACY_SECONDS = 2.0
"""A file changed more recently than this is hashed, but its digest is not remembered."""


def file_digest(path: Path, memo_dir: Path | None = None) -> str:
    """Full SHA-256 of a file, memoised by stat in ``memo_dir`` when given."""
    path = Path(path).resolve()
    stat = path.stat()
    key = str(path)
    stamp = [stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino]
    memo_file = memo_dir / _MEMO_NAME if memo_dir is not None else None
    memo: dict[str, dict] = {}
    if memo_file is not None and memo_file.is_file():
        try:
            memo = json.loads(memo_file.read_text())
        except (OSError, ValueError):
            memo = {}
        hit = memo.get(key)
        if hit and hit.get("stamp") == stamp:
            return str(hit["sha256"])
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    value = digest.hexdigest()
    if memo_file is not None and time.time() - stat.st_ctime >= RACY_SECONDS:
        memo[key] = {"stamp": stamp, "sha256": value}
        _atomic_write(memo_file, json.dumps(memo, sort_keys=True))
    return value


def fingerprint_folder(folder: Path, memo_dir: Path | None = None) -> str:
    """Hash of every weight, config and tokenizer file in a model folder."""
    folder = Path(folder)
    digest = hashlib.sha256()
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = file.relative_to(folder).as_posix()
        if rel.startswith(".") or file.name in _SKIP_NAMES or file.name.endswith(_SKIP_SUFFIXES):
            continue
        digest.update(rel.encode())
        digest.update(file_digest(file, memo_dir).encode())
    return digest.hexdigest()[:20]


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
