#!/usr/bin/env bash
# What the test suite needs besides .venv: Debian's Chromium (the HTML report's browser test)
# and a llama.cpp server (the serving backend's log-probability tests). Each is installed
# only when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/browser.sh
bash scripts/llama_server.sh
