# Shared helpers for the native infrastructure scripts. Sourced, not executed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DATA="${CDP_DATA_DIR:-$ROOT/.data}"
LOGS="$DATA/logs"
RUN="$DATA/run"
mkdir -p "$LOGS" "$RUN"

log() { printf '[%s] %s\n' "$(basename "$0" .sh)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# port_open HOST PORT -> 0 when something accepts TCP connections there.
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# wait_for DESCRIPTION TIMEOUT_S COMMAND... -> polls COMMAND until it succeeds.
wait_for() {
  local what="$1" timeout="$2"; shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if (( SECONDS >= deadline )); then die "$what did not answer within ${timeout}s"; fi
    sleep 0.5
  done
  log "$what is up"
}

# pid_alive FILE -> 0 when the pid recorded in FILE is a running process.
pid_alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

# stop_pid FILE NAME -> TERM, wait up to 30 s, then KILL.
stop_pid() {
  local file="$1" name="$2"
  if ! pid_alive "$file"; then rm -f "$file"; log "$name not running"; return 0; fi
  local pid; pid="$(cat "$file")"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  if kill -0 "$pid" 2>/dev/null; then log "$name ignored TERM, killing"; kill -9 "$pid" 2>/dev/null || true; fi
  rm -f "$file"
  log "$name stopped"
}

# apt_install PKG... -> installs Debian packages that are missing (root only).
apt_install() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  (( ${#missing[@]} == 0 )) && return 0
  [[ $EUID -eq 0 ]] || die "missing Debian packages: ${missing[*]} (run: sudo apt-get install ${missing[*]})"
  log "installing ${missing[*]}"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
