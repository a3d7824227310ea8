#!/usr/bin/env bash
# Segmenter benchmark: needs the infrastructure (make bench starts it). Arguments go to
# bench/segmenter.py (e.g. --events 100000 --visitors 10000 for a quick look).
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/cdp migrate >/dev/null
.venv/bin/python bench/segmenter.py "$@"
