#!/usr/bin/env bash
# make bench: runs every benchmark that exists and writes its figures.
set -euo pipefail
cd "$(dirname "$0")/.."
ran=0
for b in bench/*_bench.sh; do
  [[ -e "$b" ]] || continue
  echo "== $b"
  bash "$b"
  ran=$((ran + 1))
done
if (( ran == 0 )); then
  echo "make bench: no benchmark exists yet (the collector issue adds the first); nothing measured."
fi
