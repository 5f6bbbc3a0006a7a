#!/usr/bin/env bash
# Install Debian's Chromium for the report's browser test (tests/test_report.py), when missing.
# Playwright drives this browser; its own browser download is not reachable here.
# MEDMODEL_CHROMIUM names another Chromium binary to use instead.
set -euo pipefail
BROWSER="${MEDMODEL_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$BROWSER" ]; then
  exit 0
fi
echo "[setup] installing Debian's chromium package (for the HTML report's browser test)"
SUDO=()
if [ "$(id -u)" != 0 ]; then
  SUDO=(sudo -n)
fi
LOG="$(mktemp)"
if ! { "${SUDO[@]}" apt-get update -q && DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -q chromium; } >"$LOG" 2>&1; then
  tail -20 "$LOG" >&2
  echo "[setup] could not install chromium (above); install it, or set MEDMODEL_CHROMIUM to a Chromium binary" >&2
  exit 1
fi
echo "[setup] $("$BROWSER" --version 2>/dev/null | head -1)"
