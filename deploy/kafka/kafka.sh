#!/usr/bin/env bash
# A real single-node Apache Kafka broker (KRaft: broker and controller in one JVM) on loopback, for
# dev, tests and CI, without Docker. The jars come from Maven Central through pom.xml and are cached
# per user, outside the repo.
#
#   kafka.sh fetch        download the broker jars once; prints the jar directory
#   kafka.sh start        fetch, format storage if new, start in the background, wait until ready;
#                         prints the bootstrap address
#   kafka.sh ready        exit 0 iff the broker answers; prints the bootstrap address
#   kafka.sh stop         SIGTERM, then SIGKILL after a bounded wait
#   kafka.sh status       whether the broker process runs (exit 0) or not (exit 1)
#   kafka.sh logs [-f]    the broker's log (follow with -f)
#
# Environment: TRIGGER_ENGINE_KAFKA_PORT (default 19092), TRIGGER_ENGINE_KAFKA_CONTROLLER_PORT
# (default port+1), TRIGGER_ENGINE_KAFKA_DIR (data, config, log, pid; default
# ${TMPDIR:-/tmp}/trigger-engine-kafka), TRIGGER_ENGINE_KAFKA_START_TIMEOUT (seconds, default 60),
# XDG_CACHE_HOME (jar cache root), PYTHON (interpreter with aiokafka for the probe, default python3).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
kafka_version="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/pom.xml")"
libs_dir="${XDG_CACHE_HOME:-$HOME/.cache}/trigger-engine/kafka-$kafka_version/libs"
port="${TRIGGER_ENGINE_KAFKA_PORT:-19092}"
controller_port="${TRIGGER_ENGINE_KAFKA_CONTROLLER_PORT:-$((port + 1))}"
bootstrap="127.0.0.1:$port"
run_dir="${TRIGGER_ENGINE_KAFKA_DIR:-${TMPDIR:-/tmp}/trigger-engine-kafka}"
pid_file="$run_dir/kafka.pid"
log_file="$run_dir/kafka.log"
config_file="$run_dir/server.properties"
data_dir="$run_dir/data"
start_timeout="${TRIGGER_ENGINE_KAFKA_START_TIMEOUT:-60}"
stop_timeout_s=30
python="${PYTHON:-python3}"
# A small heap: the broker shares a 2-core CI machine with the tests.
java_opts=(-Xms128m -Xmx512m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError
  -Djava.awt.headless=true "-Dlog4j.configuration=file:$here/log4j.properties")

die() {
  echo "kafka.sh: $*" >&2
  exit 1
}

require_tool() {
  command -v "$1" >/dev/null || die "'$1' is not on PATH; the local Kafka broker needs $2"
}

fetch() {
  if [[ -d $libs_dir ]]; then
    echo "$libs_dir"
    return
  fi
  require_tool java "a JDK 17+ (e.g. apt-get install openjdk-17-jdk-headless)"
  require_tool mvn "Maven 3.6+ to download its jars (e.g. apt-get install maven)"
  echo "kafka.sh: downloading Kafka $kafka_version jars into $libs_dir" >&2
  # Download into a private directory and rename it, so the cache directory only ever exists
  # complete and its presence alone makes later fetches instant.
  local staging="$libs_dir.partial.$$"
  rm -rf "$staging"
  local mvn_output
  if ! mvn_output="$(mvn -B -q -f "$here/pom.xml" dependency:copy-dependencies \
    "-Dkafka.libs=$staging" 2>&1)"; then
    echo "$mvn_output" >&2
    rm -rf "$staging"
    die "Maven could not fetch the Kafka $kafka_version jars (is Maven Central reachable?)"
  fi
  if [[ -d $libs_dir ]]; then
    rm -rf "$staging" # a concurrent fetch finished first
  else
    mv "$staging" "$libs_dir"
  fi
  echo "$libs_dir"
}

