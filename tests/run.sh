#!/usr/bin/env bash
# The test command (README's second command, and what CI runs): installs the package with its test
# dependencies, starts a blank single-node Kafka broker in a temporary directory (jars fetched once
# into the user's cache), runs lint and the whole suite against it, then stops and removes the
# broker. With TRIGGER_ENGINE_TEST_BOOTSTRAP set, the suite uses that broker instead.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m pip install --quiet --disable-pip-version-check -e '.[test,bench]'

broker_dir=""
stop_broker() {
  [[ -n $broker_dir ]] || return 0
  bash deploy/kafka/kafka.sh stop || true
  rm -rf "$broker_dir"
}
trap stop_broker EXIT
if [[ -z "${TRIGGER_ENGINE_TEST_BOOTSTRAP:-}" ]]; then
  # A blank broker of its own for each run: the topics every run creates would otherwise pile up
  # in a shared directory, and a broker loading thousands of old partitions starts too slowly.
  # On free ports too, unless told which: a broker already on the default ones stays out of it.
  broker_dir="$(mktemp -d "${TMPDIR:-/tmp}/trigger-engine-test-kafka.XXXXXX")"
  export TRIGGER_ENGINE_KAFKA_DIR="$broker_dir"
  export TRIGGER_ENGINE_KAFKA_PORT="${TRIGGER_ENGINE_KAFKA_PORT:-$(python3 -m tests.kafka.ports)}"
  bash deploy/kafka/kafka.sh start
  export TRIGGER_ENGINE_TEST_BOOTSTRAP="127.0.0.1:$TRIGGER_ENGINE_KAFKA_PORT"
fi

python3 -m ruff check .
python3 -m ruff format --check .
python3 -m pytest "$@"
