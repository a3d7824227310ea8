#!/usr/bin/env bash
# Starts or stops the whole native infrastructure: Kafka, PostgreSQL, Redis.
# Usage: infra.sh up|down|status
source "$(dirname "$0")/common.sh"
here="$(dirname "$0")"
case "${1:-}" in
  up) bash "$here/postgres.sh" start; bash "$here/redis.sh" start; bash "$here/kafka.sh" start ;;
  down) bash "$here/kafka.sh" stop; bash "$here/redis.sh" stop; bash "$here/postgres.sh" stop ;;
  status) bash "$here/kafka.sh" status; bash "$here/postgres.sh" status; bash "$here/redis.sh" status ;;
  *) die "usage: $0 up|down|status" ;;
esac
