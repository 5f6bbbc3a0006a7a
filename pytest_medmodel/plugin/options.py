"""Command-line options and ini keys, in one place.

Option values stay strings and numbers (xdist ships them to workers); names are
resolved to objects later. Every flag has an ini twin where a project would want
to set it once.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from ..models.devices import DTYPES
from ..models.handle import PROFILE_NAME
from ..suite.types import is_suite_path
from .mutation_options import mutation, mutation_list
from .settings import PICTURE_BUDGET, Settings

MODEL = "--medmodel"
VISION = "--medmodel-vision"
PROFILE = "--medmodel-profile"
DEVICE = "--medmodel-device"
DTYPE = "--medmodel-dtype"
BATCH_SIZE = "--medmodel-batch-size"
LIMIT = "--medmodel-limit"
STRICT = "--medmodel-strict"
SHARD_SIZE = "--medmodel-shard-size"
TIMEOUT = "--medmodel-timeout"
TRUST_REMOTE_CODE = "--medmodel-trust-remote-code"
MUTATE = "--medmodel-mutate"
NO_CACHE = "--medmodel-no-cache"
LOG_PROMPTS = "--medmodel-log-prompts"
PROGRESS = "--medmodel-progress"
SEARCH = "--medmodel-search"
SEARCH_ITEMS = "--medmodel-search-items"
MUTATION_REPORT = "--medmodel-mutation-report"
BASELINE_DIR = "--medmodel-baseline-dir"
REPORT = "--medmodel-report"
REPORT_PICTURES = "--medmodel-report-pictures"
DEVICE_MAP = "--medmodel-device-map"
GPUS_PER_WORKER = "--medmodel-gpus-per-worker"

DEFAULT_SHARD_SIZE = 64


_FLAGS: list[tuple[str, dict[str, Any]]] = [
    (
        MODEL,
        {"metavar": "SPEC", "help": "model to test: a folder, a hub id, a .gguf file, 'demo', or py:module:factory"},
    ),
    (
        VISION,
        {
            "metavar": "SPEC",
            "help": "the model for suites whose items have images, when --medmodel's takes none (the demo pairs "
            "itself with demo-vlm)",
        },
    ),
    (
        PROFILE,
        {"metavar": "NAME", "help": "baseline profile to compare with and update (default: from the model spec)"},
    ),
    (DEVICE, {"metavar": "DEVICE", "help": "auto (default), cpu, cuda, cuda:N or mps"}),
    (
        DEVICE_MAP,
        {
            "metavar": "MAP",
            "help": "spread a model too large for one device over its worker's GPUs (accelerate): auto, balanced, "
            "balanced_low_0 or sequential",
        },
    ),
    (
        GPUS_PER_WORKER,
        {"metavar": "N", "help": "GPUs each xdist worker gets (default 1); -n auto starts one worker per group"},
    ),
    (DTYPE, {"metavar": "DTYPE", "help": "auto (float32 on CPU, bfloat16 on GPU), float32, bfloat16 or float16"}),
    (BATCH_SIZE, {"metavar": "N|auto", "help": "rows per forward pass; auto sizes them and halves on out-of-memory"}),
    (LIMIT, {"metavar": "N", "type": int, "help": "only the first N items of each suite (gates stay paired)"}),
    (STRICT, {"action": "store_true", "help": "fail an item test that was correct in the baseline and is now wrong"}),
    (SHARD_SIZE, {"metavar": "N", "type": int, "help": f"items per batched model call (default {DEFAULT_SHARD_SIZE})"}),
    (TIMEOUT, {"metavar": "SECONDS", "help": "longest a batched model call may take (default 3600; 0: no limit)"}),
    (TRUST_REMOTE_CODE, {"action": "store_true", "help": "let checkpoints run their own code (transformers auto_map)"}),
    (
        MUTATE,
        {
            "metavar": "SPEC",
            "help": "damage the model on load to see whether the gates notice, e.g. noise:scale=0.1, "
            "quantize:bits=4, drop_layers:count=2, zero_heads:fraction=0.5, no_chat_template "
            "(compared with the unmutated model's baselines)",
        },
    ),
    (
        MUTATION_REPORT,
        {
            "metavar": "LIST",
            "nargs": "?",
            "const": "default",
            "help": "after the run, run the suites against mutations of the model and show which each gate "
            "catches; LIST: specs separated by ';' (default: a ladder from mild noise to a dropped layer). Slow",
        },
    ),
    (
        NO_CACHE,
        {
            "action": "store_true",
            "help": "compute every prediction afresh, neither reading nor updating the prediction cache "
            "(.pytest_cache/d/medmodel; pytest --cache-clear empties it)",
        },
    ),
    (
        REPORT,
        {
            "metavar": "DIR",
            "help": "write report.json, report.md and report.html about this run to DIR (created if missing); "
            "report.md is also appended to $GITHUB_STEP_SUMMARY when that is set",
        },
    ),
    (
        REPORT_PICTURES,
        {
            "metavar": "KIB",
            "type": int,
            "help": "the report's thumbnails of image items together take at most KIB KiB (default 2048; 0: none)",
        },
    ),
    (
        LOG_PROMPTS,
        {
            "metavar": "FILE",
            "help": "write every request the model receives (chat template applied, verbatim) to FILE as JSON lines; "
            "select items with -k",
        },
    ),
    (
        PROGRESS,
        {
            "choices": ("auto", "always", "never"),
            "help": "[medmodel] progress lines: auto (default: always in a serial run; from -n workers only on a "
            "terminal), always, never",
        },
    ),
    (
        SEARCH,
        {
            "metavar": "N",
            "nargs": "?",
            "const": "32",
            "help": "after the run, look for the smallest change (typos, case, spacing, a distracting sentence, "
            "option order) that flips each right answer; N candidates per item (default 32)",
        },
    ),
    (SEARCH_ITEMS, {"metavar": "M", "help": "right answers searched per suite (default 20)"}),
    (BASELINE_DIR, {"metavar": "DIR", "help": "folder of baselines, relative to rootdir (default: baselines)"}),
]
"""Every flag; ``dest`` is the flag's name with ``_`` for ``-`` (``--medmodel-limit`` -> ``medmodel_limit``)."""

