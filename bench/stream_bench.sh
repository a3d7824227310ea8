#!/usr/bin/env bash
# Kafka clients and the stream engine's passthrough ceiling (bench/stream.py).
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python bench/stream.py "$@"
