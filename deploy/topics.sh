#!/usr/bin/env bash
# Creates the Kafka topics of trigger-engine with the topic plan below, then checks the invariants the
# engine relies on. Idempotent: existing topics are left as they are (`--if-not-exists`) and only
# checked.
#
#   topics.sh [create]    create missing topics, then verify
#   topics.sh verify      only verify (exit 1 with the reasons when an invariant is broken)
#   topics.sh plan        print the plan (topic, partitions, replication factor, configs) and exit
#
# Topic names: the engine's own variables, with the engine's defaults, so one ConfigMap or .env file
# drives both: TRIGGER_ENGINE_EVENTS_TOPIC, _STATE_TOPIC, _INVOCATIONS_TOPIC, _EVALUATIONS_TOPIC
# (empty: not created, as the engine then writes no evaluation records), _DLQ_TOPIC,
# _TRIGGERS_TOPIC, _ACTIONS_TOPIC; the broker: TRIGGER_ENGINE_BOOTSTRAP_SERVERS (127.0.0.1:9092).
#
# Sizing: TOPICS_PARTITIONS (12; the input, its state changelog and the outputs),
# TOPICS_REGISTRY_PARTITIONS (1), TOPICS_REPLICATION_FACTOR (3), TOPICS_MIN_INSYNC_REPLICAS (2 when
# the replication factor is 3 or more, else 1), TOPICS_EVENTS_RETENTION_MS (14 days),
# TOPICS_OUTPUT_RETENTION_MS (7 days), TOPICS_DLQ_RETENTION_MS (30 days). Client settings for a
# secured cluster (SSL/SASL): TOPICS_COMMAND_CONFIG, a properties file passed as --command-config.
#
# The Kafka tool: `kafka-topics.sh` on PATH, else $KAFKA_HOME/bin/kafka-topics.sh, else the jars of
# deploy/kafka/kafka.sh (plus the kafka-tools jar, fetched once with Maven next to them).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]:-.}")" && pwd)"
bootstrap="${TRIGGER_ENGINE_BOOTSTRAP_SERVERS:-127.0.0.1:9092}"
events_topic="${TRIGGER_ENGINE_EVENTS_TOPIC:-dataset-events}"
state_topic="${TRIGGER_ENGINE_STATE_TOPIC:-trigger-engine-state}"
invocations_topic="${TRIGGER_ENGINE_INVOCATIONS_TOPIC:-invocation-requests}"
evaluations_topic="${TRIGGER_ENGINE_EVALUATIONS_TOPIC-trigger-evaluations}"
dlq_topic="${TRIGGER_ENGINE_DLQ_TOPIC:-dataset-events-dlq}"
triggers_topic="${TRIGGER_ENGINE_TRIGGERS_TOPIC:-triggers}"
actions_topic="${TRIGGER_ENGINE_ACTIONS_TOPIC:-actions}"
partitions="${TOPICS_PARTITIONS:-12}"
registry_partitions="${TOPICS_REGISTRY_PARTITIONS:-1}"
replication="${TOPICS_REPLICATION_FACTOR:-3}"
min_insync="${TOPICS_MIN_INSYNC_REPLICAS:-}"
events_retention_ms="${TOPICS_EVENTS_RETENTION_MS:-1209600000}"
output_retention_ms="${TOPICS_OUTPUT_RETENTION_MS:-604800000}"
dlq_retention_ms="${TOPICS_DLQ_RETENTION_MS:-2592000000}"
command_config="${TOPICS_COMMAND_CONFIG:-}"

die() {
  echo "topics.sh: $*" >&2
  exit 1
}

require_count() {
  [[ $2 =~ ^[1-9][0-9]*$ ]] || die "$1 must be a positive integer, got '$2'"
}

require_retention() {
  [[ $2 =~ ^(-1|[1-9][0-9]*)$ ]] || die "$1 must be milliseconds (or -1: forever), got '$2'"
}

