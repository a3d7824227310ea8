#!/usr/bin/env bash
# A real Apache Kafka (KRaft) from pinned Maven Central artifacts: one node, or with
# CDP_KAFKA_NODES=3 a cluster of three (each broker and controller; clients on 9092, 9094,
# 9096, controllers on 9093, 9095, 9097), so topics can have three replicas.
# Usage: kafka.sh install|start|stop|status
source "$(dirname "$0")/common.sh"

KAFKA_HOME="$DATA/kafka"
LIBS="$KAFKA_HOME/libs"
PORT="${CDP_KAFKA_PORT:-9092}"
CTRL_PORT="${CDP_KAFKA_CONTROLLER_PORT:-9093}"
HEAP="${CDP_KAFKA_HEAP:-512m}"
NODES="${CDP_KAFKA_NODES:-1}"
[[ "$NODES" == 1 || "$NODES" == 3 ]] || die "CDP_KAFKA_NODES must be 1 or 3"
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

node_port() { echo $((PORT + 2 * ($1 - 1))); }
node_ctrl_port() { if [[ "$NODES" == 1 ]]; then echo "$CTRL_PORT"; else echo $((PORT + 2 * ($1 - 1) + 1)); fi; }
node_home() { if [[ "$NODES" == 1 ]]; then echo "$KAFKA_HOME"; else echo "$KAFKA_HOME/node-$1"; fi; }
node_pidfile() { if [[ "$NODES" == 1 ]]; then echo "$RUN/kafka.pid"; else echo "$RUN/kafka-$1.pid"; fi; }

write_config() {  # write_config NODE
  local n=$1 home voters="" copies=1 min_isr=1 i
  home="$(node_home "$n")"
  mkdir -p "$home/data"
  for ((i = 1; i <= NODES; i++)); do voters+="${voters:+,}$i@127.0.0.1:$(node_ctrl_port "$i")"; done
  if [[ "$NODES" == 3 ]]; then copies=3; min_isr=2; fi
  cat >"$home/server.properties" <<CONF
process.roles=broker,controller
node.id=$n
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$(node_port "$n"),CONTROLLER://127.0.0.1:$(node_ctrl_port "$n")
advertised.listeners=PLAINTEXT://127.0.0.1:$(node_port "$n")
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$home/data
num.partitions=4
default.replication.factor=$copies
offsets.topic.replication.factor=$copies
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=$copies
transaction.state.log.min.isr=$min_isr
share.coordinator.state.topic.replication.factor=$copies
share.coordinator.state.topic.min.isr=$min_isr
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
auto.create.topics.enable=false
log.retention.hours=168
CONF
}

format() {  # format CLUSTER_ID NODE
  local home
  home="$(node_home "$2")"
  [[ -f "$home/data/meta.properties" ]] && return 0
  log "formatting storage of node $2 (cluster id $1)"
  java -cp "$LIBS/*" kafka.tools.StorageTool format -t "$1" -c "$home/server.properties" -g \
    >>"$LOGS/kafka.log" 2>&1 || die "kafka storage format failed (see $LOGS/kafka.log)"
}

start() {
  local n id="" pidfile
  if pid_alive "$(node_pidfile 1)"; then log "kafka already running (pid $(cat "$(node_pidfile 1)"))"; return 0; fi
  if port_open 127.0.0.1 "$PORT"; then log "reusing the Kafka already listening on 127.0.0.1:$PORT"; return 0; fi
  install
  for ((n = 1; n <= NODES; n++)); do
    write_config "$n"
    if [[ ! -f "$(node_home "$n")/data/meta.properties" && -z "$id" ]]; then
      id="$(java -cp "$LIBS/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)"
    fi
    [[ -n "$id" ]] && format "$id" "$n"
  done
  # every node at once: a controller quorum only forms when a majority is up
  for ((n = 1; n <= NODES; n++)); do
    log "starting kafka node $n on 127.0.0.1:$(node_port "$n")"
    nohup java -Xms"$HEAP" -Xmx"$HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
      -Dlog4j2.configurationFile="$ROOT/deploy/local/kafka/log4j2.properties" \
      -cp "$LIBS/*" kafka.Kafka "$(node_home "$n")/server.properties" >>"$LOGS/kafka.log" 2>&1 &
    echo $! >"$(node_pidfile "$n")"
  done
  for ((n = 1; n <= NODES; n++)); do
    pidfile="$(node_pidfile "$n")"
    wait_for "kafka node $n" 90 port_open 127.0.0.1 "$(node_port "$n")"
    pid_alive "$pidfile" || die "kafka node $n exited at start (see $LOGS/kafka.log)"
  done
}

stop() {
  local n pid
  # every node at once: a node stopping alone after the others would wait for a quorum
  for ((n = 1; n <= NODES; n++)); do
    pid_alive "$(node_pidfile "$n")" && kill "$(cat "$(node_pidfile "$n")")" 2>/dev/null || true
  done
  for ((n = 1; n <= NODES; n++)); do stop_pid "$(node_pidfile "$n")" "kafka node $n"; done
}

status() {
  local n
  for ((n = 1; n <= NODES; n++)); do
    if pid_alive "$(node_pidfile "$n")" || port_open 127.0.0.1 "$(node_port "$n")"; then
      echo "kafka node $n: up (127.0.0.1:$(node_port "$n"))"
    else
      echo "kafka node $n: down"
    fi
  done
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) die "usage: $0 install|start|stop|status" ;;
esac
