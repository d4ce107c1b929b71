"""The state changelog: a compacted topic co-partitioned with the input.

Partition p of the changelog holds the state changes of the datasets of input partition p, written
in the same transactions as the outputs and the consumed offsets. Each transaction also records the
next input offset under `OFFSET_KEY`, so a restored state says exactly which input it has seen: the
consumer resumes there, whether or not the group's offset commit is visible yet.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition

from engine.service.journal import decode
from engine.service.topic_reader import Record, read_batches
from engine.state import StateStore

# Not a JSON list, so never one of the journal's keys.
OFFSET_KEY = b"input-offset"


@dataclass(slots=True)
class PartitionState:
    """The state of one input partition, complete up to `changelog_end` of its changelog."""

    changelog_end: int
    state: StateStore = field(default_factory=StateStore)
    input_offset: int | None = None  # the next input offset the last transaction recorded

    def apply(self, record: Record) -> None:
        if record.key == OFFSET_KEY:
            self.input_offset = int(record.value)
        elif (change := decode(record.key, record.value)) is not None:
            self.state.restore(change)


def offset_record(next_offset: int) -> tuple[bytes, bytes]:
    return OFFSET_KEY, str(next_offset).encode()


async def changelog_ends(
    consumer: AIOKafkaConsumer, topic: str, partitions: Iterable[int]
) -> dict[int, int]:
    """End offsets; with a read_committed consumer, the last stable offsets."""
    ends = await consumer.end_offsets([TopicPartition(topic, p) for p in partitions])
    return {tp.partition: offset for tp, offset in ends.items()}


async def restore(
    consumer: AIOKafkaConsumer,
    topic: str,
    partitions: Iterable[int],
    parked: Mapping[int, PartitionState],
) -> dict[int, PartitionState]:
    """The state of each partition: a parked one when nothing was written since it was parked,
    else rebuilt by reading the changelog partition from its beginning to its end offset.

    `consumer` must be read_committed and belong to no group; the caller owns the partitions'
    transactional ids (their init completed or aborted every earlier transaction), so the end
    offsets read here cover every change ever committed.
    """
    ends = await changelog_ends(consumer, topic, partitions)
    states = {
        p: parked[p] if p in parked and parked[p].changelog_end == end else PartitionState(end)
        for p, end in ends.items()
    }
    rebuild = [TopicPartition(topic, p) for p, s in states.items() if s is not parked.get(p)]
    if rebuild:
        await _read_to_ends(consumer, rebuild, states)
    return states


async def _read_to_ends(
    consumer: AIOKafkaConsumer, tps: list[TopicPartition], states: dict[int, PartitionState]
) -> None:
    consumer.assign(tps)
    await consumer.seek_to_beginning(*tps)
    ends = {tp: states[tp.partition].changelog_end for tp in tps}
    async for records in read_batches(consumer, ends):
        state = states[records[0].partition]
        for record in records:
            state.apply(record)
    # Paused, not unsubscribed: with nothing assigned, aiokafka asks for the metadata of every
    # topic of the cluster, at once and again every metadata_max_age_ms, and decoding that stalls
    # the event loop on a cluster with many topics.
    consumer.pause(*tps)
