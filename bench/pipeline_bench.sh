#!/usr/bin/env bash
# Whole-pipeline benchmark: needs wrk (Debian) and the infrastructure (make bench starts it).
# Runs beside `make up` on private topics, schema and Redis DB. Arguments go to
# bench/pipeline.py (e.g. --configs aiokafka:1 --step-seconds 15 for a quick look).
set -euo pipefail
cd "$(dirname "$0")/.."
source deploy/local/common.sh
apt_install wrk
.venv/bin/cdp migrate >/dev/null
.venv/bin/python bench/pipeline.py "$@"
