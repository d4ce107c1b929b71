"""Reading assigned partitions to fixed offsets through a consumer: registry load, Kafka replay."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

Record = ConsumerRecord[bytes, bytes]
_FETCH_TIMEOUT_MS = 500


async def read_batches(
    consumer: AIOKafkaConsumer, stops: Mapping[TopicPartition, int]
) -> AsyncIterator[list[Record]]:
    """Batches of records of the assigned partitions in `stops`, from their current positions up
    to, not including, their stop offsets. With read_committed and stops at the last stable
    offsets, this is everything committed when the stops were taken."""
    remaining = await _unfinished(consumer, list(stops), stops)
    while remaining:
        batches = await consumer.getmany(*remaining, timeout_ms=_FETCH_TIMEOUT_MS)
        for tp, records in batches.items():
            stop = stops[tp]
            if records and records[-1].offset < stop:
                yield records
            elif wanted := [r for r in records if r.offset < stop]:
                yield wanted
        remaining = await _unfinished(consumer, remaining, stops)


async def _unfinished(
    consumer: AIOKafkaConsumer,
    partitions: list[TopicPartition],
    stops: Mapping[TopicPartition, int],
) -> list[TopicPartition]:
    return [tp for tp in partitions if await consumer.position(tp) < stops[tp]]
