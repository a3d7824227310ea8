#!/usr/bin/env bash
# The third-party analytics SDKs of the client matrix (tests/clients/package.json, pinned
# by its lock file), installed unmodified from npm into the data directory. Reinstalled
# only when the lock file changes.
source "$(dirname "$0")/common.sh"
command -v npm >/dev/null || die "npm is required for the client matrix (Node.js 20+)"
SRC="$ROOT/tests/clients"
DEST="$DATA/clients"
STAMP="$DEST/.lock.sha256"
want="$(sha256sum "$SRC/package-lock.json" | cut -d' ' -f1)"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" && -d "$DEST/node_modules" ]]; then
  log "client SDKs up to date"
  exit 0
fi
mkdir -p "$DEST"
cp "$SRC/package.json" "$SRC/package-lock.json" "$DEST/"
log "installing the client SDKs (npm ci into $DEST)"
(cd "$DEST" && npm ci --no-audit --no-fund --cache "$DATA/npm-cache" >/dev/null)
echo "$want" > "$STAMP"
log "client SDKs installed"
