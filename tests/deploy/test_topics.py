"""deploy/topics.sh: the topic plan, and creating it on a real broker (idempotent, verified)."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from tests.deploy.surface import (
    DEPLOY,
    clean_env,
    env_of_flag,
    flag_of_env,
    run_default,
    run_options,
    topic_plan,
)
from tests.kafka.conftest import CreateTopics

TOPICS_SH = DEPLOY / "topics.sh"
# Each topic of the plan, by the `run` flag that names it.
TOPIC_FLAGS = (
    "--events-topic",
    "--state-topic",
    "--triggers-topic",
    "--actions-topic",
    "--invocations-topic",
    "--dlq-topic",
    "--evaluations-topic",
)


def test_the_script_uses_only_variables_of_run_flags() -> None:
    # topics.sh reads the engine's own topic and broker variables, so one ConfigMap drives both.
    names = set(re.findall(r"TRIGGER_ENGINE_[A-Z_]+", TOPICS_SH.read_text()))
    assert names, "topics.sh reads no TRIGGER_ENGINE_* variable"
    options = run_options()
    assert sorted(name for name in names if flag_of_env(name) not in options) == []


def test_default_plan_names_the_engines_default_topics() -> None:
    plan = topic_plan()
    assert set(plan) == {run_default(flag) for flag in TOPIC_FLAGS}


def test_registry_and_state_topics_are_compacted_the_rest_expire() -> None:
    plan = topic_plan()
    compacted = {run_default(f) for f in ("--state-topic", "--triggers-topic", "--actions-topic")}
    for topic in plan.values():
        if topic.name in compacted:
            assert topic.configs["cleanup.policy"] == "compact", topic
            assert "retention.ms" not in topic.configs, topic
        else:
            assert topic.configs["cleanup.policy"] == "delete", topic
            assert int(topic.configs["retention.ms"]) > 0, topic


def test_dead_letters_outlive_the_events_they_came_from() -> None:
    plan = topic_plan()
    dlq = plan[run_default("--dlq-topic")].configs["retention.ms"]
    events = plan[run_default("--events-topic")].configs["retention.ms"]
    assert int(dlq) > int(events)


def test_state_is_co_partitioned_with_the_input_at_any_size() -> None:
    for partitions in ("1", "7", "48"):
        plan = topic_plan(TOPICS_PARTITIONS=partitions)
        events = plan[run_default("--events-topic")]
        assert events.partitions == int(partitions)
        assert plan[run_default("--state-topic")].partitions == events.partitions


def test_sizing_comes_from_the_environment() -> None:
    plan = topic_plan(
        TOPICS_REPLICATION_FACTOR="5",
        TOPICS_REGISTRY_PARTITIONS="2",
        TOPICS_MIN_INSYNC_REPLICAS="3",
        TOPICS_DLQ_RETENTION_MS="123",
    )
    assert {t.replication for t in plan.values()} == {5}
    assert {t.configs["min.insync.replicas"] for t in plan.values()} == {"3"}
    assert plan[run_default("--triggers-topic")].partitions == 2
    assert plan[run_default("--dlq-topic")].configs["retention.ms"] == "123"


@pytest.mark.parametrize(("replication", "min_insync"), [("1", "1"), ("2", "1"), ("3", "2")])
def test_min_insync_replicas_leaves_room_for_one_broker_down(
    replication: str, min_insync: str
) -> None:
    plan = topic_plan(TOPICS_REPLICATION_FACTOR=replication)
    assert {t.configs["min.insync.replicas"] for t in plan.values()} == {min_insync}


def test_topic_names_follow_the_engine_variables() -> None:
    renamed = {env_of_flag(flag): f"x-{flag[2:]}" for flag in TOPIC_FLAGS}
    assert set(topic_plan(**renamed)) == set(renamed.values())


def test_an_empty_evaluations_topic_is_not_planned() -> None:
    # The engine writes no evaluation records when its evaluations topic is empty.
    plan = topic_plan(TRIGGER_ENGINE_EVALUATIONS_TOPIC="")
    assert run_default("--evaluations-topic") not in plan
    assert len(plan) == len(TOPIC_FLAGS) - 1


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"TOPICS_PARTITIONS": "0"}, "TOPICS_PARTITIONS must be a positive integer, got '0'"),
        ({"TOPICS_REPLICATION_FACTOR": "three"}, "TOPICS_REPLICATION_FACTOR must be a positive"),
        (
            {"TOPICS_REPLICATION_FACTOR": "1", "TOPICS_MIN_INSYNC_REPLICAS": "2"},
            "TOPICS_MIN_INSYNC_REPLICAS (2) exceeds TOPICS_REPLICATION_FACTOR (1)",
        ),
        ({"TOPICS_DLQ_RETENTION_MS": "30d"}, "TOPICS_DLQ_RETENTION_MS must be milliseconds"),
    ],
)
def test_bad_sizing_is_refused_with_the_variable_named(
    settings: dict[str, str], message: str
) -> None:
    done = _topics_sh("plan", **settings)
    assert done.returncode == 1
    assert message in done.stderr


def _topics_sh(command: str, **settings: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(TOPICS_SH), command],
        env=clean_env(**settings),
        capture_output=True,
        text=True,
        timeout=300,  # bounds a first download of the Kafka jars
        check=False,
    )


async def _topic_configs(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, dict[str, str]]:
    responses = await admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
    )
    return {
        resource["resource_name"]: {
            entry["config_names"]: entry["config_value"] for entry in resource["config_entries"]
        }
        for response in responses
        for resource in response.to_object()["resources"]
    }


async def _partition_counts(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, int]:
    return {t["topic"]: len(t["partitions"]) for t in await admin.describe_topics(names)}


@pytest.mark.kafka
async def test_creates_the_plan_on_a_broker_and_is_idempotent(
    kafka_bootstrap: str, kafka_admin: AIOKafkaAdminClient, unique_name: Callable[[str], str]
) -> None:
    names = {env_of_flag(flag): unique_name(flag[2:]) for flag in TOPIC_FLAGS}
    settings = {
        **names,
        "TRIGGER_ENGINE_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "TOPICS_PARTITIONS": "3",
        "TOPICS_REPLICATION_FACTOR": "1",
    }
    first = _topics_sh("create", **settings)
    assert first.returncode == 0, first.stderr
    again = _topics_sh("create", **settings)
    assert again.returncode == 0, again.stderr
    assert f"{len(TOPIC_FLAGS)} topics ready" in again.stderr

    planned = topic_plan(**settings)
    topics = list(planned)
    assert await _partition_counts(kafka_admin, topics) == {
        name: topic.partitions for name, topic in planned.items()
    }
    configs = await _topic_configs(kafka_admin, topics)
    for name, topic in planned.items():
        assert {key: configs[name][key] for key in topic.configs} == topic.configs, name


@pytest.mark.kafka
async def test_refuses_a_state_topic_that_breaks_the_engines_assumptions(
    kafka_bootstrap: str, create_topics: CreateTopics, unique_name: Callable[[str], str]
) -> None:
    # A state topic made by hand: not compacted, and not co-partitioned with the events topic.
    state = unique_name("state")
    await create_topics({state: 2})
    settings = {
        **{env_of_flag(flag): unique_name(flag[2:]) for flag in TOPIC_FLAGS},
        "TRIGGER_ENGINE_STATE_TOPIC": state,
        "TRIGGER_ENGINE_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "TOPICS_PARTITIONS": "3",
        "TOPICS_REPLICATION_FACTOR": "1",
    }
    done = _topics_sh("create", **settings)
    assert done.returncode == 1
    assert f"topic '{state}' must have cleanup.policy=compact" in done.stderr
    assert "the state and events topics must be co-partitioned" in done.stderr
    assert f"'{state}' has 2 partitions" in done.stderr
