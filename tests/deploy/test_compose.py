"""deploy/compose.yaml: parses, and every command, setting, file and topic it names is real."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.surface import (
    DEPLOY,
    REPO,
    producer_module,
    run_default,
    run_settings,
    topic_plan,
    yaml_documents,
)

COMPOSE = DEPLOY / "compose.yaml"
ENGINE_IMAGE_SERVICES = ("seed-triggers", "engine", "producer")


@pytest.fixture(scope="module")
def services() -> dict[str, dict[str, Any]]:
    (compose,) = yaml_documents(COMPOSE)
    return compose["services"]


def host_path(service: dict[str, Any], path: str | Path) -> Path:
    """The host file a container path of `service` shows, through its bind mounts."""
    container_path = str(path)
    for volume in service.get("volumes", []):
        source, target, *_ = volume.split(":")
        if container_path == target or container_path.startswith(target + "/"):
            return (DEPLOY / source / container_path[len(target) :].lstrip("/")).resolve()
    raise AssertionError(f"{container_path} is not under a bind mount of the service")


def kafka_env_name(setting: str) -> str:
    # apache/kafka's rule for settings without `_` or `-`, which is all of the ones below.
    assert "_" not in setting and "-" not in setting, setting
    return "KAFKA_" + setting.replace(".", "_").upper()


def broker_properties() -> dict[str, str]:
    lines = (DEPLOY / "kafka" / "broker.properties").read_text().splitlines()
    pairs = (line.split("=", 1) for line in lines if line and not line.startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def seconds(duration: str) -> int:
    found = re.fullmatch(r"(\d+)s", duration)
    assert found, f"expected a duration in seconds, got {duration!r}"
    return int(found.group(1))


def test_the_broker_is_the_kafka_release_the_project_runs(services: dict[str, Any]) -> None:
    pom = (DEPLOY / "kafka" / "pom.xml").read_text()
    version = re.search(r"<kafka.version>(.+)</kafka.version>", pom)
    assert version
    kafka_images = {s["image"] for s in services.values() if "kafka" in s.get("image", "")}
    assert kafka_images == {f"apache/kafka:{version.group(1)}"}


def test_the_broker_is_a_single_kraft_node(services: dict[str, Any]) -> None:
    env = services["kafka"]["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{env['KAFKA_NODE_ID']}@kafka:9093"
    # A KRaft cluster id is a UUID: 16 bytes in URL-safe base64 without padding.
    assert len(base64.urlsafe_b64decode(env["CLUSTER_ID"] + "==")) == 16


@pytest.mark.parametrize(
    "setting",
    [
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr",
        "auto.create.topics.enable",
    ],
)
def test_the_broker_runs_transactions_on_one_node_like_the_local_broker(
    services: dict[str, Any], setting: str
) -> None:
    # Without these a single broker never completes a transaction: the engine would hang.
    env = services["kafka"]["environment"]
    assert env[kafka_env_name(setting)] == broker_properties()[setting]


def test_the_engine_command_and_settings_are_accepted_by_trigger_engine_run(
    services: dict[str, Any],
) -> None:
    engine = services["engine"]
    settings = run_settings(engine["command"], engine["environment"])
    assert settings.kafka.bootstrap_servers == "kafka:9092"
    assert settings.actions is not None and host_path(engine, settings.actions).is_dir()


def test_the_engine_gets_time_to_shut_down_cleanly(services: dict[str, Any]) -> None:
    engine = services["engine"]
    settings = run_settings(engine["command"], engine["environment"])
    assert seconds(engine["stop_grace_period"]) > settings.shutdown_timeout


def test_the_engine_is_healthy_once_ready_and_reachable(services: dict[str, Any]) -> None:
    engine = services["engine"]
    port = run_settings(engine["command"], engine["environment"]).http_port
    check = " ".join(engine["healthcheck"]["test"])
    assert f"http://127.0.0.1:{port}/readyz" in check
    assert f"{port}:{port}" in engine["ports"]


def test_the_engine_image_is_built_from_the_dockerfile(services: dict[str, Any]) -> None:
    builds = {name: services[name]["build"] for name in ENGINE_IMAGE_SERVICES}
    for build in builds.values():
        context = (DEPLOY / build["context"]).resolve()
        assert context == REPO
        assert (context / build["dockerfile"]).resolve() == DEPLOY / "Dockerfile"
    assert len({services[name]["image"] for name in ENGINE_IMAGE_SERVICES}) == 1


@pytest.mark.parametrize("name", ["seed-triggers", "producer"])
def test_the_sample_producer_commands_are_valid(services: dict[str, Any], name: str) -> None:
    service = services[name]
    entrypoint = service["entrypoint"]
    assert entrypoint[0] == "python"
    assert host_path(service, entrypoint[1]) == DEPLOY / "producer" / "produce_examples.py"
    args = producer_module().build_parser().parse_args(service["command"])
    inputs = [args.path] if args.what == "triggers" else args.sources
    for path in inputs:
        assert host_path(service, path).is_file(), path


def test_triggers_are_published_before_the_engine_starts_and_events_after_it_is_ready(
    services: dict[str, Any],
) -> None:
    # The engine reads the whole registry at start, so no example event meets an empty registry.
    def waits_for(name: str) -> dict[str, str]:
        return {dep: cond["condition"] for dep, cond in services[name]["depends_on"].items()}

    assert waits_for("topics") == {"kafka": "service_healthy"}
    assert waits_for("seed-triggers") == {"topics": "service_completed_successfully"}
    assert waits_for("engine") == {"seed-triggers": "service_completed_successfully"}
    assert waits_for("producer") == {"engine": "service_healthy"}


def test_topics_are_created_by_the_topic_script_for_one_broker(services: dict[str, Any]) -> None:
    topics = services["topics"]
    command = topics["command"]
    assert command[:2] == ["bash", "/deploy/topics.sh"]
    assert host_path(topics, command[1]) == DEPLOY / "topics.sh"
    env = topics["environment"]
    assert env["TOPICS_REPLICATION_FACTOR"] == "1"
    assert env["TRIGGER_ENGINE_BOOTSTRAP_SERVERS"] == "kafka:9092"
    # kafka-topics.sh of the apache/kafka image, found through KAFKA_HOME.
    assert env["KAFKA_HOME"] == "/opt/kafka"


def test_the_consoles_print_the_engines_output_topics(services: dict[str, Any]) -> None:
    planned = topic_plan()
    for name, flag in (("invocations", "--invocations-topic"), ("dead-letters", "--dlq-topic")):
        command = services[name]["command"]
        topic = command[command.index("--topic") + 1]
        assert topic == run_default(flag) and topic in planned
        # Only committed output: an aborted transaction's records are never shown.
        assert command[command.index("--isolation-level") + 1] == "read_committed"