check_sizing() {
  require_count TOPICS_PARTITIONS "$partitions"
  require_count TOPICS_REGISTRY_PARTITIONS "$registry_partitions"
  require_count TOPICS_REPLICATION_FACTOR "$replication"
  # With 3 replicas, 2 in sync lets one broker be down while acks=all writes (every transactional
  # write) still succeed; with fewer replicas anything above 1 stops all writes on one failure.
  min_insync="${min_insync:-$((replication >= 3 ? 2 : 1))}"
  require_count TOPICS_MIN_INSYNC_REPLICAS "$min_insync"
  ((min_insync <= replication)) ||
    die "TOPICS_MIN_INSYNC_REPLICAS ($min_insync) exceeds TOPICS_REPLICATION_FACTOR ($replication)"
  require_retention TOPICS_EVENTS_RETENTION_MS "$events_retention_ms"
  require_retention TOPICS_OUTPUT_RETENTION_MS "$output_retention_ms"
  require_retention TOPICS_DLQ_RETENTION_MS "$dlq_retention_ms"
}

# One line per topic: name, partitions, replication factor, comma-separated configs. The state
# changelog has the input's partition count: partition p of the state holds the datasets of input
# partition p, so an engine restores exactly the partitions it was assigned.
plan() {
  local insync="min.insync.replicas=$min_insync"
  local compacted="cleanup.policy=compact,$insync"
  printf '%s\t%s\t%s\t%s\n' \
    "$events_topic" "$partitions" "$replication" \
    "cleanup.policy=delete,retention.ms=$events_retention_ms,$insync" \
    "$state_topic" "$partitions" "$replication" "$compacted" \
    "$triggers_topic" "$registry_partitions" "$replication" "$compacted" \
    "$actions_topic" "$registry_partitions" "$replication" "$compacted" \
    "$invocations_topic" "$partitions" "$replication" \
    "cleanup.policy=delete,retention.ms=$output_retention_ms,$insync" \
    "$dlq_topic" "$partitions" "$replication" \
    "cleanup.policy=delete,retention.ms=$dlq_retention_ms,$insync"
  if [[ -n $evaluations_topic ]]; then
    printf '%s\t%s\t%s\t%s\n' "$evaluations_topic" "$partitions" "$replication" \
      "cleanup.policy=delete,retention.ms=$output_retention_ms,$insync"
  fi
}

kafka_topics_command() {
  if command -v kafka-topics.sh >/dev/null; then
    topics_cmd=(kafka-topics.sh)
  elif [[ -n ${KAFKA_HOME:-} && -x $KAFKA_HOME/bin/kafka-topics.sh ]]; then
    topics_cmd=("$KAFKA_HOME/bin/kafka-topics.sh")
  elif [[ -f $here/kafka/kafka.sh ]]; then
    topics_cmd=(java -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xmx256m
      "-Dlog4j.configuration=file:$here/topics.log4j.properties"
      -cp "$(kafka_jars)" org.apache.kafka.tools.TopicCommand)
  else
    die "no Kafka tool: put kafka-topics.sh on PATH, set KAFKA_HOME, or run from a checkout"
  fi
  if [[ -n $command_config ]]; then
    topics_cmd+=(--command-config "$command_config")
  fi
}

# The broker jars of deploy/kafka/kafka.sh do not include the admin tools (TopicCommand lives in
# kafka-tools since Kafka 3.5), so that one jar is fetched beside them; its other dependencies are
# already among the broker's.
kafka_jars() {
  local libs tools version
  libs="$(bash "$here/kafka/kafka.sh" fetch)"
  version="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/kafka/pom.xml")"
  tools="$(dirname "$libs")/tools"
  if [[ ! -f $tools/kafka-tools-$version.jar ]]; then
    echo "topics.sh: downloading kafka-tools $version into $tools" >&2
    # Into a private directory first, so a concurrent run never puts a half-written jar on its path.
    local staging="$tools.partial.$$" mvn_output
    if ! mvn_output="$(mvn -B -q org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy \
      "-Dartifact=org.apache.kafka:kafka-tools:$version:jar" "-DoutputDirectory=$staging" 2>&1)"; then
      echo "$mvn_output" >&2
      rm -rf "$staging"
      die "Maven could not fetch org.apache.kafka:kafka-tools:$version (output above)"
    fi
    mkdir -p "$tools"
    mv "$staging/kafka-tools-$version.jar" "$tools/"
    rm -rf "$staging"
  fi
  echo "$libs/*:$tools/*"
}

