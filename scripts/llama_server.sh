#!/usr/bin/env bash
# A llama.cpp OpenAI-compatible server for the serving backend's tests (tests/test_serving.py):
# llama-cpp-python[server] in its own virtual environment, .venv-llama, so the project's
# environment stays as it is. PyPI has no wheel for it here, so pip compiles llama.cpp
# (about 4 minutes on 2 cores, once). MEDMODEL_LLAMA_PYTHON names another interpreter
# that has it.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
SPEC="llama-cpp-python[server]==0.3.36"
if [ -n "${MEDMODEL_LLAMA_PYTHON:-}" ] || .venv-llama/bin/python -c "import llama_cpp.server" 2>/dev/null; then
  exit 0
fi
echo "[setup] building $SPEC into .venv-llama (compiles llama.cpp; about 4 minutes on 2 cores, once)"
"$PYTHON" -m venv .venv-llama
LOG="$(mktemp)"
if ! CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" .venv-llama/bin/python -m pip install --disable-pip-version-check -q "$SPEC" >"$LOG" 2>&1; then
  tail -30 "$LOG" >&2
  echo "[setup] could not build $SPEC (above)" >&2
  exit 1
fi
echo "[setup] llama.cpp server ready: llama-cpp-python $(.venv-llama/bin/python -c 'import llama_cpp; print(llama_cpp.__version__)')"
