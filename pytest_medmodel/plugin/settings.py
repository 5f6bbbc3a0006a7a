"""What one run was asked to do, as plain values (read from flags and ini keys by :mod:`.options`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PICTURE_BUDGET = 2 * 1024 * 1024
"""The report's thumbnails together, in bytes of base64 text, unless ``--medmodel-report-pictures`` says."""


@dataclass(frozen=True)
class Settings:
    spec: str | None
    """``--medmodel`` or the ``medmodel`` ini key; None when neither is set."""
    vision_spec: str | None
    """``--medmodel-vision`` or its ini key: the model for image suites when the main one takes no images."""
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
    timeout: float | None = 3600.0
    """Seconds one adapter call (a shard) may take; None: no limit."""
    trust_remote_code: bool = False
    """Let checkpoints run their own Python code (transformers ``trust_remote_code``)."""
    data_root: Path | None = None
    """Local data files must lie inside this folder (the rootdir); None: anywhere (opted out)."""
    mutate: str | None = None
    """``--medmodel-mutate``: the canonical mutation spec applied to the model on load, if any."""
    mutation_report: tuple[str, ...] | None = None
    """``--medmodel-mutation-report``: mutations to run the suites against after the run (None: off)."""
    no_cache: bool = False
    """``--medmodel-no-cache``: compute every prediction afresh; the prediction cache is neither read nor written."""
    log_prompts: Path | None = None
    """``--medmodel-log-prompts``: append every request sent to the model to this JSONL file."""
    device_map: str | None = None
    """``--medmodel-device-map``: how accelerate spreads a large model over the visible GPUs (None: one device)."""
    report: Path | None = None
    """``--medmodel-report``: the folder report.json, report.md and report.html are written to (None: off)."""
    report_pictures: int = PICTURE_BUDGET
    """``--medmodel-report-pictures``: bytes the report's thumbnails may take together (0: none)."""
    progress: str = "auto"
    """``--medmodel-progress``: ``auto``, ``always`` or ``never``."""
    search: tuple[int, int] | None = None
    """``--medmodel-search``: (candidates per item, right answers per suite), or None when off."""
