"""What one run was asked to do, as plain values (read from flags and ini keys by :mod:`.options`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    spec: str | None
    """``--medmodel`` or the ``medmodel`` ini key; None when neither is set."""
    profile: str | None
    device: str
    dtype: str
    batch_size: int | None
    """None: sized automatically from a token budget."""
    limit: int | None
    """Only the first N items of each suite."""
    strict: bool
    shard_size: int
    update: bool
    """``--snapshot-update``: record baselines at the end of the run."""
    baseline_dir: Path
    cache_dir: Path | None
    data_root: Path | None = None
    """Local data files must lie inside this folder (the rootdir); None: anywhere (opted out)."""
