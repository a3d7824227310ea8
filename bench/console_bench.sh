#!/usr/bin/env bash
# Console benchmark: needs wrk (Debian) and the infrastructure (make bench starts it).
set -euo pipefail
cd "$(dirname "$0")/.."
source deploy/local/common.sh
apt_install wrk
.venv/bin/cdp migrate >/dev/null
.venv/bin/python bench/console.py "$@"
