#!/usr/bin/env bash
# Console benchmark: needs the infrastructure (make bench starts it).
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/cdp migrate >/dev/null
.venv/bin/python bench/console.py "$@"
