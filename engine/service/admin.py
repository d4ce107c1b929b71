"""Operator commands on a deployment's Kafka state: `trigger-engine admin seek`.

An input partition resumes at the next input offset recorded in its state changelog
(`engine.service.changelog`), not at the group's committed offset, so resetting the group moves
nothing. A seek writes that record instead, in a transaction of the partition's own transactional
id: initialising the id fences the partition's running owner, whose next transaction fails; the
owner then reopens the partition and restores its state and position from the changelog, which
now says the new offset (`TriggerService._fenced`). A stopped deployment reads it at its next
start. The group's offset moves in the same transaction, so lag tools agree with the engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError, ProducerFenced

from engine.errors import ConfigError
from engine.service.changelog import offset_record
from engine.service.partition import open_producer
from engine.service.settings import ServiceSettings
from engine.service.topics import partition_counts

# The owner may reopen the partition between the seek's init and its commit, fencing the seek in
# turn (its init aborts the seek's transaction); a new attempt fences it again.
_SEEK_ATTEMPTS = 5
# A cluster no group has used yet has no coordinator to name until it has made its offsets topic.
_COORDINATOR_WAIT_S = 30.0
_COORDINATOR_POLL_S = 0.2


@dataclass(frozen=True, slots=True)
class Seek:
    """A committed seek: where the partition resumes, and the group's offset before it."""

    tp: TopicPartition
    offset: int
    previous: int | None  # None: the group had no committed offset for the partition


async def seek(settings: ServiceSettings, partition: int, offset: int) -> Seek:
    """Make input `partition` resume at `offset`; records below it that were not processed yet
    never will be. `ConfigError` for a partition or offset that does not exist."""
    tp = TopicPartition(settings.events_topic, partition)
    previous = await _check(settings, tp, offset)
    for _ in range(_SEEK_ATTEMPTS - 1):
        with contextlib.suppress(ProducerFenced):
            await _write(settings, tp, offset)
            return Seek(tp, offset, previous)
    await _write(settings, tp, offset)  # the last attempt raises what fails it
    return Seek(tp, offset, previous)


async def _write(settings: ServiceSettings, tp: TopicPartition, offset: int) -> None:
    producer = await open_producer(settings, tp.partition)  # fences the partition's owner
    try:
        await producer.begin_transaction()
        key, value = offset_record(offset)
        await producer.send(settings.state_topic, value, key, partition=tp.partition)
        await producer.send_offsets_to_transaction({tp: offset}, settings.group_id)
        await producer.commit_transaction()
    finally:
        await producer.stop()


async def _check(settings: ServiceSettings, tp: TopicPartition, offset: int) -> int | None:
    """Check that the partition exists, with its changelog partition, and that `offset` is
    between its first offset and its end; the group's committed offset of the partition."""
    admin = AIOKafkaAdminClient(**settings.kafka.client_options())
    await admin.start()
    try:
        counts = await partition_counts(admin)
        _check_partition(settings, counts, tp.partition)
        previous = await _committed(admin, settings.group_id, tp)
    finally:
        await admin.close()
    first, end = await _bounds(settings, tp)
    if not first <= offset <= end:
        raise ConfigError(
            "--offset",
            f"{tp.topic}/{tp.partition}",
            f"{offset} is outside the partition's offsets {first}..{end} (its first offset, "
            "its end)",
        )
    return previous


async def _committed(admin: AIOKafkaAdminClient, group: str, tp: TopicPartition) -> int | None:
    """The group's committed offset of `tp`, None if it has none; asked again while the broker
    answers with a retriable error, for at most `_COORDINATOR_WAIT_S`."""
    deadline = time.monotonic() + _COORDINATOR_WAIT_S
    while True:
        try:
            committed = await admin.list_consumer_group_offsets(group, partitions=[tp])
        except KafkaError as error:
            if not error.retriable or time.monotonic() >= deadline:
                raise
            await asyncio.sleep(_COORDINATOR_POLL_S)
            continue
        found = committed.get(tp)
        return None if found is None or found.offset < 0 else found.offset


def _check_partition(settings: ServiceSettings, counts: dict[str, int], partition: int) -> None:
    place = settings.kafka.bootstrap_servers
    events, state = settings.events_topic, settings.state_topic
    for topic in (events, state):
        if topic not in counts:
            raise ConfigError(f"topic {topic!r}", place, "does not exist")
    if counts[state] != counts[events]:
        reason = f"has {counts[state]} partitions but {events!r} has {counts[events]}"
        raise ConfigError(f"state topic {state!r}", place, reason)
    if not 0 <= partition < counts[events]:
        reason = f"{events!r} has partitions 0..{counts[events] - 1}"
        raise ConfigError("--partition", place, f"{partition} does not exist: {reason}")


async def _bounds(settings: ServiceSettings, tp: TopicPartition) -> tuple[int, int]:
    consumer = AIOKafkaConsumer(**settings.kafka.client_options(), group_id=None)
    await consumer.start()
    try:
        first = await consumer.beginning_offsets([tp])
        end = await consumer.end_offsets([tp])
    finally:
        await consumer.stop()
    return first[tp], end[tp]