_INI: list[tuple[str, str, Any]] = [
    ("medmodel", "default model spec for --medmodel", ""),
    ("medmodel_vision", "default model spec for --medmodel-vision", ""),
    ("medmodel_profile", "default baseline profile", ""),
    ("medmodel_baseline_dir", "folder of baselines, relative to rootdir (default: baselines)", "baselines"),
    (
        "medmodel_cache_dir",
        "folder for converted GGUF checkpoints and file digests (default: ~/.cache/pytest-medmodel)",
        "",
    ),
    ("medmodel_device", "default for --medmodel-device", "auto"),
    ("medmodel_dtype", "default for --medmodel-dtype", "auto"),
    ("medmodel_batch_size", "default for --medmodel-batch-size", "auto"),
    ("medmodel_shard_size", "default for --medmodel-shard-size", str(DEFAULT_SHARD_SIZE)),
    ("medmodel_timeout", "default for --medmodel-timeout (seconds; 0: no limit)", "3600"),
]


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("medmodel", "model regression testing (pytest-medmodel)")
    for flag, spec in _FLAGS:
        group.addoption(flag, dest=flag.lstrip("-").replace("-", "_"), default=None, **spec)
    for name, help_text, default in _INI:
        parser.addini(name, help_text, default=default)
    parser.addini("medmodel_strict", "default for --medmodel-strict", type="bool", default=False)
    parser.addini("medmodel_trust_remote_code", "default for --medmodel-trust-remote-code", type="bool", default=False)
    parser.addini(
        "medmodel_allow_outside_data",
        "let suites read data files outside the rootdir (off: a suite in a pull request cannot read other files)",
        type="bool",
        default=False,
    )


def model_spec(config: pytest.Config) -> str | None:
    return config.getoption("medmodel") or str(config.getini("medmodel") or "").strip() or None


def asked_for(config: pytest.Config, settings: Settings) -> bool:
    """Whether this run asks for medmodel before collecting anything: a model spec, one of its flags, a suite file.

    A run that does not is left alone until it collects a suite (the plugin turns on then):
    nothing is built, registered or touched in a project that never uses a suite.
    """
    if settings.spec is not None:
        return True
    for flag, _ in _FLAGS:
        value = getattr(config.option, flag.removeprefix("--").replace("-", "_"), None)
        if value not in (None, False):
            return True
    return any(is_suite_path(str(arg).split("::", 1)[0]) for arg in config.args)


