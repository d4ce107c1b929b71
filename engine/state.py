"""Dataset state: the persisted facts of each dataset — its record, files, existence and what has
already fired — and the typed changes that every mutation produces.

State is keyed by dataset id, which is also the Kafka key of every event, so one input partition
owns a disjoint set of datasets. What is derived from these facts (condition verdicts, path
matches, input selections) lives in `engine.memo`, and how changes are encoded for the service's
changelog lives in `engine.journal`: this module knows neither.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from engine.errors import EventError
from engine.events import Event
from engine.json_identity import identical_json
from engine.vocabulary import Cause, StateEffect

FileRecord = dict[str, Any]

_FILE_DEFAULTS: dict[str, Any] = {
    "size": None,
    "tags": [],
    "metadata": {},
    "ingestion_status": "not_ingested",
}


@dataclass(slots=True)
class Uploads:
    """A dataset's upload transactions (SPEC §4.2): while any is open, its dataset triggers wait,
    and the causes of its events are remembered, in arrival order without repeats, for the
    completion that closes the last one."""

    open: dict[str, str] = field(default_factory=dict)  # transaction id -> the event that opened it
    closed: set[str] = field(default_factory=set)  # never reopened
    causes: list[Cause] = field(default_factory=list)


@dataclass(slots=True)
class DatasetState:
    dataset_id: str
    org_id: str
    record: dict[str, Any]  # {"dataset_id", "org_id", "tags", "metadata"}: what conditions read
    files: dict[str, FileRecord] = field(default_factory=dict)
    fired: set[str] = field(default_factory=set)  # dataset triggers' and invokes' fired keys
    # file id -> the per-file triggers fired for it; kept when the file is removed
    fired_files: dict[str, tuple[str, ...]] = field(default_factory=dict)
    exists: bool = True
    uploads: Uploads = field(default_factory=Uploads)
    # What an evaluator derived from these facts (an `engine.memo.DatasetMemo`): never persisted,
    # and gone with the dataset when a disk store drops it from memory.
    memo: object = field(default=None, compare=False, repr=False)

    def has_fired(self, trigger_id: str, file_id: str | None) -> bool:
        """Whether the trigger fired for the dataset (`file_id` None) or for that file."""
        if file_id is None:
            return trigger_id in self.fired
        return trigger_id in self.fired_files.get(file_id, ())

    def current_files(self, *, ingested_only: bool = False) -> list[FileRecord]:
        files = self.files.values()
        if ingested_only:
            return [f for f in files if f["ingestion_status"] == "ingested"]
        return list(files)


# The changes a mutation produces, in the order it made them: enough to rebuild every fact.
class DatasetWritten(NamedTuple):
    """The dataset's record and existence, as they are now."""

    dataset_id: str
    org_id: str
    tags: list[str]
    metadata: dict[str, Any]
    exists: bool


# A file's record and the per-file triggers fired for it are one fact, written together: the
# common upload path then changes one fact per event.
class FileWritten(NamedTuple):
    dataset_id: str
    record: FileRecord
    fired: tuple[str, ...] = ()  # the per-file triggers fired for the file


class FileRemoved(NamedTuple):
    dataset_id: str
    file_id: str
    fired: tuple[str, ...] = ()  # outlive the file: a file uploaded again is not fired again


class FileFired(NamedTuple):
    """Per-file triggers fired for a file, alone: how earlier versions recorded them."""

    dataset_id: str
    file_id: str
    fired: tuple[str, ...]


class FiredMarked(NamedTuple):
    dataset_id: str
    key: str  # a dataset trigger's id, or a `manual_key`


class UploadsWritten(NamedTuple):
    """The dataset's open uploads (transaction id, opening event id) and remembered causes."""

    dataset_id: str
    open: tuple[tuple[str, str], ...]
    causes: tuple[Cause, ...]


class UploadClosed(NamedTuple):
    dataset_id: str
    transaction_id: str


Change = (
    DatasetWritten
    | FileWritten
    | FileRemoved
    | FileFired
    | FiredMarked
    | UploadsWritten
    | UploadClosed
)


def manual_key(trigger_id: str, idempotency_id: str) -> str:
    """The fact that an operator invoked a trigger for a dataset with an idempotency id: a second
    invoke with the same id is `already_run` (it never marks the trigger's own fired key)."""
    return f"{trigger_id}!{idempotency_id}"


def _empty_record(dataset_id: str, org_id: str) -> dict[str, Any]:
    return {"dataset_id": dataset_id, "org_id": org_id, "tags": [], "metadata": {}}


