"""The changelog reader against the real broker, beside a read_committed consumer reading the same
partitions: the same records for every range, through committed, aborted and interleaved
transactions, records written outside transactions, and batches of one and of many records; an
error that names the place for a range it cannot read; and a read that outlasts a broker stop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic, RecordsToDelete

from engine.service.changelog_reader import ChangelogReader, ChangelogReadError, FetchedRecords
from engine.service.record_batches import KeyedRecord
from tests.kafka.conftest import CreateTopics, PrivateBroker
from tests.kafka.helpers import WAIT_S, read_all, wait_for, wait_last_stable

PARTITIONS = 2


async def _write(bootstrap: str, topic: str) -> None:
    """Transactions of two producers, one aborted while the other commits, and plain records."""
    first, second, plain = (
        AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id=f"{topic}-first"),
        AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id=f"{topic}-second"),
        AIOKafkaProducer(bootstrap_servers=bootstrap),
    )
    await asyncio.gather(first.start(), second.start(), plain.start())
    count = 0

    async def send(producer: AIOKafkaProducer, partition: int, n: int, *, one_batch: bool) -> None:
        nonlocal count
        sends = []
        for _ in range(n):
            key, value = f"k{count % 5}".encode(), None if count % 7 == 3 else f"v{count}".encode()
            count += 1
            if one_batch:
                sends.append(await producer.send(topic, value, key=key, partition=partition))
            else:
                await producer.send_and_wait(topic, value, key=key, partition=partition)
        await asyncio.gather(*sends)

    try:
        async with first.transaction():
            await send(first, 0, 6, one_batch=True)
            await send(first, 1, 3, one_batch=False)
        await first.begin_transaction()
        await send(first, 0, 4, one_batch=True)
        await send(plain, 0, 2, one_batch=False)
        async with second.transaction():
            await send(second, 0, 3, one_batch=False)
            await send(second, 1, 5, one_batch=True)
        await send(first, 1, 2, one_batch=False)
        await first.abort_transaction()
        async with first.transaction():
            await send(first, 0, 5, one_batch=True)
            await send(first, 1, 1, one_batch=True)
    finally:
        await asyncio.gather(first.stop(), second.stop(), plain.stop())


async def _read(
    changelog: ChangelogReader, ranges: dict[int, tuple[int, int]]
) -> dict[int, list[FetchedRecords]]:
    chunks: dict[int, list[FetchedRecords]] = {p: [] for p in ranges}
    async for fetched in changelog.read(ranges):
        chunks[fetched.partition].append(fetched)
    return chunks


def _records(chunks: list[FetchedRecords]) -> list[KeyedRecord]:
    return [record for chunk in chunks for record in chunk.records]


async def test_every_range_reads_as_a_read_committed_consumer_reads_it(
    kafka_bootstrap: str, create_topics: CreateTopics, unique_name: Callable[[str], str]
) -> None:
    topic = unique_name("changelog")
    await create_topics({topic: PARTITIONS}, compacted=True)
    await _write(kafka_bootstrap, topic)
    consumed = await read_all(kafka_bootstrap, topic)
    expected = {
        p: [(r.offset, (r.key, r.value)) for r in consumed if r.partition == p]
        for p in range(PARTITIONS)
    }
    options = {"bootstrap_servers": kafka_bootstrap}
    async with ChangelogReader(options, topic, PARTITIONS) as changelog:
        ends = await changelog.ends(range(PARTITIONS))
        assert await changelog.beginnings(range(PARTITIONS)) == {0: 0, 1: 0}
        whole = await _read(changelog, {p: (0, ends[p]) for p in range(PARTITIONS)})
        for p in range(PARTITIONS):
            assert _records(whole[p]) == [record for _, record in expected[p]]
            assert whole[p][-1].next_offset == ends[p]
        assert len(expected[0]) > 10 and len(expected[1]) > 5  # aborted ones are not among them
        for p in range(PARTITIONS):
            for start in range(ends[p]):
                for stop in (start + 1, ends[p]):
                    chunks = (await _read(changelog, {p: (start, stop)}))[p]
                    wanted = [r for offset, r in expected[p] if start <= offset < stop]
                    assert _records(chunks) == wanted, (p, start, stop)
                    assert all(c.next_offset <= stop for c in chunks)


async def test_a_range_that_begins_before_the_partitions_first_offset_is_an_error_naming_it(
    kafka_bootstrap: str,
    create_topics: CreateTopics,
    unique_name: Callable[[str], str],
    kafka_admin: AIOKafkaAdminClient,
) -> None:
    topic = unique_name("trimmed")
    await create_topics({topic: 1})
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        for i in range(4):
            await producer.send_and_wait(topic, b"v", key=f"k{i}".encode(), partition=0)
    finally:
        await producer.stop()
    await kafka_admin.delete_records({TopicPartition(topic, 0): RecordsToDelete(2)})
    async with ChangelogReader({"bootstrap_servers": kafka_bootstrap}, topic, 1) as changelog:
        assert await changelog.beginnings([0]) == {0: 2}
        assert _records((await _read(changelog, {0: (2, 4)}))[0]) == [(b"k2", b"v"), (b"k3", b"v")]
        with pytest.raises(ChangelogReadError, match=rf"{topic}/0 at offset 0: OffsetOutOfRange"):
            await _read(changelog, {0: (0, 4)})


async def test_a_read_goes_on_where_it_was_once_a_stopped_broker_is_back(
    private_broker: PrivateBroker,
    unique_name: Callable[[str], str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """More records than two fetches bring: the third is asked for while the broker is down."""
    bootstrap, topic = private_broker.bootstrap, unique_name("changelog")
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, replication_factor=1)])
    finally:
        await admin.close()
    written = [(f"k{i}".encode(), bytes(1000)) for i in range(3 * 1024)]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id=f"{topic}-writer")
    await producer.start()
    try:
        async with producer.transaction():
            for key, value in written:
                await producer.send(topic, value, key=key, partition=0)
    finally:
        await producer.stop()

    async with ChangelogReader({"bootstrap_servers": bootstrap}, topic, 1) as changelog:
        end = len(written) + 1  # past the commit marker
        await wait_last_stable(changelog, {0: end})
        fetches = changelog.read({0: (0, end)})
        first = await anext(fetches)
        await asyncio.to_thread(private_broker.run, "stop")

        async def rest() -> list[KeyedRecord]:
            return [record async for fetched in fetches for record in fetched.records]

        reading = asyncio.ensure_future(rest())
        await wait_for(lambda: "trying again" in caplog.text, "a fetch to fail and be retried")
        assert not reading.done()
        await asyncio.to_thread(private_broker.run, "start")
        async with asyncio.timeout(WAIT_S):
            records = first.records + await reading
    assert records == written