broker_pid() {
  [[ -f $pid_file ]] || return 1
  local pid
  pid="$(<"$pid_file")"
  # The pid file may outlive the broker (crash, reboot) and its pid be reused by another program.
  ps -p "$pid" -o args= 2>/dev/null | grep -q 'kafka\.Kafka' || return 1
  echo "$pid"
}

port_taken() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

write_config() {
  {
    cat "$here/broker.properties"
    cat <<EOF

# Written by kafka.sh: a single KRaft node on loopback.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://$bootstrap
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$data_dir
EOF
  } >"$config_file"
}

format_storage() {
  # A KRaft cluster id is 16 random bytes in URL-safe base64 without padding. One that starts with
  # '-' (1 in 64) would be read by the tool as an option and fail the format: draw again.
  local cluster_id="-"
  while [[ $cluster_id == -* ]]; do
    cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
  done
  java "${java_opts[@]}" -cp "$libs_dir/*" kafka.tools.StorageTool format \
    --cluster-id "$cluster_id" --config "$config_file" --ignore-formatted >>"$log_file" 2>&1 ||
    { tail -n 40 "$log_file" >&2; die "formatting the storage in $data_dir failed (log above)"; }
}

wait_ready() {
  if ! "$python" "$here/broker_ready.py" "$bootstrap" --timeout "$start_timeout" --pid "$1"; then
    echo "--- last lines of $log_file ---" >&2
    tail -n 60 "$log_file" >&2
    stop >&2
    die "the broker did not become ready at $bootstrap"
  fi
}

start() {
  local pid
  if pid="$(broker_pid)"; then
    wait_ready "$pid"
    echo "$bootstrap"
    return
  fi
  require_tool java "a JDK 17+ (e.g. apt-get install openjdk-17-jdk-headless)"
  require_tool "$python" "Python with aiokafka to probe readiness (pip install -e .)"
  fetch >/dev/null
  for taken in "$port" "$controller_port"; do
    if port_taken "$taken"; then
      die "127.0.0.1:$taken is in use by a process not started from $run_dir;" \
        "stop it or choose other ports with TRIGGER_ENGINE_KAFKA_PORT"
    fi
  done
  mkdir -p "$run_dir"
  : >"$log_file"
  write_config
  [[ -f $data_dir/meta.properties ]] || format_storage
  nohup java "${java_opts[@]}" -cp "$libs_dir/*" kafka.Kafka "$config_file" \
    </dev/null >>"$log_file" 2>&1 &
  echo $! >"$pid_file"
  wait_ready $!
  echo "$bootstrap"
}

ready() {
  "$python" "$here/broker_ready.py" "$bootstrap"
  echo "$bootstrap"
}

stop() {
  local pid
  if ! pid="$(broker_pid)"; then
    rm -f "$pid_file"
    echo "kafka.sh: no broker running from $run_dir" >&2
    return
  fi
  kill -TERM "$pid" 2>/dev/null || true
  # A clean shutdown lets the next start skip log recovery; it takes a few seconds.
  local deadline=$((SECONDS + stop_timeout_s))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "kafka.sh: broker pid $pid ignored SIGTERM for ${stop_timeout_s}s; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pid_file"
  echo "kafka.sh: stopped the broker (pid $pid)" >&2
}

status() {
  local pid
  if pid="$(broker_pid)"; then
    echo "running: pid $pid, bootstrap $bootstrap, kafka $kafka_version, dir $run_dir"
  else
    echo "stopped (dir $run_dir)"
    return 1
  fi
}

logs() {
  [[ -f $log_file ]] || die "no broker log at $log_file yet"
  if [[ ${1:-} == -f ]]; then
    tail -n 200 -f "$log_file"
  else
    cat "$log_file"
  fi
}

case "${1:-}" in
  fetch | start | ready | stop | status)
    "$1"
    ;;
  logs)
    logs "${2:-}"
    ;;
  *)
    die "usage: kafka.sh fetch|start|ready|stop|status|logs [-f]"
    ;;
esac
