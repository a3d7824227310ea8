#!/usr/bin/env bash
# Redis from Debian's packages. Reuses a server already answering on the port;
# otherwise runs one whose data lives in .data/redis.
# Usage: redis.sh install|start|stop|status
source "$(dirname "$0")/common.sh"

PORT="${CDP_REDIS_PORT:-6379}"
DIR="$DATA/redis"
PIDFILE="$RUN/redis.pid"

install() { apt_install redis-server; }

ping() { [[ "$(redis-cli -p "$PORT" ping 2>/dev/null)" == "PONG" ]]; }

start() {
  if pid_alive "$PIDFILE"; then log "redis already running (pid $(cat "$PIDFILE"))"; return 0; fi
  if port_open 127.0.0.1 "$PORT"; then log "reusing the Redis already listening on 127.0.0.1:$PORT"; return 0; fi
  install
  mkdir -p "$DIR"
  log "starting redis on 127.0.0.1:$PORT"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$PORT" --dir "$DIR" \
    --pidfile "$PIDFILE" --logfile "$LOGS/redis.log" \
    --appendonly yes --appendfsync everysec --save "" --maxmemory-policy noeviction \
    || die "redis-server failed (see $LOGS/redis.log)"
  wait_for "redis" 30 ping
}

stop() {
  if pid_alive "$PIDFILE"; then
    stop_pid "$PIDFILE" redis   # TERM is a clean shutdown for redis
  else
    rm -f "$PIDFILE"; log "redis not started by this project; left alone"
  fi
}

status() { if port_open 127.0.0.1 "$PORT"; then echo "redis: up (127.0.0.1:$PORT)"; else echo "redis: down"; fi; }

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) die "usage: $0 install|start|stop|status" ;;
esac
