#!/usr/bin/env bash
# Tracking-plan enforcement cost per event in the enricher (in process, no infrastructure).
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python -m bench.plans "$@"
