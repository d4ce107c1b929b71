"""How state changes are encoded in the state changelog, and decoded again to restore them.

Each `engine.state.Change` becomes one compacted-topic record, keyed so that a later change of
the same fact replaces an earlier one: the dataset's record under `[dataset_id, "d", ""]`, a file
under `[dataset_id, "f", file_id]` (its record, and the per-file triggers fired for it; a tombstone
once removed, unless some fired), a dataset trigger's or an invoke's fired key under
`[dataset_id, "k", key]`, the open uploads and remembered causes under `[dataset_id, "u", ""]`, a
closed upload under `[dataset_id, "x", transaction_id]`. Keys are JSON lists, so no other changelog
record shares them. A journal holds one record per key: in a compacted topic only the last value
of a key counts, so one transaction need not write the earlier ones.

Earlier versions wrote a per-file trigger's fired key as `[dataset_id, "k", "trigger_id/file_id"]`;
such records are still read (trigger ids contain neither `/` nor `!`).
"""

from __future__ import annotations

from collections.abc import Iterable

import orjson

from engine.state import (
    Change,
    DatasetState,
    DatasetWritten,
    FileFired,
    FileRemoved,
    FileWritten,
    FiredMarked,
    StateStore,
    UploadClosed,
    UploadsWritten,
)
from engine.vocabulary import Cause

ChangelogRecord = tuple[bytes, bytes | None]
_PRESENT = b"1"  # the value of a fact that is a key alone: a fired key, a closed upload


class Journal:
    """The changelog records of the changes made since it was last drained: the last value of
    each key, in the order the keys were first changed. A change is encoded when drained, so one
    that a later change of the same fact replaces costs no encoding."""

    __slots__ = ("_changes",)

    def __init__(self) -> None:
        self._changes: dict[Fact, Change] = {}

    def extend(self, changes: Iterable[Change]) -> None:
        pending = self._changes
        for change in changes:
            pending[fact(change)] = change

    def drain(self) -> list[ChangelogRecord]:
        changes, self._changes = self._changes, {}
        return [(_key(*set_by), _value(change)) for set_by, change in changes.items()]


# The fact a change sets, as its key names it: (dataset id, kind, name).
Fact = tuple[str, str, str]


def fact(change: Change) -> Fact:
    # Class patterns alone, then attributes: a positional sub-pattern looks its attribute up by
    # name, which costs more than the attribute read.
    match change:
        case FileWritten():
            return change.dataset_id, "f", change.record["file_id"]
        case FiredMarked():
            return change.dataset_id, "k", change.key
        case UploadsWritten():
            return change.dataset_id, "u", ""
        case UploadClosed():
            return change.dataset_id, "x", change.transaction_id
        case FileRemoved():
            return change.dataset_id, "f", change.file_id
        case DatasetWritten():
            return change.dataset_id, "d", ""
    raise TypeError(f"not a state change this engine writes: {change!r}")


def encode(change: Change) -> ChangelogRecord:
    return _key(*fact(change)), _value(change)


def _value(change: Change) -> bytes | None:
    match change:
        case FileWritten(_, record, fired):
            return orjson.dumps({"record": record, "fired": fired} if fired else record)
        case FiredMarked() | UploadClosed():
            return _PRESENT
        case UploadsWritten(_, open_uploads, causes):
            return orjson.dumps({"open": open_uploads, "causes": causes})
        case FileRemoved(_, _, fired):
            return orjson.dumps({"record": None, "fired": fired}) if fired else None
        case DatasetWritten(_, org_id, tags, metadata, exists):
            return orjson.dumps(
                {"org_id": org_id, "tags": tags, "metadata": metadata, "exists": exists}
            )
    raise TypeError(f"not a state change this engine writes: {change!r}")


def decode(key: bytes, value: bytes | None) -> Change | None:
    """The change a changelog record holds; None for a record this engine never writes (a
    tombstone of anything but a file)."""
    dataset_id, kind, name = orjson.loads(key)
    if kind == "f":
        return _file(dataset_id, name, value)
    if value is None:
        return None
    if kind == "d":
        doc = orjson.loads(value)
        return DatasetWritten(
            dataset_id, doc["org_id"], doc["tags"], doc["metadata"], doc["exists"]
        )
    if kind == "u":
        doc = orjson.loads(value)
        opened = tuple((tid, ev) for tid, ev in doc["open"])
        return UploadsWritten(dataset_id, opened, tuple(Cause(c) for c in doc["causes"]))
    if kind == "x":
        return UploadClosed(dataset_id, name)
    trigger_id, per_file, file_id = name.partition("/")
    if per_file and "!" not in trigger_id:  # an earlier version's per-file fired key
        return FileFired(dataset_id, file_id, (trigger_id,))
    return FiredMarked(dataset_id, name)


def _file(dataset_id: str, file_id: str, value: bytes | None) -> FileWritten | FileRemoved:
    if value is None:
        return FileRemoved(dataset_id, file_id)
    doc = orjson.loads(value)
    if "file_id" in doc:  # a file record: no trigger fired for it
        return FileWritten(dataset_id, doc)
    fired = tuple(doc["fired"])
    if doc["record"] is None:
        return FileRemoved(dataset_id, file_id, fired)
    return FileWritten(dataset_id, doc["record"], fired)


def decoded_dataset(dataset_id: str, records: Iterable[ChangelogRecord]) -> DatasetState | None:
    """The dataset its records make, restored in their order; None if they make none."""
    scratch = StateStore()
    for key, value in records:
        change = decode(key, value)
        if change is not None:
            scratch.restore(change)
    return scratch.get(dataset_id)


def dataset_of(key: bytes) -> str:
    """The id of the dataset a journal key belongs to."""
    dataset_id: str = orjson.loads(key)[0]
    return dataset_id


def dataset_prefix(dataset_id: str) -> bytes:
    """The bytes every journal key of the dataset begins with: `["<dataset_id>",`."""
    return orjson.dumps([dataset_id])[:-1] + b","


def dataset_key(dataset_id: str) -> bytes:
    """The key of the dataset's record, which `decode` reads as a `DatasetWritten`."""
    return _key(dataset_id, "d", "")


def _key(dataset_id: str, kind: str, name: str) -> bytes:
    return orjson.dumps([dataset_id, kind, name])
