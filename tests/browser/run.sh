#!/usr/bin/env bash
# Headless Chromium end to end (Debian's chromium, playwright-core pinned in package.json).
# Usage: tests/browser/run.sh [path/to/gatehouse]   (default: target/debug/gatehouse)
set -euo pipefail
cd "$(dirname "$0")"
command -v chromium >/dev/null || { echo "FAIL: chromium is not installed (apt-get install -y chromium)"; exit 1; }
[ -d node_modules/playwright-core ] || npm ci --no-audit --no-fund --silent
GATEHOUSE_BIN="$(cd ../.. && realpath "${1:-target/debug/gatehouse}")" node run.mjs
