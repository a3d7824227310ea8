#!/usr/bin/env bash
# Runs every service that exists in the background, with logs and pid files under .data/.
# Usage: services.sh up|down|status|logs
# Settings come from the caller's environment (CDP_*), passed through unchanged.
source "$(dirname "$0")/common.sh"
BIN="$ROOT/.venv/bin"

# name | package dir | health URL | command
services() {
  local cport="${CDP_COLLECTOR_PORT:-8080}"
  local eport="${CDP_ENRICHER_METRICS_PORT:-9101}"
  echo "collector|services/collector|http://127.0.0.1:$cport/readyz|$BIN/cdp-collector"
  echo "enricher|services/enricher|http://127.0.0.1:$eport/metrics|$BIN/cdp-enricher"
  echo "segmenter|services/segmenter|http://127.0.0.1:${CDP_SEGMENTER_METRICS_PORT:-9102}/metrics|$BIN/cdp-segmenter"
  echo "sandbox-ma|services/syncer|http://127.0.0.1:${CDP_SANDBOX_PORT:-8091}/healthz|$BIN/cdp sandbox-ma --port ${CDP_SANDBOX_PORT:-8091}"
  echo "syncer|services/syncer|http://127.0.0.1:${CDP_SYNC_METRICS_PORT:-9103}/metrics|$BIN/cdp-syncer"
  echo "console|services/console|http://127.0.0.1:${CDP_CONSOLE_PORT:-8090}/readyz|$BIN/cdp-console"
}

# The configuration file services and `cdp` commands both read (cdp_common.settings):
# what a user put there last time is kept, the caller's environment wins over it, and
# what the services are started with is written back, so that `cdp leads retry` from any
# shell in the project sees the same destinations and secrets.
CONFIG="${CDP_CONFIG:-$DATA/cdp.env}"
if [[ -f "$CONFIG" ]]; then
  while IFS='=' read -r key value; do
    [[ "$key" =~ ^CDP_[A-Z0-9_]+$ ]] || continue
    [[ -n "${!key:-}" ]] || export "$key=$value"
  done < "$CONFIG"
fi

# Unless told otherwise, the syncer delivers to the local sandbox (cdp sandbox-ma) so a new
# user sees leads arrive; set CDP_HUBSPOT_BASE_URL/TOKEN etc. to deliver for real.
sandbox="http://127.0.0.1:${CDP_SANDBOX_PORT:-8091}"
export CDP_SYNC_DESTINATIONS="${CDP_SYNC_DESTINATIONS:-hubspot,mautic,webhook}"
export CDP_HUBSPOT_BASE_URL="${CDP_HUBSPOT_BASE_URL:-$sandbox}" CDP_HUBSPOT_TOKEN="${CDP_HUBSPOT_TOKEN:-sandbox-hubspot-token}"
export CDP_MAUTIC_BASE_URL="${CDP_MAUTIC_BASE_URL:-$sandbox}" CDP_MAUTIC_USER="${CDP_MAUTIC_USER:-sandbox}"
export CDP_MAUTIC_PASSWORD="${CDP_MAUTIC_PASSWORD:-sandbox}" CDP_WEBHOOK_URL="${CDP_WEBHOOK_URL:-$sandbox/webhook}"
export CDP_WEBHOOK_SECRET="${CDP_WEBHOOK_SECRET:-whsec_c2FuZGJveC13ZWJob29rLXNlY3JldC0wMTIzNDU2Nzg5}"

write_config() (
  umask 077  # it holds secrets (a subshell: the umask stays here)
  {
    echo "# Written by deploy/local/services.sh: what the local services run with. Edit and"
    echo "# run 'make up' again; the environment wins over this file."
    env | grep -E '^CDP_(SYNC|HUBSPOT|MAUTIC|WEBHOOK)_[A-Z0-9_]*=' | sort
  } > "$CONFIG.tmp" && mv "$CONFIG.tmp" "$CONFIG"
)

healthy() { curl -fsS -o /dev/null --max-time 2 "$1"; }

up() {
  write_config
  local started=0
  while IFS='|' read -r name dir health cmd; do
    [[ -d "$ROOT/$dir" ]] || continue
    local pidfile="$RUN/$name.pid"
    if pid_alive "$pidfile"; then log "$name already running (pid $(cat "$pidfile"))"; continue; fi
    log "starting $name"
    # exec: the pid recorded is the service itself; nothing keeps the caller's stdout open
    (cd "$ROOT" && exec setsid $cmd >>"$LOGS/$name.log" 2>&1 </dev/null) &
    echo $! >"$pidfile"
    started=$((started + 1))
    wait_for "$name" 60 healthy "$health" || true
    pid_alive "$pidfile" || { tail -20 "$LOGS/$name.log" >&2; die "$name exited at start (see $LOGS/$name.log)"; }
  done < <(services)
  if [[ -x "$BIN/cdp" && -d "$ROOT/services/collector" ]]; then
    "$BIN/cdp" sources add demo --if-missing --write-key "${CDP_DEMO_WRITE_KEY:-demo-write-key-0123456789}" \
      --origin "http://localhost:8000" --origin "http://127.0.0.1:8000" --internal-domain localhost
  fi
  if [[ -x "$BIN/cdp" && -d "$ROOT/services/enricher" ]]; then
    "$BIN/cdp" rules apply -f "$ROOT/deploy/demo/rules.yaml" >/dev/null && log "demo campaign rules applied (deploy/demo/rules.yaml)"
  fi
  if [[ -x "$BIN/cdp" && -d "$ROOT/services/segmenter" ]]; then
    "$BIN/cdp" segments apply -f "$ROOT/deploy/demo/segments.yaml" >/dev/null \
      && log "demo segments, scoring and lead policy applied (deploy/demo/segments.yaml)"
  fi
  echo
  echo "Kafka      ${CDP_KAFKA_BOOTSTRAP:-127.0.0.1:9092}"
  echo "Postgres   ${CDP_PG_DSN:-postgresql://cdp:cdp@127.0.0.1:5432/cdp}"
  echo "Redis      ${CDP_REDIS_URL:-redis://127.0.0.1:6379/0}"
  while IFS='|' read -r name dir health cmd; do
    [[ -d "$ROOT/$dir" ]] || continue
    printf '%-10s %s   (log: %s)\n' "$name" "${health%/*}" "$LOGS/$name.log"
  done < <(services)
  (( started > 0 )) || log "no new service started"
}

down() {
  while IFS='|' read -r name dir health cmd; do
    stop_pid "$RUN/$name.pid" "$name"
  done < <(services)
}

status() {
  while IFS='|' read -r name dir health cmd; do
    [[ -d "$ROOT/$dir" ]] || { echo "$name: not built yet"; continue; }
    if pid_alive "$RUN/$name.pid"; then echo "$name: running (pid $(cat "$RUN/$name.pid"))"; else echo "$name: stopped"; fi
  done < <(services)
}

logs() {
  local files=()
  while IFS='|' read -r name dir health cmd; do
    [[ -f "$LOGS/$name.log" ]] && files+=("$LOGS/$name.log")
  done < <(services)
  (( ${#files[@]} )) || die "no service logs yet (run make up)"
  tail -n 50 -F "${files[@]}"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  logs) logs ;;
  *) die "usage: $0 up|down|status|logs" ;;
esac
