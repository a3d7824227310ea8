#!/usr/bin/env bash
# Scale-out benchmark: N instances of the enricher and the segmenter, each in its own CPU
# cgroup (needs root and the cgroup v1 cpu controller). Arguments go to bench/scaleout.py
# (e.g. --stage segmenter --instances 1,2,4 --count 100000 for a quicker look).
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -w /sys/fs/cgroup/cpu ]]; then
  echo "scaleout: /sys/fs/cgroup/cpu is not writable (run as root on a cgroup v1 host); skipped"
  exit 0
fi
.venv/bin/cdp migrate >/dev/null
.venv/bin/python bench/scaleout.py "$@"
