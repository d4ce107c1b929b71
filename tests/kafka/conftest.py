"""Fixtures for tests against a real Kafka broker. Every test under tests/kafka is marked `kafka`.

These tests are never skipped. The session's broker is the first of these that works:
1. the broker named by TRIGGER_ENGINE_TEST_BOOTSTRAP (it must answer);
2. a broker already answering on the local port (`deploy/kafka/kafka.sh ready`);
3. a testcontainers broker, when a Docker engine answers;
4. a broker started with `deploy/kafka/kafka.sh start`, stopped again when the session ends.
When none works, every test that needs the broker fails with the reason.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Protocol

import docker
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import for_code
from docker.errors import DockerException
from testcontainers.community.kafka import KafkaContainer

from tests.kafka.ports import free_port_pair

TESTS_DIR = Path(__file__).resolve().parent
KAFKA_DEPLOY_DIR = TESTS_DIR.parents[1] / "deploy" / "kafka"
KAFKA_SH = KAFKA_DEPLOY_DIR / "kafka.sh"
BOOTSTRAP_ENV = "TRIGGER_ENGINE_TEST_BOOTSTRAP"
# Confluent Platform 7.9 is Apache Kafka 3.9, the line deploy/kafka/pom.xml runs.
CONTAINER_IMAGE = "confluentinc/cp-kafka:7.9.5"
# Bounds a cold `kafka.sh start`: a first jar download plus the script's own 60 s readiness wait.
KAFKA_SH_TIMEOUT_S = 300
BROKER_ANSWER_TIMEOUT_S = 30
TOPIC_METADATA_TIMEOUT_S = 30


class CreateTopics(Protocol):
    """Creates topics (name -> partition count) and returns once the broker serves them.

    `timeless`: records are never deleted for their age. A test that writes records with
    timestamps of its own needs it: the broker's time-based retention would delete records
    stamped earlier than its retention (a week by default) at its next check, while the test
    runs."""

    async def __call__(
        self,
        partitions_by_topic: Mapping[str, int],
        *,
        compacted: bool = False,
        timeless: bool = False,
    ) -> None: ...


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(TESTS_DIR):
            item.add_marker(pytest.mark.kafka)


def _run_kafka_sh(
    command: str, settings: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    # The readiness probe imports aiokafka, so it must run in this interpreter.
    env = {**os.environ, "PYTHON": sys.executable, **(settings or {})}
    return subprocess.run(
        ["bash", str(KAFKA_SH), command],
        capture_output=True,
        text=True,
        env=env,
        timeout=KAFKA_SH_TIMEOUT_S,
        check=False,
    )


def _answering(bootstrap: str) -> str:
    probe = subprocess.run(
        [
            sys.executable,
            str(KAFKA_DEPLOY_DIR / "broker_ready.py"),
            bootstrap,
            "--timeout",
            str(BROKER_ANSWER_TIMEOUT_S),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        pytest.fail(f"{BOOTSTRAP_ENV}={bootstrap}: {probe.stderr.strip()}", pytrace=False)
    return bootstrap


def _docker_engine_answers() -> bool:
    try:
        client = docker.from_env(timeout=2)
    except DockerException:
        return False
    try:
        return bool(client.ping())
    except (DockerException, OSError):
        return False
    finally:
        client.close()


def _broker_settings() -> dict[str, str]:
    lines = (KAFKA_DEPLOY_DIR / "broker.properties").read_text().splitlines()
    pairs = (line.split("=", 1) for line in lines if line and not line.startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def _confluent_env_name(setting: str) -> str:
    # The cp-kafka image turns KAFKA_* variables into settings by this naming rule.
    escaped = setting.replace("_", "___").replace("-", "__").replace(".", "_")
    return f"KAFKA_{escaped.upper()}"


@contextmanager
def _container_broker() -> Iterator[str]:
    container = KafkaContainer(CONTAINER_IMAGE).with_kraft()
    for setting, value in _broker_settings().items():
        container.with_env(_confluent_env_name(setting), value)
    with container:
        yield container.get_bootstrap_server()


@contextmanager
def _script_broker(directory: Path) -> Iterator[str]:
    """A blank broker of the session's own, on free ports, as `tests/run.sh` starts one."""
    broker = PrivateBroker(directory)
    started = broker.kafka_sh("start")
    if started.returncode != 0:
        pytest.fail(
            f"no Kafka broker for the kafka tests: {BOOTSTRAP_ENV} is unset, nothing answers on the"
            f" local port, no Docker engine answers, and `{KAFKA_SH} start` failed:\n"
            f"{started.stderr}",
            pytrace=False,
        )
    try:
        yield broker.bootstrap
    finally:
        broker.kafka_sh("stop")


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """host:port of a real Kafka 3.9 broker shared by the whole session."""
    configured = os.environ.get(BOOTSTRAP_ENV)
    if configured:
        yield _answering(configured)
        return
    running = _run_kafka_sh("ready")
    if running.returncode == 0:
        yield running.stdout.strip()
        return
    broker: AbstractContextManager[str] = (
        _container_broker()
        if _docker_engine_answers()
        else _script_broker(tmp_path_factory.mktemp("kafka"))
    )
    with broker as bootstrap:
        yield bootstrap


