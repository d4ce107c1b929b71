"""Events of a Kafka topic for `replay --from-kafka`: a time range, read once, no group.

The range of each partition is fixed at the start: from the first record at or after `since` (or
the beginning) to the first record at or after `until` (or the end), and never beyond the last
stable offset taken at the start, so a replay ends even while producers keep writing. Partitions
are read one after the other, in order: the events of a dataset are all in one partition, in
their order, and the output is the same each time.

Replay is synchronous, so this drives its own event loop, one batch at a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from engine.errors import ConfigError
from engine.service.settings import KafkaSettings
from engine.service.topic_reader import Record, read_batches
from engine.service.topics import partition_counts
from engine.sinks import Origin


@dataclass(frozen=True, slots=True)
class OffsetRange:
    tp: TopicPartition
    start: int
    stop: int  # exclusive


def kafka_range_events(
    settings: KafkaSettings, topic: str, since: datetime | None, until: datetime | None
) -> Iterator[Origin]:
    """Every record of the range, where it was read and as it was read."""
    with asyncio.Runner() as runner:
        consumer = runner.run(_started_consumer(settings))
        try:
            ranges = runner.run(_ranges(consumer, settings, topic, since, until))
            for offsets in ranges:
                batches = _range_batches(consumer, offsets)
                while (batch := runner.run(_next(batches))) is not None:
                    for record in batch:
                        yield Origin(
                            topic,
                            record.offset,
                            record.value,
                            record.partition,
                            record.key,
                            tuple(record.headers),
                        )
        finally:
            runner.run(consumer.stop())


async def _started_consumer(settings: KafkaSettings) -> AIOKafkaConsumer:
    consumer = AIOKafkaConsumer(
        **settings.client_options(),
        group_id=None,
        isolation_level="read_committed",
        enable_auto_commit=False,
    )
    await consumer.start()
    return consumer


async def _partitions(settings: KafkaSettings, topic: str) -> list[TopicPartition]:
    admin = AIOKafkaAdminClient(**settings.client_options())
    await admin.start()
    try:
        count = (await partition_counts(admin)).get(topic)
    finally:
        await admin.close()
    if count is None:
        raise ConfigError(f"topic {topic!r}", settings.bootstrap_servers, "does not exist")
    return [TopicPartition(topic, p) for p in range(count)]


async def _ranges(
    consumer: AIOKafkaConsumer,
    settings: KafkaSettings,
    topic: str,
    since: datetime | None,
    until: datetime | None,
) -> list[OffsetRange]:
    tps = await _partitions(settings, topic)
    ends = await consumer.end_offsets(tps)
    if since is None:
        starts = await consumer.beginning_offsets(tps)
    else:
        starts = await _offsets_at(consumer, tps, since, ends)
    stops = ends if until is None else await _offsets_at(consumer, tps, until, ends)
    return [OffsetRange(tp, starts[tp], min(stops[tp], ends[tp])) for tp in tps]


async def _offsets_at(
    consumer: AIOKafkaConsumer,
    tps: list[TopicPartition],
    moment: datetime,
    ends: dict[TopicPartition, int],
) -> dict[TopicPartition, int]:
    """The first offset at or after `moment` in each partition (its end when there is none)."""
    millis = int(moment.timestamp() * 1000)
    found = await consumer.offsets_for_times(dict.fromkeys(tps, millis))
    return {tp: ends[tp] if found[tp] is None else found[tp].offset for tp in tps}


async def _range_batches(
    consumer: AIOKafkaConsumer, offsets: OffsetRange
) -> AsyncIterator[list[Record]]:
    if offsets.start >= offsets.stop:
        return
    consumer.assign([offsets.tp])
    consumer.seek(offsets.tp, offsets.start)
    async for batch in read_batches(consumer, {offsets.tp: offsets.stop}):
        yield batch


async def _next(batches: AsyncIterator[list[Record]]) -> list[Record] | None:
    return await anext(batches, None)