create() {
  local name count rf configs settings setting
  while IFS=$'\t' read -r name count rf configs; do
    IFS=, read -r -a settings <<<"$configs"
    local config_args=()
    for setting in "${settings[@]}"; do
      config_args+=(--config "$setting")
    done
    "${topics_cmd[@]}" --bootstrap-server "$bootstrap" --create --if-not-exists --topic "$name" \
      --partitions "$count" --replication-factor "$rf" "${config_args[@]}" >/dev/null ||
      die "creating topic '$name' on $bootstrap failed (output above)"
  done < <(plan)
}

regex_of_names() {
  local names=()
  while IFS=$'\t' read -r name _; do
    names+=("${name//./\\.}")
  done < <(plan)
  local IFS='|'
  echo "^(${names[*]})\$"
}

# Reads `kafka-topics.sh --describe` summary lines into partition_count[topic] and configs[topic].
describe() {
  local output line name
  output="$("${topics_cmd[@]}" --bootstrap-server "$bootstrap" --describe --if-exists \
    --topic "$(regex_of_names)")" || die "describing the topics on $bootstrap failed"
  while IFS= read -r line; do
    [[ $line == Topic:*PartitionCount:* ]] || continue
    name="$(sed -n 's/^Topic: \([^[:space:]]*\).*/\1/p' <<<"$line")"
    partition_count[$name]="$(sed -n 's/.*PartitionCount: \([0-9]*\).*/\1/p' <<<"$line")"
    configs[$name]="$(sed -n 's/.*Configs: *\(.*\)$/\1/p' <<<"$line")"
  done <<<"$output"
}

verify() {
  declare -A partition_count=() configs=()
  describe
  local problems=() name count planned_configs
  while IFS=$'\t' read -r name count _ planned_configs; do
    if [[ -z ${partition_count[$name]:-} ]]; then
      problems+=("topic '$name' does not exist")
      continue
    fi
    if [[ $planned_configs == *cleanup.policy=compact* &&
      ,${configs[$name]}, != *,cleanup.policy=compact,* ]]; then
      problems+=("topic '$name' must have cleanup.policy=compact (has: ${configs[$name]:-defaults})")
    fi
    if [[ ${partition_count[$name]} != "$count" ]]; then
      echo "topics.sh: note: topic '$name' has ${partition_count[$name]} partitions" \
        "(the plan says $count)" >&2
    fi
  done < <(plan)
  local events_count="${partition_count[$events_topic]:-}" state_count="${partition_count[$state_topic]:-}"
  if [[ -n $events_count && -n $state_count && $events_count != "$state_count" ]]; then
    local counts="'$state_topic' has $state_count partitions, '$events_topic' has $events_count"
    problems+=("the state and events topics must be co-partitioned, but $counts")
  fi
  if ((${#problems[@]})); then
    printf 'topics.sh: %s\n' "${problems[@]}" >&2
    exit 1
  fi
  echo "topics.sh: $(plan | wc -l) topics ready on $bootstrap" >&2
}

main() {
  check_sizing
  case "${1:-create}" in
    plan)
      plan
      ;;
    create)
      kafka_topics_command
      create
      verify
      ;;
    verify)
      kafka_topics_command
      verify
      ;;
    *)
      die "usage: topics.sh [create|verify|plan]"
      ;;
  esac
}

main "$@"
