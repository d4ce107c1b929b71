"""Operator commands written to the events topic (`trigger-engine triggers backfill|invoke` with
`--bootstrap-servers`).

An invoke names its dataset: it is keyed by the dataset id, like the dataset's events, so it lands
in their partition and is ordered with them. A backfill spans an org: it is written once to every
partition of the events topic, in one transaction (all partitions or none), and each partition's
owner backfills the datasets of its partition.
"""

from __future__ import annotations

import asyncio
import hashlib

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from engine.command_events import CommandEvent
from engine.errors import ConfigError
from engine.service.settings import KafkaSettings
from engine.service.topics import partition_counts
from engine.vocabulary import EVENT_KINDS, EventType

_HEADERS = [("content-type", b"application/cloudevents+json")]


async def write_command(
    settings: KafkaSettings, topic: str, command: CommandEvent, transactional_id_prefix: str
) -> list[int]:
    """Write `command` to `topic`; the partitions it was written to."""
    partitions = await _partition_count(settings, topic)
    value = command.line().encode()
    key = command.key.encode()
    if EVENT_KINDS[EventType(command.type)].has_datasetid:
        async with AIOKafkaProducer(
            **settings.client_options(), acks="all", enable_idempotence=True
        ) as producer:
            sent = await producer.send_and_wait(topic, value, key, headers=_HEADERS)
        return [sent.partition]
    # A repeat of the same command takes the same transactional id, and fences an attempt of it
    # that may still be open.
    digest = hashlib.sha256(command.id.encode()).hexdigest()[:16]
    async with (
        AIOKafkaProducer(
            **settings.client_options(),
            transactional_id=f"{transactional_id_prefix}-command-{digest}",
        ) as producer,
        producer.transaction(),
    ):
        sent = [
            await producer.send(topic, value, key, partition=partition, headers=_HEADERS)
            for partition in range(partitions)
        ]
        await asyncio.gather(*sent)
    return list(range(partitions))


async def _partition_count(settings: KafkaSettings, topic: str) -> int:
    """The topic's partition count, read without creating a missing topic."""
    admin = AIOKafkaAdminClient(**settings.client_options())
    await admin.start()
    try:
        counts = await partition_counts(admin)
    finally:
        await admin.close()
    if topic not in counts:
        raise ConfigError(f"events topic {topic!r}", settings.bootstrap_servers, "does not exist")
    return counts[topic]
