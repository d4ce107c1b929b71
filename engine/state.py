"""Dataset state: files, tags, metadata and what has already fired.

State is keyed by dataset id, which is also the Kafka key of every event, so one input partition
owns a disjoint set of datasets. Every mutation can be recorded as a small change-log entry
(key, value-or-tombstone) so the Kafka service can persist state to a compacted topic and rebuild
it on partition assignment; replay leaves change tracking off.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from engine.errors import EventError
from engine.events import Event
from engine.index import MatchMemo
from engine.selections import SelectionCache

_FILE_DEFAULTS: dict[str, Any] = {
    "size": None,
    "tags": [],
    "metadata": {},
    "ingestion_status": "not_ingested",
}

ChangeKey = bytes
Change = tuple[ChangeKey, bytes | None]


@dataclass(slots=True)
class DatasetState:
    dataset_id: str
    org_id: str
    record: dict[str, Any]  # {"dataset_id", "org_id", "tags", "metadata"}: what conditions read
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    fired: set[str] = field(default_factory=set)
    exists: bool = True
    # Derived from the above, never persisted. Results of conditions that read only the record,
    # by condition: a dataset's files and events ask the same question again and again until
    # its record changes. The triggers each file's path matches (`TriggerIndex.file_matches`).
    # And the dataset-level triggers' input selections.
    verdicts: dict[object, bool] = field(default_factory=dict)  # by `CompiledCondition.token`
    matches: MatchMemo = field(default_factory=dict)
    selections: SelectionCache = field(default_factory=SelectionCache)

    def replace_record(self, record: dict[str, Any]) -> None:
        if not identical_json(record, self.record):  # file events often carry an unchanged snapshot
            self.verdicts.clear()
        self.record = record

    def put_file(self, record: dict[str, Any]) -> None:
        self.files[record["file_id"]] = record
        self.selections.changed(record["file_id"], self.files)

    def pop_file(self, file_id: str) -> dict[str, Any] | None:
        record = self.files.pop(file_id, None)
        if record is not None:
            self.matches.pop(file_id, None)
            self.selections.changed(file_id, self.files)
        return record

    def clear_files(self) -> None:
        self.files.clear()
        self.matches.clear()
        self.selections.reset()

    def current_files(self, *, ingested_only: bool = False) -> list[dict[str, Any]]:
        files = self.files.values()
        if ingested_only:
            return [f for f in files if f["ingestion_status"] == "ingested"]
        return list(files)


def identical_json(left: Any, right: Any) -> bool:
    """Equal JSON values, with equal types and key order all the way down: Python holds `1`,
    `1.0` and `true` equal (and `0.0` and `-0.0`), but a condition may tell them apart, and their
    JSON texts differ. (A value orjson cannot write, an integer beyond 64 bits, counts as
    different: the caller only loses a shortcut.)"""
    if left != right:
        return False
    try:
        return orjson.dumps(left) == orjson.dumps(right)
    except orjson.JSONEncodeError:
        return False


def fired_key(trigger_id: str, file_id: str | None) -> str:
    """Fired-state key: (trigger, dataset) for dataset triggers, (trigger, file) otherwise."""
    return trigger_id if file_id is None else f"{trigger_id}/{file_id}"


def _empty_record(dataset_id: str, org_id: str) -> dict[str, Any]:
    return {"dataset_id": dataset_id, "org_id": org_id, "tags": [], "metadata": {}}


class StateStore:
    """All datasets this process owns, mutated only through `apply` and `mark_fired`."""

    def __init__(self, *, track_changes: bool = False) -> None:
        self._datasets: dict[str, DatasetState] = {}
        self._track = track_changes
        self._changes: list[Change] = []

    def __len__(self) -> int:
        return len(self._datasets)

    def get(self, dataset_id: str) -> DatasetState | None:
        return self._datasets.get(dataset_id)

    def apply(self, event: Event) -> DatasetState:
        """Apply an event to its dataset; raise `EventError`, changing nothing, if it is unfit."""
        ds = self._datasets.get(event.dataset_id)
        if ds is not None and ds.org_id != event.org_id:
            raise EventError(
                f"event {event.id!r}",
                None,
                f"dataset {event.dataset_id!r} belongs to org {ds.org_id!r}, "
                f"not to the event's org {event.org_id!r}",
            )
        file_record = self._merged_file(ds, event) if event.file is not None else None
        created = ds is None
        if ds is None:
            ds = DatasetState(
                event.dataset_id, event.org_id, _empty_record(event.dataset_id, event.org_id)
            )
            self._datasets[event.dataset_id] = ds
        if event.type == "dataset.deleted":
            self._delete_dataset(ds)
            return ds
        if created or not ds.exists or event.dataset is not None:
            ds.exists = True
            if event.dataset is not None:
                ds.replace_record(event.dataset)
            self._record_dataset(ds)
        if file_record is not None:
            if event.type == "file.deleted":
                if ds.pop_file(file_record["file_id"]) is not None:
                    self._record(_file_key(ds.dataset_id, file_record["file_id"]), None)
            else:
                ds.put_file(file_record)
                if self._track:
                    self._record(
                        _file_key(ds.dataset_id, file_record["file_id"]), orjson.dumps(file_record)
                    )
        return ds

    def mark_fired(self, ds: DatasetState, key: str) -> None:
        ds.fired.add(key)
        if self._track:
            self._record(_fired_key(ds.dataset_id, key), b"1")

    def drain_changes(self) -> list[Change]:
        changes, self._changes = self._changes, []
        return changes

    def restore(self, key: ChangeKey, value: bytes | None) -> None:
        """Apply one change-log entry (as written by a tracking store) while rebuilding state."""
        dataset_id, kind, name = orjson.loads(key)
        ds = self._datasets.get(dataset_id)
        if kind == "d":
            if value is None:
                self._datasets.pop(dataset_id, None)
                return
            doc = orjson.loads(value)
            record = {
                "dataset_id": dataset_id,
                "org_id": doc["org_id"],
                "tags": doc["tags"],
                "metadata": doc["metadata"],
            }
            if ds is None:
                self._datasets[dataset_id] = DatasetState(dataset_id, doc["org_id"], record)
                ds = self._datasets[dataset_id]
            ds.org_id, ds.exists = doc["org_id"], doc["exists"]
            ds.replace_record(record)
            return
        if ds is None:  # entries of one dataset may arrive before its dataset entry
            ds = DatasetState(dataset_id, "", _empty_record(dataset_id, ""))
            self._datasets[dataset_id] = ds
        if kind == "f":
            if value is None:
                ds.pop_file(name)
            else:
                ds.put_file(orjson.loads(value))
        elif value is None:
            ds.fired.discard(name)
        else:
            ds.fired.add(name)

    def drop(self, dataset_ids: set[str]) -> None:
        """Forget datasets (the service calls this when it loses their partition)."""
        for dataset_id in dataset_ids:
            self._datasets.pop(dataset_id, None)

    def dataset_ids(self) -> list[str]:
        return list(self._datasets)

    def _merged_file(self, ds: DatasetState | None, event: Event) -> dict[str, Any]:
        given = event.file
        assert given is not None
        stored = ds.files.get(given["file_id"]) if ds is not None else None
        if event.type == "file.uploaded" or stored is None:
            if "relative_path" not in given and event.type != "file.deleted":
                raise EventError(
                    f"event {event.id!r} field 'data.file.relative_path'",
                    None,
                    f"file {given['file_id']!r} is not known in dataset {event.dataset_id!r} "
                    "and the event carries no relative_path",
                )
            return {**_FILE_DEFAULTS, **given}
        return {**stored, **given}

    def _delete_dataset(self, ds: DatasetState) -> None:
        for file_id in ds.files:
            self._record(_file_key(ds.dataset_id, file_id), None)
        ds.clear_files()
        ds.exists = False
        self._record_dataset(ds)

    def _record_dataset(self, ds: DatasetState) -> None:
        if self._track:
            doc = {
                "org_id": ds.org_id,
                "tags": ds.record["tags"],
                "metadata": ds.record["metadata"],
                "exists": ds.exists,
            }
            self._changes.append((_dataset_key(ds.dataset_id), orjson.dumps(doc)))

    def _record(self, key: ChangeKey, value: bytes | None) -> None:
        if self._track:
            self._changes.append((key, value))


def _dataset_key(dataset_id: str) -> ChangeKey:
    return orjson.dumps([dataset_id, "d", ""])


def _file_key(dataset_id: str, file_id: str) -> ChangeKey:
    return orjson.dumps([dataset_id, "f", file_id])


def _fired_key(dataset_id: str, key: str) -> ChangeKey:
    return orjson.dumps([dataset_id, "k", key])
