"""The test broker supports what the service relies on, exercised with aiokafka: explicit topic
creation, transactions spanning two topics and the consumer group's offsets, aborted transactions
invisible to read_committed consumers, partitions shared and handed over inside a consumer group,
and fencing of a zombie producer.

Waits end on a condition, never on a clock. To prove that records are absent, a check ends with
a committed "sentinel" transaction written after everything under test: a read_committed consumer
only gets past a transaction once the broker has decided it, so having read the sentinels proves
that every earlier record it will ever show has been shown.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import ProducerFenced

from tests.kafka.conftest import CreateTopics

WAIT_S = 30
SENTINEL = b"sentinel"
Records = list[ConsumerRecord[bytes, bytes]]


def _consumer(
    bootstrap: str, group: str, isolation_level: str = "read_committed"
) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        isolation_level=isolation_level,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        # Frequent heartbeats let members notice a rebalance quickly.
        heartbeat_interval_ms=200,
    )


def _transactional_producer(bootstrap: str, transactional_id: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap, transactional_id=transactional_id, enable_idempotence=True
    )


async def _read_until(consumer: AIOKafkaConsumer, done: Callable[[Records], bool]) -> Records:
    records: Records = []
    async with asyncio.timeout(WAIT_S):
        while not done(records):
            batches = await consumer.getmany(timeout_ms=200)
            records.extend(record for batch in batches.values() for record in batch)
    return records


async def _read_through_sentinels(
    bootstrap: str, group: str, partitions: list[TopicPartition], isolation_level: str
) -> dict[str, list[bytes]]:
    """Values (sentinels left out) a fresh member of `group` reads from each topic up to the
    sentinels on the given partitions."""
    topics = sorted({partition.topic for partition in partitions})
    consumer = _consumer(bootstrap, group, isolation_level)
    await consumer.start()
    try:
        consumer.subscribe(topics)
        records = await _read_until(
            consumer,
            lambda seen: {
                TopicPartition(r.topic, r.partition) for r in seen if r.value == SENTINEL
            }.issuperset(partitions),
        )
    finally:
        await consumer.stop()
    return {
        topic: [r.value for r in records if r.topic == topic and r.value != SENTINEL]
        for topic in topics
    }


async def _commit_sentinels(producer: AIOKafkaProducer, partitions: list[TopicPartition]) -> None:
    """A transactional producer's next transaction can only begin once its previous one is
    complete everywhere, group offsets included; the sentinels close the log behind it."""
    async with producer.transaction():
        for partition in partitions:
            await producer.send_and_wait(partition.topic, SENTINEL, partition=partition.partition)


async def _until_members_hold(
    members: list[AIOKafkaConsumer], partition_counts: list[int]
) -> list[set[TopicPartition]]:
    """Polls the members (which drives their rebalances) until they hold that many partitions."""
    async with asyncio.timeout(WAIT_S):
        while [len(member.assignment()) for member in members] != partition_counts:
            await asyncio.gather(*(member.getmany(timeout_ms=100) for member in members))
    return [member.assignment() for member in members]


async def test_topics_are_created_with_partitions_and_cleanup_policy(
    kafka_admin: AIOKafkaAdminClient, create_topics: CreateTopics, unique_name: Callable[[str], str]
) -> None:
    events, changelog = unique_name("events"), unique_name("changelog")

    await create_topics({events: 3})
    await create_topics({changelog: 2}, compacted=True)

    described = await kafka_admin.describe_topics([events, changelog])
    assert {t["topic"]: len(t["partitions"]) for t in described} == {events: 3, changelog: 2}
    policies = {}
    for topic in (events, changelog):
        [response] = await kafka_admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic, {"cleanup.policy": None})]
        )
        [entry] = response.to_object()["resources"][0]["config_entries"]
        policies[topic] = entry["config_value"]
    assert policies == {events: "delete", changelog: "compact"}


async def test_transactions_commit_outputs_and_group_offsets_together_and_aborts_stay_invisible(
    kafka_bootstrap: str, create_topics: CreateTopics, unique_name: Callable[[str], str]
) -> None:
    source, output, changelog = unique_name("source"), unique_name("output"), unique_name("state")
    group = unique_name("group")
    await create_topics({source: 1, output: 2, changelog: 2})
    async with AIOKafkaProducer(bootstrap_servers=kafka_bootstrap) as plain:
        for value in (b"e0", b"e1", b"e2"):
            await plain.send_and_wait(source, value)
    source_partition = TopicPartition(source, 0)
    written = [TopicPartition(topic, p) for topic in (output, changelog) for p in (0, 1)]

    member = _consumer(kafka_bootstrap, group)
    await member.start()
    try:
        member.subscribe([source])
        consumed = await _read_until(member, lambda seen: len(seen) == 3)
        async with _transactional_producer(kafka_bootstrap, unique_name("tx")) as producer:
            async with producer.transaction():
                for record in consumed:
                    await producer.send_and_wait(output, b"out-" + record.value, key=record.value)
                    await producer.send_and_wait(changelog, b"state-" + record.value)
                await producer.send_offsets_to_transaction({source_partition: 3}, group)
            await producer.begin_transaction()
            await producer.send_and_wait(output, b"aborted", partition=0)
            await producer.send_and_wait(changelog, b"aborted", partition=1)
            await producer.send_offsets_to_transaction({source_partition: 1}, group)
            await producer.abort_transaction()
            await _commit_sentinels(producer, written)
        committed_offset = await member.committed(source_partition)
    finally:
        await member.stop()

    assert [r.value for r in consumed] == [b"e0", b"e1", b"e2"]
    assert committed_offset == 3
    committed = await _read_through_sentinels(
        kafka_bootstrap, unique_name("committed"), written, "read_committed"
    )
    assert sorted(committed[output]) == [b"out-e0", b"out-e1", b"out-e2"]
    assert sorted(committed[changelog]) == [b"state-e0", b"state-e1", b"state-e2"]
    # The aborted records were really written: only isolation keeps them from committed readers.
    everything = await _read_through_sentinels(
        kafka_bootstrap, unique_name("uncommitted"), written, "read_uncommitted"
    )
    assert sorted(everything[output]) == [b"aborted", b"out-e0", b"out-e1", b"out-e2"]
    assert sorted(everything[changelog]) == [b"aborted", b"state-e0", b"state-e1", b"state-e2"]


async def test_group_members_share_partitions_and_take_over_when_one_leaves(
    kafka_bootstrap: str, create_topics: CreateTopics, unique_name: Callable[[str], str]
) -> None:
    events, group = unique_name("events"), unique_name("group")
    await create_topics({events: 2})
    first, second = _consumer(kafka_bootstrap, group), _consumer(kafka_bootstrap, group)
    await first.start()
    await second.start()
    try:
        first.subscribe([events])
        second.subscribe([events])
        shared = await _until_members_hold([first, second], [1, 1])
        await second.stop()
        [taken_over] = await _until_members_hold([first], [2])
    finally:
        await first.stop()
        await second.stop()

    everything = {TopicPartition(events, 0), TopicPartition(events, 1)}
    assert shared[0] | shared[1] == everything
    assert taken_over == everything


async def test_a_new_producer_with_the_same_transactional_id_fences_the_old_one(
    kafka_bootstrap: str, create_topics: CreateTopics, unique_name: Callable[[str], str]
) -> None:
    output, transactional_id = unique_name("output"), unique_name("tx")
    await create_topics({output: 1})
    partition = TopicPartition(output, 0)

    async with _transactional_producer(kafka_bootstrap, transactional_id) as zombie:
        await zombie.begin_transaction()
        await zombie.send_and_wait(output, b"zombie")
        # Starting the successor bumps the producer epoch and aborts the zombie's transaction.
        async with _transactional_producer(kafka_bootstrap, transactional_id) as successor:
            with pytest.raises(ProducerFenced):
                await zombie.commit_transaction()
            async with successor.transaction():
                await successor.send_and_wait(output, b"successor")
            await _commit_sentinels(successor, [partition])

    committed = await _read_through_sentinels(
        kafka_bootstrap, unique_name("committed"), [partition], "read_committed"
    )
    assert committed[output] == [b"successor"]
