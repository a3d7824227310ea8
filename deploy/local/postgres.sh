#!/usr/bin/env bash
# PostgreSQL from Debian's packages. Reuses a server already answering on the port;
# otherwise runs a project-local cluster whose data lives in .data/postgres.
# Usage: postgres.sh install|start|stop|status
source "$(dirname "$0")/common.sh"

PORT="${CDP_PG_PORT:-5432}"
DB_USER="${CDP_PG_USER:-cdp}"
DB_PASS="${CDP_PG_PASSWORD:-cdp}"
DB_NAME="${CDP_PG_DB:-cdp}"
PG_HOME="$DATA"
PG_LOG="$LOGS/postgres.log"
# As root the server runs as the `postgres` user, which must be able to reach its data.
# A checkout under a private directory (a mktemp -d, a home with mode 700) is out of its
# reach: then the cluster lives under /var/lib/postgresql, keyed by this checkout's path.
if [[ $EUID -eq 0 ]] && id postgres >/dev/null 2>&1 && ! runuser -u postgres -- test -x "$DATA"; then
  PG_HOME="/var/lib/postgresql/cdp-$(printf '%s' "$ROOT" | sha1sum | cut -c1-12)"
  PG_LOG="$PG_HOME/postgres.log"
fi
PGDATA_DIR="$PG_HOME/postgres"
SOCKET_DIR="$PG_HOME/postgres-run"
OWNED="$RUN/postgres.owned"   # present when this project started the server

install() {
  apt_install postgresql
}

pg_bin() {
  local v; v="$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1)"
  [[ -n "$v" ]] || die "no PostgreSQL server binaries under /usr/lib/postgresql"
  echo "/usr/lib/postgresql/$v/bin"
}

# as_owner CMD... -> runs CMD as the cluster owner (postgres when we are root).
as_owner() {
  if [[ $EUID -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# superuser SQL -> runs SQL as a superuser on the server at $PORT.
superuser() {
  if [[ -f "$OWNED" ]]; then
    as_owner "$(pg_bin)/psql" -h "$SOCKET_DIR" -p "$PORT" -d postgres -v ON_ERROR_STOP=1 -qAt -c "$1"
  elif [[ $EUID -eq 0 ]]; then
    runuser -u postgres -- psql -p "$PORT" -d postgres -v ON_ERROR_STOP=1 -qAt -c "$1"
  else
    psql -h 127.0.0.1 -p "$PORT" -d postgres -v ON_ERROR_STOP=1 -qAt -c "$1"
  fi
}

ensure_db() {
  # Already usable (e.g. a server started from another checkout): nothing to create.
  if PGPASSWORD="$DB_PASS" psql -h 127.0.0.1 -p "$PORT" -U "$DB_USER" -d "$DB_NAME" -qAt -c "SELECT 1" >/dev/null 2>&1; then
    return 0
  fi
  if [[ "$(superuser "SELECT 1 FROM pg_roles WHERE rolname='$DB_USER'")" != "1" ]]; then
    superuser "CREATE ROLE \"$DB_USER\" LOGIN PASSWORD '$DB_PASS'"
    log "created role $DB_USER"
  fi
  if [[ "$(superuser "SELECT 1 FROM pg_database WHERE datname='$DB_NAME'")" != "1" ]]; then
    superuser "CREATE DATABASE \"$DB_NAME\" OWNER \"$DB_USER\""
    log "created database $DB_NAME"
  fi
}

start() {
  if port_open 127.0.0.1 "$PORT"; then
    [[ -f "$OWNED" ]] || log "reusing the PostgreSQL already listening on 127.0.0.1:$PORT"
  else
    install
    local bin; bin="$(pg_bin)"
    mkdir -p "$PG_HOME" "$PGDATA_DIR" "$SOCKET_DIR"
    [[ $EUID -eq 0 && "$PG_HOME" != "$DATA" ]] && chown postgres:postgres "$PG_HOME"
    [[ $EUID -eq 0 ]] && chown postgres:postgres "$PGDATA_DIR" "$SOCKET_DIR"
    chmod 700 "$PGDATA_DIR"
    if [[ ! -f "$PGDATA_DIR/PG_VERSION" ]]; then
      log "initialising a project-local cluster in $PGDATA_DIR"
      as_owner "$bin/initdb" -D "$PGDATA_DIR" -A trust -U postgres -E UTF8 >"$LOGS/postgres-initdb.log" 2>&1 \
        || { cat "$LOGS/postgres-initdb.log" >&2; die "initdb failed"; }
      { echo "local all all trust"; echo "host all all 127.0.0.1/32 scram-sha-256"; echo "host all all ::1/128 scram-sha-256"; } \
        | as_owner tee "$PGDATA_DIR/pg_hba.conf" >/dev/null
    fi
    touch "$PG_LOG"; [[ $EUID -eq 0 ]] && chown postgres:postgres "$PG_LOG"
    log "starting postgres on 127.0.0.1:$PORT"
    as_owner "$bin/pg_ctl" -D "$PGDATA_DIR" -l "$PG_LOG" -w -t 60 \
      -o "-p $PORT -k $SOCKET_DIR -c listen_addresses=127.0.0.1 -c max_connections=200 -c shared_buffers=256MB -c synchronous_commit=on -c fsync=on" \
      start >/dev/null || { tail -20 "$PG_LOG" >&2; die "postgres did not start"; }
    touch "$OWNED"
  fi
  wait_for "postgres" 60 port_open 127.0.0.1 "$PORT"
  ensure_db
}

stop() {
  if [[ -f "$OWNED" ]]; then
    as_owner "$(pg_bin)/pg_ctl" -D "$PGDATA_DIR" -m fast -w stop >/dev/null 2>&1 || true
    rm -f "$OWNED"
    log "postgres stopped"
  else
    log "postgres not started by this project; left alone"
  fi
}

status() { if port_open 127.0.0.1 "$PORT"; then echo "postgres: up (127.0.0.1:$PORT)"; else echo "postgres: down"; fi; }

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) die "usage: $0 install|start|stop|status" ;;
esac
