#!/usr/bin/env bash
# A real single-node Apache Kafka (KRaft) from pinned Maven Central artifacts.
# Usage: kafka.sh install|start|stop|status
source "$(dirname "$0")/common.sh"

KAFKA_HOME="$DATA/kafka"
LIBS="$KAFKA_HOME/libs"
PORT="${CDP_KAFKA_PORT:-9092}"
CTRL_PORT="${CDP_KAFKA_CONTROLLER_PORT:-9093}"
HEAP="${CDP_KAFKA_HEAP:-512m}"
PIDFILE="$RUN/kafka.pid"
POM="$ROOT/deploy/local/kafka/pom.xml"

install() {
  command -v java >/dev/null || die "java 17+ is required"
  command -v mvn >/dev/null || die "maven is required"
  local stamp="$LIBS/.pom.sha256" want
  want="$(sha256sum "$POM" | cut -d' ' -f1)"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then return 0; fi
  log "resolving the Kafka classpath with Maven (cached in ~/.m2)"
  rm -rf "$LIBS"; mkdir -p "$LIBS"
  mvn -B -q -f "$POM" dependency:copy-dependencies -DincludeScope=runtime \
      -DoutputDirectory="$LIBS" >"$LOGS/kafka-maven.log" 2>&1 \
    || { cat "$LOGS/kafka-maven.log" >&2; die "maven could not resolve Kafka"; }
  echo "$want" >"$stamp"
}

write_config() {
  mkdir -p "$KAFKA_HOME/data"
  cat >"$KAFKA_HOME/server.properties" <<CONF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CTRL_PORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CTRL_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$KAFKA_HOME/data
num.partitions=4
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
auto.create.topics.enable=false
log.retention.hours=168
CONF
}

format() {
  [[ -f "$KAFKA_HOME/data/meta.properties" ]] && return 0
  local id
  id="$(java -cp "$LIBS/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)"
  log "formatting storage (cluster id $id)"
  java -cp "$LIBS/*" kafka.tools.StorageTool format -t "$id" -c "$KAFKA_HOME/server.properties" -g \
    >>"$LOGS/kafka.log" 2>&1 || die "kafka storage format failed (see $LOGS/kafka.log)"
}

start() {
  if pid_alive "$PIDFILE"; then log "kafka already running (pid $(cat "$PIDFILE"))"; return 0; fi
  if port_open 127.0.0.1 "$PORT"; then log "reusing the Kafka already listening on 127.0.0.1:$PORT"; return 0; fi
  install
  write_config
  format
  log "starting kafka on 127.0.0.1:$PORT"
  nohup java -Xms"$HEAP" -Xmx"$HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -Dlog4j2.configurationFile="$ROOT/deploy/local/kafka/log4j2.properties" \
    -cp "$LIBS/*" kafka.Kafka "$KAFKA_HOME/server.properties" >>"$LOGS/kafka.log" 2>&1 &
  echo $! >"$PIDFILE"
  wait_for "kafka" 90 port_open 127.0.0.1 "$PORT"
  pid_alive "$PIDFILE" || die "kafka exited at start (see $LOGS/kafka.log)"
}

stop() { stop_pid "$PIDFILE" kafka; }

status() { if pid_alive "$PIDFILE" || port_open 127.0.0.1 "$PORT"; then echo "kafka: up (127.0.0.1:$PORT)"; else echo "kafka: down"; fi; }

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) die "usage: $0 install|start|stop|status" ;;
esac
