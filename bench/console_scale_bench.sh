#!/usr/bin/env bash
# Console pages at scale: needs the infrastructure (make bench starts it).
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/cdp migrate >/dev/null
.venv/bin/python bench/console_scale.py "$@"
