"""The state changelog: a compacted topic co-partitioned with the input.

Partition p of the changelog holds the state changes of the datasets of input partition p, written
in the same transactions as the outputs and the consumed offsets. Each transaction also records the
next input offset under `OFFSET_KEY`, so a restored state says exactly which input it has seen: the
consumer resumes there, whether or not the group's offset commit is visible yet.

Without a state directory, a partition's state is rebuilt into a `RestoredStateStore`, which
keeps each dataset's records encoded until the dataset is first used. With a state directory,
each partition's state is a `DiskStateStore` whose checkpoint says up to which changelog offset it
is complete: restoring it reads only the changelog from there. A store that cannot be trusted
(missing, unreadable, without a checkpoint, whose checkpoint lies outside the changelog partition,
or older than the changelog keeps tombstones) is rebuilt from the changelog's beginning.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition

from engine.collector import long_lived
from engine.disk_state import Checkpoint, DiskStateStore, StoreUnreadable
from engine.restored_state import RestoredStateStore
from engine.service.topic_reader import read_batches
from engine.state import StateStore

log = logging.getLogger(__name__)

# Not a JSON list, so never one of the journal's keys.
OFFSET_KEY = b"input-offset"


@dataclass(slots=True)
class PartitionState:
    """The state of one input partition, complete up to `changelog_end` of its changelog."""

    changelog_end: int
    state: StateStore = field(default_factory=StateStore)
    input_offset: int | None = None  # the next input offset the last transaction recorded
    restored_records: int = 0  # changelog records read to restore it

    def committed(self, changelog_end: int, input_offset: int) -> None:
        """A transaction committed; a disk store writes its changes and checkpoint now."""
        self.changelog_end, self.input_offset = changelog_end, input_offset
        if isinstance(self.state, DiskStateStore):
            self.state.commit(changelog_end, input_offset)

    def aborted(self) -> None:
        """A transaction aborted: a disk store forgets its changes (the disk has none of them)."""
        if isinstance(self.state, DiskStateStore):
            self.state.discard()


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
    else rebuilt by reading the changelog partition from its beginning to its end offset into a
    `RestoredStateStore`.

    `consumer` must be read_committed and belong to no group; the caller owns the partitions'
    transactional ids (their init completed or aborted every earlier transaction), so the end
    offsets read here cover every change ever committed.
    """
    ends = await changelog_ends(consumer, topic, partitions)
    states = {
        p: parked[p]
        if p in parked and parked[p].changelog_end == end
        else PartitionState(end, RestoredStateStore())
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
    with long_lived():  # the state it builds lives on, as a replay's does
        async for records in read_batches(consumer, ends):
            state = states[records[0].partition]
            store = state.state
            assert isinstance(store, RestoredStateStore)  # made so by `restore`
            state.restored_records += len(records)
            for record in records:
                if record.key == OFFSET_KEY:
                    state.input_offset = int(record.value)
                else:
                    store.hold(record.key, record.value)
    # Paused, not unsubscribed: with nothing assigned, aiokafka asks for the metadata of every
    # topic of the cluster, at once and again every metadata_max_age_ms, and decoding that stalls
    # the event loop on a cluster with many topics.
    consumer.pause(*tps)


def open_store(path: Path, cache_datasets: int, cache_files: int | None = None) -> DiskStateStore:
    """The store at `path`; an empty one in place of one that cannot be opened."""
    try:
        return DiskStateStore(path, cache_datasets, cache_files)
    except StoreUnreadable as exc:
        log.warning("%s; rebuilding it from the changelog", exc)
        return DiskStateStore.fresh(path, cache_datasets, cache_files)


def distrust(
    checkpoint: Checkpoint | None, beginning: int, end: int, now: float, tombstones_kept_s: float
) -> str | None:
    """Why a disk store at `checkpoint` cannot be brought up to date from the changelog's tail,
    which spans offsets `beginning` to `end` and keeps a removal's tombstone `tombstones_kept_s`
    seconds; None when it can."""
    if checkpoint is None:
        return "it has no checkpoint"
    offset = checkpoint.changelog_offset
    if not beginning <= offset <= end:
        return f"its checkpoint, changelog offset {offset}, is outside offsets {beginning} to {end}"
    if now - checkpoint.written_at > tombstones_kept_s:
        return (
            f"its checkpoint was written {now - checkpoint.written_at:.0f} s ago, longer than the "
            f"changelog keeps tombstones ({tombstones_kept_s:.0f} s): removals since may be gone"
        )
    return None


async def restore_stores(
    consumer: AIOKafkaConsumer,
    topic: str,
    stores: Mapping[int, DiskStateStore],
    tombstones_kept_s: float,
) -> dict[int, PartitionState]:
    """The state of each partition in its disk store, brought up to the changelog's end offset:
    from the store's checkpoint if `distrust` finds nothing against it, else from its beginning
    into an emptied store. `consumer` as for `restore`."""
    ends = await changelog_ends(consumer, topic, stores)
    beginnings = await consumer.beginning_offsets([TopicPartition(topic, p) for p in stores])
    starts = {tp.partition: offset for tp, offset in beginnings.items()}
    states: dict[int, PartitionState] = {}
    positions: dict[TopicPartition, int] = {}
    for p, store in stores.items():
        checkpoint = store.checkpoint
        reason = distrust(checkpoint, starts[p], ends[p], time.time(), tombstones_kept_s)
        if reason is not None:
            if checkpoint is not None:  # a new store has none: nothing to say
                log.warning(
                    "state store %s of %s/%d: %s; rebuilding it", store.path, topic, p, reason
                )
            store.close()
            store = DiskStateStore.fresh(store.path, store.cache_datasets, store.cache_files)
            states[p] = PartitionState(starts[p], store)
        else:
            assert checkpoint is not None
            states[p] = PartitionState(checkpoint.changelog_offset, store, checkpoint.input_offset)
        if states[p].changelog_end < ends[p]:
            positions[TopicPartition(topic, p)] = states[p].changelog_end
    if positions:
        await _read_tails(consumer, positions, ends, states)
    for p, state in states.items():
        state.changelog_end = ends[p]
        store = state.state
        assert isinstance(store, DiskStateStore)
        checkpoint = store.checkpoint
        if checkpoint is None or checkpoint.changelog_offset != ends[p]:
            store.commit(ends[p], state.input_offset)  # past the commit markers: all is read
    return states


async def _read_tails(
    consumer: AIOKafkaConsumer,
    positions: Mapping[TopicPartition, int],
    ends: Mapping[int, int],
    states: dict[int, PartitionState],
) -> None:
    """Write the records from `positions` to the partitions' ends into their stores, a fetched
    batch at a time, each with the checkpoint just past it."""
    tps = list(positions)
    consumer.assign(tps)
    for tp, offset in positions.items():
        consumer.seek(tp, offset)
    # Without collections: a fetched batch's records live until written, long enough to reach
    # the oldest generation, and collecting it again and again would walk them every time.
    with long_lived():
        async for records in read_batches(consumer, {tp: ends[tp.partition] for tp in tps}):
            state = states[records[0].partition]
            store = state.state
            assert isinstance(store, DiskStateStore)  # made so by `restore_stores`
            state.restored_records += len(records)
            written = [(r.key, r.value) for r in records if r.key != OFFSET_KEY]
            if len(written) < len(records):
                last = next(r for r in reversed(records) if r.key == OFFSET_KEY)
                state.input_offset = int(last.value)
            store.write_records(written, records[-1].offset + 1, state.input_offset)
    consumer.pause(*tps)  # as in `_read_to_ends`