@pytest.fixture
async def kafka_admin(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaAdminClient]:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        yield admin
    finally:
        await admin.close()


async def _served(admin: AIOKafkaAdminClient, partitions_by_topic: Mapping[str, int]) -> bool:
    described = await admin.describe_topics(list(partitions_by_topic))
    return all(
        topic["error_code"] == 0
        and len(topic["partitions"]) == partitions_by_topic[topic["topic"]]
        and all(partition["leader"] >= 0 for partition in topic["partitions"])
        for topic in described
    )


@pytest.fixture
def create_topics(kafka_admin: AIOKafkaAdminClient) -> CreateTopics:
    async def create(
        partitions_by_topic: Mapping[str, int], *, compacted: bool = False, timeless: bool = False
    ) -> None:
        configs = {"cleanup.policy": "compact"} if compacted else {}
        if timeless:
            configs["retention.ms"] = "-1"
        response = await kafka_admin.create_topics(
            [
                NewTopic(name, partitions, replication_factor=1, topic_configs=configs)
                for name, partitions in partitions_by_topic.items()
            ]
        )
        for name, error_code, message in response.topic_errors:
            if error_code != 0:
                raise for_code(error_code)(f"creating topic {name!r}: {message}")
        # The controller acknowledges a topic before the broker's metadata lists it, and a client
        # that looks it up in between (a consumer joining its group, say) would not see it; the
        # protocol offers no notification, so poll the metadata.
        async with asyncio.timeout(TOPIC_METADATA_TIMEOUT_S):
            while not await _served(kafka_admin, partitions_by_topic):
                await asyncio.sleep(0.02)

    return create


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """Fresh topic names, group ids and transactional ids, so tests never see each other's data."""
    test_name = re.sub(r"[^A-Za-z0-9]+", "-", request.node.name)[:80]

    def make(prefix: str) -> str:
        return f"{prefix}-{test_name}-{uuid.uuid4().hex[:8]}"

    return make


class PrivateBroker:
    """A broker of `deploy/kafka/kafka.sh` on ports and in a directory of its own."""

    def __init__(self, directory: Path) -> None:
        port = free_port_pair()
        self.bootstrap = f"127.0.0.1:{port}"
        self._settings = {
            "TRIGGER_ENGINE_KAFKA_PORT": str(port),
            "TRIGGER_ENGINE_KAFKA_DIR": str(directory),
        }

    def kafka_sh(self, command: str) -> subprocess.CompletedProcess[str]:
        return _run_kafka_sh(command, self._settings)

    def run(self, command: str) -> None:
        done = self.kafka_sh(command)
        if done.returncode != 0:
            pytest.fail(f"`kafka.sh {command}` of the private broker failed:\n{done.stderr}")


@pytest.fixture
def private_broker(tmp_path: Path) -> Iterator[PrivateBroker]:
    broker = PrivateBroker(tmp_path / "kafka")
    broker.run("start")
    try:
        yield broker
    finally:
        broker.run("stop")
