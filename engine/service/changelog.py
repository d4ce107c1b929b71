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
or older than the changelog keeps tombstones) is rebuilt from the changelog's beginning. Both
read the changelog through a `ChangelogReader`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import aclosing
from dataclasses import dataclass, field
from pathlib import Path

from engine.collector import long_lived
from engine.disk_state import Checkpoint, DiskStateStore, StoreUnreadable
from engine.restored_state import RestoredStateStore
from engine.service.changelog_reader import ChangelogReader, FetchedRecords
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


async def restore(
    changelog: ChangelogReader, partitions: Iterable[int], parked: Mapping[int, PartitionState]
) -> dict[int, PartitionState]:
    """The state of each partition: a parked one when nothing was written since it was parked,
    else rebuilt by reading the changelog partition from its beginning to its end offset into a
    `RestoredStateStore`.

    The caller owns the partitions' transactional ids (their init completed or aborted every
    earlier transaction), so the end offsets read here cover every change ever committed.
    """
    ends = await changelog.ends(partitions)
    states = {
        p: parked[p]
        if p in parked and parked[p].changelog_end == end
        else PartitionState(end, RestoredStateStore())
        for p, end in ends.items()
    }
    rebuild = [p for p, s in states.items() if s is not parked.get(p)]
    if rebuild:
        beginnings = await changelog.beginnings(rebuild)
        ranges = {p: (beginnings[p], ends[p]) for p in rebuild}
        await _read(changelog, ranges, _holder(states))
    return states


def _holder(states: dict[int, PartitionState]) -> Callable[[FetchedRecords], None]:
    """What keeps a fetch's records in the partition's `RestoredStateStore`."""

    def hold(fetched: FetchedRecords) -> None:
        state = states[fetched.partition]
        store = state.state
        assert isinstance(store, RestoredStateStore)  # made so by `restore`
        state.restored_records += len(fetched.records)
        for key, value in fetched.records:
            if key == OFFSET_KEY:
                state.input_offset = _input_offset(value)
            else:
                store.hold(key, value)

    return hold


async def _read(
    changelog: ChangelogReader,
    ranges: Mapping[int, tuple[int, int]],
    apply: Callable[[FetchedRecords], None],
) -> None:
    """Apply each fetch of the ranges, with the collector paused: the state a restore builds
    lives on, and a fetch's records live until written, long enough to reach the oldest
    generation; collecting meanwhile would walk them again and again."""
    with long_lived():
        async with aclosing(changelog.read(ranges)) as fetches:
            async for fetched in fetches:
                apply(fetched)


def _input_offset(value: bytes | None) -> int:
    assert value is not None  # `offset_record` writes one
    return int(value)


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
    changelog: ChangelogReader, stores: Mapping[int, DiskStateStore], tombstones_kept_s: float
) -> dict[int, PartitionState]:
    """The state of each partition in its disk store, brought up to the changelog's end offset:
    from the store's checkpoint if `distrust` finds nothing against it, else from its beginning
    into an emptied store. The caller owns the partitions' transactional ids, as for `restore`."""
    ends = await changelog.ends(stores)
    starts = await changelog.beginnings(stores)
    states: dict[int, PartitionState] = {}
    for p, store in stores.items():
        checkpoint = store.checkpoint
        reason = distrust(checkpoint, starts[p], ends[p], time.time(), tombstones_kept_s)
        if reason is not None:
            if checkpoint is not None:  # a new store has none: nothing to say
                log.warning(
                    "state store %s of %s/%d: %s; rebuilding it",
                    store.path,
                    changelog.topic,
                    p,
                    reason,
                )
            store.close()
            store = DiskStateStore.fresh(store.path, store.cache_datasets, store.cache_files)
            states[p] = PartitionState(starts[p], store)
        else:
            assert checkpoint is not None
            states[p] = PartitionState(checkpoint.changelog_offset, store, checkpoint.input_offset)
    tails = {p: (s.changelog_end, ends[p]) for p, s in states.items() if s.changelog_end < ends[p]}
    if tails:
        await _read(changelog, tails, _writer(states))
    for p, state in states.items():
        state.changelog_end = ends[p]
        store = state.state
        assert isinstance(store, DiskStateStore)
        checkpoint = store.checkpoint
        if checkpoint is None or checkpoint.changelog_offset != ends[p]:
            store.commit(ends[p], state.input_offset)  # past the commit markers: all is read
    return states


def _writer(states: dict[int, PartitionState]) -> Callable[[FetchedRecords], None]:
    """What writes a fetch's records into the partition's disk store, with the checkpoint just
    past them."""

    def write(fetched: FetchedRecords) -> None:
        state = states[fetched.partition]
        store = state.state
        assert isinstance(store, DiskStateStore)  # made so by `restore_stores`
        records = fetched.records
        state.restored_records += len(records)
        written = [r for r in records if r[0] != OFFSET_KEY]
        if len(written) < len(records):
            last = next(value for key, value in reversed(records) if key == OFFSET_KEY)
            state.input_offset = _input_offset(last)
        store.write_records(written, fetched.next_offset, state.input_offset)

    return write
