"""A `StateStore` whose datasets live on disk, in RocksDB, with those used last in memory.

The database holds exactly what the service's compacted changelog would keep: the latest value of
each journal key (`engine.journal`), a removed key deleted. Journal keys are JSON lists
that begin with the dataset id, so one prefix scan finds a dataset's records; a dataset is loaded
by decoding them and `restore`-ing each into a fresh state. Next to them, one checkpoint says up to
which changelog offset the records are complete, and which input offset comes next.

Writes wait for `commit`: the records of the changes made since the last one and the checkpoint
go in one write batch, which RocksDB's write-ahead log makes atomic even across a killed process.
Until then the datasets those changes touched stay in memory (never evicted); `discard` forgets
them, and the disk still holds the last committed state.

Records restored from the changelog (`write_records`) skip the write-ahead log: a restore may
write the whole changelog, and the log would write it twice. Each batch still carries its
checkpoint, and RocksDB persists whole batches in order, so a killed process loses the last
restored records together with the checkpoint that covers them (the changelog still holds them),
never one without the other. They are flushed before the next write that uses the log:
recovering that log over a disk that lost them would lay its newer checkpoint over records that
are gone.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path

import orjson
from rocksdict import Options, Rdict, RdictIter, WriteBatch, WriteOptions

from engine.events import Event
from engine.journal import (
    ChangelogRecord,
    Journal,
    dataset_key,
    dataset_of,
    dataset_prefix,
    decode,
    decoded_dataset,
)
from engine.state import Change, DatasetState, DatasetWritten, StateStore

# Not a JSON list, so never one of the journal's keys; sorts after all of them.
_CHECKPOINT_KEY = b"~checkpoint"
_JOURNAL_PREFIX = b"["
_UNLOGGED = WriteOptions()
_UNLOGGED.disable_wal = True


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The records on disk are complete up to, not including, `changelog_offset`."""

    changelog_offset: int
    input_offset: int | None  # the next input offset the changelog recorded, if any
    written_at: float  # seconds since the epoch

    def encoded(self) -> bytes:
        return orjson.dumps(
            {
                "changelog_offset": self.changelog_offset,
                "input_offset": self.input_offset,
                "written_at": self.written_at,
            }
        )

    @classmethod
    def decoded(cls, value: bytes) -> Checkpoint:
        doc = orjson.loads(value)
        return cls(doc["changelog_offset"], doc["input_offset"], doc["written_at"])


class StoreUnreadable(Exception):
    """The directory holds no database this store can open; the message says why."""


class StoreInUse(Exception):
    """The store is open elsewhere: it must not be rebuilt under its owner."""