class StateStore:
    """All datasets this process owns, changed only through `apply`, `mark_fired` and `restore`.

    `apply`, `mark_fired` and `mark_file_fired` queue the changes they make until `take_changes`;
    `restore` applies a change made elsewhere and queues nothing.
    """

    def __init__(self) -> None:
        self._datasets: dict[str, DatasetState] = {}
        self._changes: list[Change] = []
        # The remembered causes the last `apply` released by closing its dataset's last open
        # upload: the causes of the evaluation point it makes (SPEC §4.2).
        self.released: tuple[Cause, ...] = ()

    def __len__(self) -> int:
        return len(self._datasets)

    def get(self, dataset_id: str) -> DatasetState | None:
        return self._find(dataset_id)

    # Where datasets are held: a subclass may look them up and keep them elsewhere.
    def _find(self, dataset_id: str) -> DatasetState | None:
        return self._datasets.get(dataset_id)

    def _add(self, ds: DatasetState) -> None:
        self._datasets[ds.dataset_id] = ds

    def datasets_of(self, org_id: str) -> Iterable[DatasetState]:
        """The org's existing datasets, by dataset id (plain string order)."""
        found = [ds for ds in self._datasets.values() if ds.org_id == org_id and ds.exists]
        return sorted(found, key=lambda ds: ds.dataset_id)

    def take_changes(self) -> list[Change]:
        """The changes queued since the last call, oldest first."""
        changes, self._changes = self._changes, []
        return changes

    def apply(self, event: Event) -> DatasetState:
        """Apply an event to its dataset; raise `EventError`, changing nothing, if it is unfit."""
        ds = self._find(event.dataset_id)
        if ds is not None and ds.org_id != event.org_id:
            raise EventError(
                f"event {event.id!r}",
                None,
                f"dataset {event.dataset_id!r} belongs to org {ds.org_id!r}, "
                f"not to the event's org {event.org_id!r}",
            )
        self.released = ()
        effect = event.kind.effect
        file_record = self._merged_file(ds, event, effect) if event.file is not None else None
        created = ds is None
        completion = effect is StateEffect.CLOSE_UPLOAD
        if completion and event.dataset is None and (ds is None or not ds.exists):
            # Nothing to close and no snapshot: the completion changes nothing.
            return ds or DatasetState(
                event.dataset_id, event.org_id, _empty_record(event.dataset_id, event.org_id)
            )
        if ds is None:
            ds = DatasetState(
                event.dataset_id, event.org_id, _empty_record(event.dataset_id, event.org_id)
            )
            self._add(ds)
        if effect is StateEffect.DELETE_DATASET:
            self._delete_dataset(ds)
            return ds
        if created or (not ds.exists and not completion) or _new_snapshot(ds, event.dataset):
            ds.exists = True
            if event.dataset is not None:
                ds.record = event.dataset
            self._dataset_written(ds)
        if file_record is not None:
            file_id = file_record["file_id"]
            fired = ds.fired_files.get(file_id, ())
            if effect is StateEffect.DELETE_FILE:
                if ds.files.pop(file_id, None) is not None:
                    self._changes.append(FileRemoved(ds.dataset_id, file_id, fired))
            else:
                ds.files[file_id] = file_record
                self._changes.append(FileWritten(ds.dataset_id, file_record, fired))
        if completion:
            self._close_upload(ds, event.transaction_id)
        else:
            self._join_upload(ds, event)
        return ds

    def mark_fired(self, ds: DatasetState, key: str) -> None:
        ds.fired.add(key)
        self._changes.append(FiredMarked(ds.dataset_id, key))

    def mark_file_fired(self, ds: DatasetState, trigger_id: str, file_id: str) -> None:
        """Mark a per-file trigger fired for a current file: the file's fact is written again."""
        fired = ds.fired_files.get(file_id, ())
        if trigger_id not in fired:
            fired = ds.fired_files[file_id] = (*fired, trigger_id)
        self._changes.append(FileWritten(ds.dataset_id, ds.files[file_id], fired))

    def restore(self, change: Change) -> None:
        """Apply a change recorded by another store (the service's changelog, replayed)."""
        ds = self._find(change.dataset_id)
        if ds is None:  # a dataset's other changes may arrive before its record
            ds = DatasetState(change.dataset_id, "", _empty_record(change.dataset_id, ""))
            self._add(ds)
        match change:
            case DatasetWritten(dataset_id, org_id, tags, metadata, exists):
                ds.org_id, ds.exists = org_id, exists
                ds.record = {
                    "dataset_id": dataset_id,
                    "org_id": org_id,
                    "tags": tags,
                    "metadata": metadata,
                }
            case FileWritten(_, record, fired):
                ds.files[record["file_id"]] = record
                _add_fired(ds, record["file_id"], fired)
            case FileRemoved(_, file_id, fired):
                ds.files.pop(file_id, None)
                _add_fired(ds, file_id, fired)
            case FileFired(_, file_id, fired):
                _add_fired(ds, file_id, fired)
            case FiredMarked(_, key):
                ds.fired.add(key)
            case UploadsWritten(_, open_uploads, causes):
                ds.uploads.open = dict(open_uploads)
                ds.uploads.causes = list(causes)
            case UploadClosed(_, transaction_id):
                ds.uploads.closed.add(transaction_id)

    def _merged_file(
        self, ds: DatasetState | None, event: Event, effect: StateEffect
    ) -> FileRecord:
        given = event.file
        assert given is not None
        stored = ds.files.get(given["file_id"]) if ds is not None else None
        if effect is StateEffect.PUT_FILE or stored is None:
            if "relative_path" not in given and effect is not StateEffect.DELETE_FILE:
                raise EventError(
                    f"event {event.id!r} field 'data.file.relative_path'",
                    None,
                    f"file {given['file_id']!r} is not known in dataset {event.dataset_id!r} "
                    "and the event carries no relative_path",
                )
            return {**_FILE_DEFAULTS, **given}
        return {**stored, **given}

    def _delete_dataset(self, ds: DatasetState) -> None:
        fired_files = ds.fired_files
        for file_id in ds.files:
            self._changes.append(FileRemoved(ds.dataset_id, file_id, fired_files.get(file_id, ())))
        ds.files.clear()
        ds.exists = False
        self._dataset_written(ds)
        uploads = ds.uploads
        for transaction_id in uploads.open:  # discarded with their remembered causes
            self._closed(ds, transaction_id)
        if uploads.open or uploads.causes:
            uploads.open.clear()
            uploads.causes.clear()
            self._uploads_written(ds)

    def _join_upload(self, ds: DatasetState, event: Event) -> None:
        """Open the event's upload if it is new; remember its cause while any upload is open."""
        uploads = ds.uploads
        transaction_id = event.transaction_id
        changed = False
        if (
            transaction_id is not None
            and transaction_id not in uploads.open
            and transaction_id not in uploads.closed
        ):
            uploads.open[transaction_id] = event.id
            changed = True
        cause = event.cause
        if uploads.open and cause is not None and cause not in uploads.causes:
            uploads.causes.append(cause)
            changed = True
        if changed:
            self._uploads_written(ds)

    def _close_upload(self, ds: DatasetState, transaction_id: str | None) -> None:
        """Close an open upload; closing the last releases the remembered causes."""
        uploads = ds.uploads
        if transaction_id is None or transaction_id not in uploads.open:
            return  # unknown or already closed: only the snapshot counts
        del uploads.open[transaction_id]
        self._closed(ds, transaction_id)
        if not uploads.open:
            self.released = tuple(uploads.causes)
            uploads.causes.clear()
        self._uploads_written(ds)

    def _closed(self, ds: DatasetState, transaction_id: str) -> None:
        ds.uploads.closed.add(transaction_id)
        self._changes.append(UploadClosed(ds.dataset_id, transaction_id))

    def _uploads_written(self, ds: DatasetState) -> None:
        uploads = ds.uploads
        written = UploadsWritten(ds.dataset_id, tuple(uploads.open.items()), tuple(uploads.causes))
        self._changes.append(written)

    def _dataset_written(self, ds: DatasetState) -> None:
        record = ds.record
        self._changes.append(
            DatasetWritten(ds.dataset_id, ds.org_id, record["tags"], record["metadata"], ds.exists)
        )


def _new_snapshot(ds: DatasetState, snapshot: dict[str, Any] | None) -> bool:
    """Whether an event's dataset snapshot changes the record: file events often carry an
    unchanged one, and then nothing is written."""
    return snapshot is not None and not (ds.exists and identical_json(snapshot, ds.record))


def _add_fired(ds: DatasetState, file_id: str, fired: tuple[str, ...]) -> None:
    """Fired keys are only ever added, so restored ones join those already known, in any order."""
    if not fired:
        return
    known = ds.fired_files.get(file_id)
    if known is None:
        ds.fired_files[file_id] = fired
    elif known != fired:
        ds.fired_files[file_id] = known + tuple(t for t in fired if t not in known)
