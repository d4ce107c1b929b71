"""The topics the service uses: checked at start, created when missing if asked (`--create-topics`).

The plan follows deploy/topics.sh: the state changelog and the outputs have the input's partition
count, the changelog and the registry topics are compacted. The changelog must have exactly the
input's partition count (partition p holds the state of input partition p), so that is checked
whether or not topics are created here. The topics the engine writes are created taking record
batches as large as the engine sends (`--producer-max-request-bytes`), and the limit of every
written topic is read at start (`max_message_bytes`).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError, for_code

from engine.errors import ConfigError
from engine.service.limits import DEFAULT_MAX_MESSAGE_BYTES
from engine.service.settings import ServiceSettings

log = logging.getLogger(__name__)

DEFAULT_PARTITIONS = 12  # deploy/topics.sh's TOPICS_PARTITIONS, for a missing input topic
REGISTRY_PARTITIONS = 1
MAX_REPLICATION = 3
DEFAULT_DELETE_RETENTION_MS = 86_400_000  # Kafka's default delete.retention.ms
_METADATA_TIMEOUT_S = 30.0
_METADATA_POLL_S = 0.1


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int
    compacted: bool = False
    max_message_bytes: int | None = None  # None: the broker's default

    def configs(self) -> dict[str, str]:
        configs = {"cleanup.policy": "compact"} if self.compacted else {}
        if self.max_message_bytes is not None:
            configs["max.message.bytes"] = str(self.max_message_bytes)
        return configs


def topic_plan(settings: ServiceSettings, partitions: int) -> list[TopicSpec]:
    """Every topic the service reads or writes; `partitions` is the input's partition count."""
    largest = settings.producer_max_request_bytes  # of the topics the engine writes
    plan = [
        TopicSpec(settings.events_topic, partitions),
        TopicSpec(settings.state_topic, partitions, compacted=True, max_message_bytes=largest),
        TopicSpec(settings.invocations_topic, partitions, max_message_bytes=largest),
        TopicSpec(settings.dlq_topic, partitions, max_message_bytes=largest),
        TopicSpec(settings.triggers_topic, REGISTRY_PARTITIONS, compacted=True),
    ]
    if settings.evaluations_topic:
        plan.append(TopicSpec(settings.evaluations_topic, partitions, max_message_bytes=largest))
    if settings.actions is None:
        plan.append(TopicSpec(settings.actions_topic, REGISTRY_PARTITIONS, compacted=True))
    return plan


def written_topics(settings: ServiceSettings) -> list[str]:
    """The topics the engine writes records to: in its transactions, nowhere else."""
    topics = [settings.state_topic, settings.invocations_topic, settings.evaluations_topic]
    return [topic for topic in (*topics, settings.dlq_topic) if topic]


async def prepare_topics(settings: ServiceSettings) -> int:
    """Check (and with `create_topics`, first create) the topics; the input's partition count."""
    admin = AIOKafkaAdminClient(**settings.kafka.client_options())
    await admin.start()
    try:
        counts = await partition_counts(admin)
        if settings.create_topics:
            partitions = counts.get(settings.events_topic, DEFAULT_PARTITIONS)
            missing = [t for t in topic_plan(settings, partitions) if t.name not in counts]
            if missing:
                await _create(admin, missing)
                counts = await partition_counts(admin)
        partitions = counts.get(settings.events_topic, 0)
        _check(settings, counts, partitions)
        return partitions
    finally:
        await admin.close()


def _check(settings: ServiceSettings, counts: dict[str, int], partitions: int) -> None:
    missing = sorted(t.name for t in topic_plan(settings, partitions) if t.name not in counts)
    if missing:
        raise ConfigError(
            f"topics {', '.join(missing)}",
            settings.kafka.bootstrap_servers,
            "do not exist; create them with deploy/topics.sh or pass --create-topics",
        )
    state = counts[settings.state_topic]
    if state != partitions:
        raise ConfigError(
            f"state topic {settings.state_topic!r}",
            settings.kafka.bootstrap_servers,
            f"has {state} partitions but {settings.events_topic!r} has {partitions}; "
            "the changelog must be co-partitioned with the input",
        )


async def max_message_bytes(settings: ServiceSettings) -> dict[str, int]:
    """The `max.message.bytes` of each topic the engine writes, read once at start. A topic whose
    configuration cannot be read (no DescribeConfigs permission) counts with Kafka's default."""
    return await _topic_config(
        settings, written_topics(settings), "max.message.bytes", DEFAULT_MAX_MESSAGE_BYTES
    )


async def tombstone_retention_ms(settings: ServiceSettings) -> int:
    """How long the state changelog keeps a removal's tombstone (`delete.retention.ms`), read at
    start: a disk store last written longer ago may have missed one."""
    topic = settings.state_topic
    found = await _topic_config(
        settings, [topic], "delete.retention.ms", DEFAULT_DELETE_RETENTION_MS
    )
    return found[topic]


async def _topic_config(
    settings: ServiceSettings, topics: list[str], name: str, default: int
) -> dict[str, int]:
    """The integer configuration `name` of each topic; `default` where it cannot be read."""
    admin = AIOKafkaAdminClient(**settings.kafka.client_options())
    await admin.start()
    try:
        responses = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic, {name: None}) for topic in topics]
        )
    finally:
        await admin.close()
    values = dict.fromkeys(topics, default)
    for response in responses:
        for resource in response.to_object()["resources"]:
            entries = resource["config_entries"]
            if resource["error_code"] == 0 and entries:
                values[resource["resource_name"]] = int(entries[0]["config_value"])
            else:
                log.warning(
                    "%s of topic %r cannot be read (error %d): taking %d",
                    name,
                    resource["resource_name"],
                    resource["error_code"],
                    default,
                )
    return values


async def partition_counts(admin: AIOKafkaAdminClient) -> dict[str, int]:
    """Partition counts of the existing topics whose partitions all have a leader.

    Listing every topic first keeps the metadata request from auto-creating a missing one."""
    names = await admin.list_topics()
    described = await admin.describe_topics(names) if names else []
    return {
        t["topic"]: len(t["partitions"])
        for t in described
        if t["error_code"] == 0 and all(p["leader"] >= 0 for p in t["partitions"])
    }


async def _create(admin: AIOKafkaAdminClient, specs: list[TopicSpec]) -> None:
    brokers = len((await admin.describe_cluster())["brokers"])
    replication = min(MAX_REPLICATION, brokers)
    response = await admin.create_topics(
        [
            NewTopic(
                spec.name,
                spec.partitions,
                replication,
                topic_configs=spec.configs(),
            )
            for spec in specs
        ]
    )
    for name, code, message in response.topic_errors:
        error = for_code(code) if code else None
        if error is not None and error is not TopicAlreadyExistsError:  # another replica won
            raise ConfigError(f"topic {name!r}", None, f"cannot be created: {message or error}")
    log.info("created topics %s", ", ".join(spec.name for spec in specs))
    await _until_served(admin, [spec.name for spec in specs])


async def _until_served(admin: AIOKafkaAdminClient, names: list[str]) -> None:
    # The controller acknowledges a topic before every broker serves its metadata, and the
    # protocol has no notification for that: poll.
    try:
        async with asyncio.timeout(_METADATA_TIMEOUT_S):
            while not set(names) <= (await partition_counts(admin)).keys():
                await asyncio.sleep(_METADATA_POLL_S)
    except TimeoutError:
        raise ConfigError(
            f"topics {', '.join(names)}",
            None,
            f"not served {_METADATA_TIMEOUT_S:g} s after creation",
        ) from None
