#!/usr/bin/env bash
# The test command (README's second command, and what CI runs): installs the package with its test
# dependencies, starts a real single-node Kafka broker (jars fetched once into the user's cache),
# runs lint and the whole suite against it, and stops the broker again.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m pip install --quiet --disable-pip-version-check -e '.[test,bench]'

started_broker=0
if [[ -z "${TRIGGER_ENGINE_TEST_BOOTSTRAP:-}" ]]; then
  bash deploy/kafka/kafka.sh start
  started_broker=1
  export TRIGGER_ENGINE_TEST_BOOTSTRAP="127.0.0.1:${TRIGGER_ENGINE_KAFKA_PORT:-19092}"
fi
stop_broker() { [[ $started_broker == 1 ]] && bash deploy/kafka/kafka.sh stop || true; }
trap stop_broker EXIT

python3 -m ruff check .
python3 -m ruff format --check .
python3 -m pytest "$@"