def read_settings(config: pytest.Config) -> Settings:
    """The run's :class:`Settings`; a bad value is a usage error naming the flag."""
    root = Path(config.rootpath)

    def pick(option: str) -> Any:
        value = config.getoption(option)
        return value if value is not None else config.getini(option)

    limit = config.getoption("medmodel_limit")
    if limit is not None and limit < 1:
        raise pytest.UsageError(f"{LIMIT}: expected a positive integer, got {limit}")
    dtype = str(pick("medmodel_dtype") or "auto")
    if dtype not in ("auto", *DTYPES):
        raise pytest.UsageError(f"{DTYPE}: unknown dtype '{dtype}'; use auto, {', '.join(DTYPES[:-1])} or {DTYPES[-1]}")
    cache_dir = str(config.getini("medmodel_cache_dir") or "").strip()
    profile = _profile(config.getoption("medmodel_profile") or str(config.getini("medmodel_profile") or "").strip())
    update = bool(getattr(config.option, "update_snapshots", False))
    mutate = mutation(config.getoption("medmodel_mutate"), update, profile, MUTATE, PROFILE)
    strict = config.getoption("medmodel_strict")
    trust = config.getoption("medmodel_trust_remote_code")
    return Settings(
        spec=model_spec(config),
        vision_spec=config.getoption("medmodel_vision") or str(config.getini("medmodel_vision") or "").strip() or None,
        profile=profile,
        device=str(pick("medmodel_device") or "auto"),
        dtype=dtype,
        batch_size=_batch_size(str(pick("medmodel_batch_size") or "auto")),
        limit=limit,
        strict=bool(strict if strict is not None else config.getini("medmodel_strict")),
        shard_size=_shard_size(pick("medmodel_shard_size")),
        update=update,
        # Not resolved: a committed symlink in it must stay visible to the confinement (baseline_folder.py).
        baseline_dir=Path(os.path.normpath(root / str(pick("medmodel_baseline_dir")))),
        cache_dir=(root / cache_dir).resolve() if cache_dir else None,
        data_root=None if config.getini("medmodel_allow_outside_data") else root.resolve(),
        timeout=_timeout(str(pick("medmodel_timeout"))),
        trust_remote_code=bool(trust if trust is not None else config.getini("medmodel_trust_remote_code")),
        mutate=mutate,
        no_cache=bool(config.getoption("medmodel_no_cache")),
        progress=str(config.getoption("medmodel_progress") or "auto"),
        log_prompts=(Path.cwd() / log).resolve() if (log := config.getoption("medmodel_log_prompts")) else None,
        report=(Path.cwd() / folder).resolve() if (folder := config.getoption("medmodel_report")) else None,
        report_pictures=_kib(config.getoption("medmodel_report_pictures")),
        device_map=_device_map(config.getoption("medmodel_device_map")),
        mutation_report=mutation_list(config.getoption("medmodel_mutation_report"), MUTATION_REPORT),
        search=_search(config.getoption("medmodel_search"), config.getoption("medmodel_search_items")),
    )


def _kib(value: int | None) -> int:
    if value is not None and value < 0:
        raise pytest.UsageError(f"{REPORT_PICTURES}: {value} is negative; give KiB, or 0 for no thumbnails")
    return PICTURE_BUDGET if value is None else value * 1024


DEVICE_MAPS = ("auto", "balanced", "balanced_low_0", "sequential")


def _device_map(value: str | None) -> str | None:
    if value is None:
        return None
    if value not in DEVICE_MAPS:
        raise pytest.UsageError(f"{DEVICE_MAP}: unknown value '{value}'; use one of {', '.join(DEVICE_MAPS)}")
    return value


def _search(candidates: str | None, items: str | None) -> tuple[int, int] | None:
    if candidates is None:
        return None
    values = []
    for flag, text, default in ((SEARCH, candidates, 32), (SEARCH_ITEMS, items, 20)):
        try:
            value = int(text) if text is not None else default
        except ValueError:
            value = 0
        if value < 1:
            raise pytest.UsageError(f"{flag}: expected a positive integer, got '{text}'")
        values.append(value)
    return values[0], values[1]


def _batch_size(text: str) -> int | None:
    text = text.strip().lower()
    if text == "auto":
        return None
    try:
        size = int(text)
    except ValueError:
        size = 0
    if size < 1:
        raise pytest.UsageError(f"{BATCH_SIZE}: expected a positive integer or 'auto', got '{text}'")
    return size


def _shard_size(value: Any) -> int:
    try:
        size = int(value)
    except ValueError:
        raise pytest.UsageError(f"{SHARD_SIZE}: expected a positive integer") from None
    if size < 1:
        raise pytest.UsageError(f"{SHARD_SIZE}: expected a positive integer, got {size}")
    return size


def _timeout(text: str) -> float | None:
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:
        raise pytest.UsageError(f"{TIMEOUT}: expected a number of seconds (0: no limit), got '{text}'")
    return seconds or None


def _profile(name: str) -> str | None:
    """A profile names a folder under the baseline folder: one plain path segment, never ``..`` or ``/``."""
    if not name:
        return None
    if not PROFILE_NAME.match(name):
        fix = "start with a letter, digit or '_', then letters, digits, '_', '.', '-' (no slashes)"
        raise pytest.UsageError(f"{PROFILE}: '{name}' is not a usable folder name; {fix}")
    return name
