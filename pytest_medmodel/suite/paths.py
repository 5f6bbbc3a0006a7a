"""Which files are suites, and a suite's default name (its file name without the suffix)."""

from __future__ import annotations

from pathlib import Path

SUITE_SUFFIXES = (".suite.yaml", ".suite.yml")
"""Suite files are recognised by these suffixes only, so no other YAML is ever collected."""


def is_suite_path(path: Path | str) -> bool:
    return str(path).endswith(SUITE_SUFFIXES)


def suite_stem(path: Path | str) -> str:
    name = Path(path).name
    for suffix in SUITE_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return Path(path).stem