class DiskStateStore(StateStore):
    """The datasets of one input partition in the RocksDB database at `path` (created if missing):
    those used last kept in memory, at most `cache_datasets` of them holding at most `cache_files`
    files in all (a dataset's memory grows with its files; None: no bound), plus those changed
    since the last commit and the one used last."""

    def __init__(self, path: Path, cache_datasets: int, cache_files: int | None = None) -> None:
        if cache_datasets < 1 or (cache_files is not None and cache_files < 1):
            raise ValueError(
                f"the cache must hold at least 1 dataset and 1 file, not {cache_datasets} and "
                f"{cache_files}"
            )
        super().__init__()
        self.path = path
        self.cache_datasets = cache_datasets
        self.cache_files = sys.maxsize if cache_files is None else cache_files
        self._counted: dict[str, int] = {}  # files of each cached dataset, as last counted
        self._cached_files = 0  # their sum
        self._dirty: set[str] = set()  # changed since the last commit: kept in memory until then
        self._journal = Journal()  # their records: the last value of each key
        self._unlogged = False  # records written without the write-ahead log since the last flush
        options = Options(raw_mode=True)
        options.create_if_missing(True)
        try:
            self._db = Rdict(str(path), options)
            found = self._db.get(_CHECKPOINT_KEY)
            self.checkpoint = None if found is None else Checkpoint.decoded(found)
        except Exception as exc:  # rocksdict raises plain exceptions; a corrupt checkpoint too
            if hasattr(self, "_db"):
                self._db.close()
            if "LOCK" in str(exc):
                raise StoreInUse(
                    f"state store {path}: is open in another process or store ({exc}); "
                    "give each instance a --state-dir of its own"
                ) from exc
            raise StoreUnreadable(f"state store {path}: {exc}") from exc

    @classmethod
    def fresh(
        cls, path: Path, cache_datasets: int, cache_files: int | None = None
    ) -> DiskStateStore:
        """An empty store at `path`, whatever was there before."""
        if path.exists():
            shutil.rmtree(path)
        return cls(path, cache_datasets, cache_files)

    def close(self) -> None:
        self._db.close()

    def __len__(self) -> int:
        """The datasets held in memory (counting those on disk would take a scan)."""
        return len(self._datasets)

    # reading

    def _find(self, dataset_id: str) -> DatasetState | None:
        cached = self._datasets.pop(dataset_id, None)
        if cached is None:
            cached = self._load(dataset_id)
            if cached is None:
                return None
            self._count(cached)
        self._datasets[dataset_id] = cached  # last in the dict: used last
        self._evict()
        return cached

    def _load(self, dataset_id: str) -> DatasetState | None:
        """The dataset as committed to disk, None if it has no record there."""
        return decoded_dataset(dataset_id, self._scan(dataset_prefix(dataset_id)))

    def _scan(self, prefix: bytes) -> Iterable[tuple[bytes, bytes]]:
        iterator: RdictIter = self._db.iter()
        iterator.seek(prefix)
        while iterator.valid():
            key = iterator.key()
            if not key.startswith(prefix):
                break
            yield key, iterator.value()
            iterator.next()

    def datasets_of(self, org_id: str) -> Iterable[DatasetState]:
        """The org's existing datasets, by dataset id: those in memory, and those on disk whose
        record names the org, each read into the cache when reached, as any dataset read is (the
        others' files are never read)."""
        cached = self._datasets
        for dataset_id in sorted(self._dataset_ids() | cached.keys()):
            if dataset_id not in cached and self._org_on_disk(dataset_id) != org_id:
                continue
            ds = self._find(dataset_id)
            if ds is not None and ds.org_id == org_id and ds.exists:
                yield ds

    def _org_on_disk(self, dataset_id: str) -> str | None:
        key = dataset_key(dataset_id)
        value = self._db.get(key)
        change = None if value is None else decode(key, value)
        return change.org_id if isinstance(change, DatasetWritten) else None

    def _dataset_ids(self) -> set[str]:
        """The ids of the datasets on disk: one seek each, past all the keys of the last."""
        ids = set()
        iterator: RdictIter = self._db.iter()
        iterator.seek(_JOURNAL_PREFIX)
        while iterator.valid() and iterator.key().startswith(_JOURNAL_PREFIX):
            dataset_id = dataset_of(iterator.key())
            ids.add(dataset_id)
            # Past the dataset's keys: each goes on with a quote after its prefix.
            iterator.seek(dataset_prefix(dataset_id) + b"\xff")
        return ids

    # changing

    def apply(self, event: Event) -> DatasetState:
        queued = len(self._changes)
        ds = super().apply(event)
        if len(self._changes) > queued:
            self._keep(ds)
        return ds

    def mark_fired(self, ds: DatasetState, key: str) -> None:
        super().mark_fired(ds, key)
        self._keep(ds)

    def mark_file_fired(self, ds: DatasetState, trigger_id: str, file_id: str) -> None:
        super().mark_file_fired(ds, trigger_id, file_id)
        self._keep(ds)

    def restore(self, change: Change) -> None:
        super().restore(change)
        ds = self._datasets[change.dataset_id]  # `_find` or `_add` made it the last used
        self._keep(ds)
        self._journal.extend((change,))

    def take_changes(self) -> list[Change]:
        changes = super().take_changes()
        self._journal.extend(changes)
        return changes

    def _keep(self, ds: DatasetState) -> None:
        """`ds` changed: it stays in memory until committed (the one changed, should an older
        copy have been evicted and loaded again meanwhile)."""
        self._dirty.add(ds.dataset_id)
        self._datasets[ds.dataset_id] = ds

    # committing

    def commit(self, changelog_offset: int | None, input_offset: int | None) -> None:
        """Write the records of the changes taken since the last commit, and the checkpoint (none
        without a changelog offset), in one atomic batch; then evict down to the cache's size."""
        self._write(self._journal.drain(), changelog_offset, input_offset)
        cached = self._datasets
        for dataset_id in self._dirty:  # only changes change a dataset's files
            if (ds := cached.get(dataset_id)) is not None:
                self._count(ds)
        self._dirty.clear()
        self._evict()

    def discard(self) -> None:
        """Forget what was not committed: memory is dropped, the disk is as last committed."""
        self._journal.drain()
        self._dirty.clear()
        self._changes.clear()
        self._datasets.clear()
        self._counted.clear()
        self._cached_files = 0

    def write_records(
        self, records: Iterable[ChangelogRecord], changelog_offset: int, input_offset: int | None
    ) -> None:
        """Apply records read from the changelog (a removed key's value is None) and advance the
        checkpoint, in one batch that skips the write-ahead log (see the module's docstring). What
        is in memory is dropped: it may be older."""
        self.discard()
        self._write(records, changelog_offset, input_offset, logged=False)

    def _write(
        self,
        records: Iterable[ChangelogRecord],
        changelog_offset: int | None,
        input_offset: int | None,
        *,
        logged: bool = True,
    ) -> None:
        if logged and self._unlogged:
            self._db.flush(wait=True)
            self._unlogged = False
        batch = WriteBatch(raw_mode=True)
        # In key order: RocksDB's memtable is a skip list, and each insert then lands near the one
        # before. The sort is stable: of two records of one key, the later still comes last.
        for key, value in sorted(records, key=itemgetter(0)):
            if value is None:
                batch.delete(key)
            else:
                batch.put(key, value)
        checkpoint = None
        if changelog_offset is not None:
            checkpoint = Checkpoint(changelog_offset, input_offset, time.time())
            batch.put(_CHECKPOINT_KEY, checkpoint.encoded())
        self._db.write(batch, None if logged else _UNLOGGED)
        self._unlogged |= not logged
        if checkpoint is not None:
            self.checkpoint = checkpoint

    def _count(self, ds: DatasetState) -> None:
        files = len(ds.files)
        self._cached_files += files - self._counted.get(ds.dataset_id, 0)
        self._counted[ds.dataset_id] = files

    def _evict(self) -> None:
        """Drop the datasets used longest ago, unchanged since the last commit, while the cache
        holds more datasets or files than it may; never the one used last."""
        cached, counted, dirty = self._datasets, self._counted, self._dirty
        excess = len(cached) - self.cache_datasets
        if excess <= 0 and self._cached_files <= self.cache_files:
            return
        evicted = []
        files = self._cached_files
        last = next(reversed(cached))
        for dataset_id in cached:  # oldest first
            if (excess <= 0 and files <= self.cache_files) or dataset_id == last:
                break
            if dataset_id not in dirty:
                evicted.append(dataset_id)
                excess -= 1
                files -= counted.get(dataset_id, 0)
        for dataset_id in evicted:
            del cached[dataset_id]
            self._cached_files -= counted.pop(dataset_id, 0)
