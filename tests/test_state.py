"""Dataset state: what each event type does, org isolation, and the changes it reports."""

from __future__ import annotations

from typing import Any

import pytest

from engine.errors import EventError
from engine.events import Event
from engine.state import (
    DatasetWritten,
    FileRemoved,
    FileWritten,
    FiredMarked,
    StateStore,
)
from engine.vocabulary import EventType


def _ev(
    event_type: str,
    file: dict[str, Any] | None = None,
    dataset: dict[str, Any] | None = None,
    org: str = "og_1",
    ds: str = "ds_1",
) -> Event:
    return Event("ev", EventType(event_type), "/src", None, org, ds, file, dataset)


def _snapshot(tags: list[str], metadata: dict[str, Any]) -> dict[str, Any]:
    return {"dataset_id": "ds_1", "org_id": "og_1", "tags": tags, "metadata": metadata}


def test_file_lifecycle() -> None:
    store = StateStore()
    store.apply(_ev("dataset.created", dataset=_snapshot(["a"], {"k": 1})))
    ds = store.apply(_ev("file.uploaded", {"file_id": "f1", "relative_path": "x/y.mcap"}))
    assert ds.files["f1"] == {
        "file_id": "f1",
        "relative_path": "x/y.mcap",
        "size": None,
        "tags": [],
        "metadata": {},
        "ingestion_status": "not_ingested",
    }
    store.apply(_ev("file.metadata_updated", {"file_id": "f1", "tags": ["t"]}))
    store.apply(_ev("file.ingested", {"file_id": "f1", "ingestion_status": "ingested"}))
    assert ds.files["f1"]["tags"] == ["t"]
    assert ds.files["f1"]["relative_path"] == "x/y.mcap"
    assert [f["file_id"] for f in ds.current_files(ingested_only=True)] == ["f1"]
    store.apply(_ev("file.deleted", {"file_id": "f1"}))
    assert ds.files == {}


def test_dataset_snapshot_on_any_event_replaces_tags_and_metadata() -> None:
    store = StateStore()
    ds = store.apply(_ev("file.uploaded", {"file_id": "f1", "relative_path": "a"}))
    assert ds.record["tags"] == []
    store.apply(_ev("file.uploaded", {"file_id": "f2", "relative_path": "b"}, _snapshot(["p"], {})))
    assert ds.record == _snapshot(["p"], {})


def test_dataset_deleted_drops_files_but_keeps_fired_keys() -> None:
    store = StateStore()
    ds = store.apply(_ev("file.uploaded", {"file_id": "f1", "relative_path": "a"}))
    store.mark_fired(ds, "tr_1")
    store.apply(_ev("dataset.deleted"))
    assert ds.files == {} and not ds.exists
    assert "tr_1" in ds.fired
    store.apply(_ev("dataset.created", dataset=_snapshot([], {})))
    assert ds.exists and "tr_1" in ds.fired


def test_other_org_cannot_touch_a_dataset() -> None:
    store = StateStore()
    store.apply(_ev("file.uploaded", {"file_id": "f1", "relative_path": "a"}))
    with pytest.raises(EventError, match="belongs to org 'og_1', not to the event's org 'og_2'"):
        store.apply(_ev("file.uploaded", {"file_id": "f2", "relative_path": "b"}, org="og_2"))
    assert list(store.get("ds_1").files) == ["f1"]


def test_unknown_file_without_path_is_an_error() -> None:
    store = StateStore()
    with pytest.raises(EventError, match="'fl_9' is not known in dataset 'ds_1'"):
        store.apply(_ev("file.ingested", {"file_id": "fl_9", "ingestion_status": "ingested"}))
    assert store.get("ds_1") is None


def test_every_change_is_reported_in_order_once() -> None:
    store = StateStore()
    ds = store.apply(_ev("dataset.created", dataset=_snapshot(["a"], {"k": 1})))
    store.apply(_ev("file.uploaded", {"file_id": "f1", "relative_path": "a/1.jpg"}))
    store.mark_file_fired(ds, "tr_1", "f1")
    store.mark_fired(ds, "tr_2")
    store.apply(_ev("dataset.deleted"))
    assert store.take_changes() == [
        DatasetWritten("ds_1", "og_1", ["a"], {"k": 1}, True),
        FileWritten("ds_1", ds_file("f1", "a/1.jpg")),
        FileWritten("ds_1", ds_file("f1", "a/1.jpg"), ("tr_1",)),
        FiredMarked("ds_1", "tr_2"),
        FileRemoved("ds_1", "f1", ("tr_1",)),
        DatasetWritten("ds_1", "og_1", ["a"], {"k": 1}, False),
    ]
    assert store.take_changes() == []


def test_an_event_that_is_refused_reports_nothing() -> None:
    store = StateStore()
    with pytest.raises(EventError):
        store.apply(_ev("file.ingested", {"file_id": "fl_9", "ingestion_status": "ingested"}))
    assert store.take_changes() == []


def test_restoring_the_changes_rebuilds_the_same_state() -> None:
    source = StateStore()
    ds = source.apply(_ev("dataset.created", dataset=_snapshot(["a"], {"k": {"n": 1}})))
    source.apply(_ev("file.uploaded", {"file_id": "f1", "relative_path": "a/1.jpg"}))
    source.apply(_ev("file.uploaded", {"file_id": "f2", "relative_path": "a/2.jpg"}))
    source.mark_file_fired(ds, "tr_1", "f1")
    source.mark_file_fired(ds, "tr_1", "f2")
    source.mark_fired(ds, "tr_2")
    source.apply(_ev("file.deleted", {"file_id": "f2"}))
    rebuilt = StateStore()
    for change in source.take_changes():
        rebuilt.restore(change)
    assert rebuilt.take_changes() == []  # restoring is not a change to report again
    copy = rebuilt.get("ds_1")
    assert copy is not None
    assert copy.record == ds.record and copy.org_id == "og_1" and copy.exists
    assert copy.files == ds.files and copy.fired == ds.fired
    assert copy.fired_files == ds.fired_files == {"f1": ("tr_1",), "f2": ("tr_1",)}


def test_a_dataset_first_seen_through_a_file_event_restores_with_its_org() -> None:
    source = StateStore()
    source.apply(_ev("file.uploaded", {"file_id": "f1", "relative_path": "a"}, org="og_7"))
    rebuilt = StateStore()
    for change in reversed(source.take_changes()):  # the file's change before its dataset's
        rebuilt.restore(change)
    copy = rebuilt.get("ds_1")
    assert copy is not None and copy.org_id == "og_7" and copy.exists
    assert list(copy.files) == ["f1"]


def ds_file(file_id: str, path: str) -> dict[str, Any]:
    return {
        "size": None,
        "tags": [],
        "metadata": {},
        "ingestion_status": "not_ingested",
        "file_id": file_id,
        "relative_path": path,
    }


def test_an_unchanged_snapshot_writes_nothing_and_keeps_the_record() -> None:
    store = StateStore()
    ds = store.apply(_ev("dataset.created", dataset=_snapshot(["a"], {"k": 1})))
    record = ds.record
    store.take_changes()
    store.apply(
        _ev("file.uploaded", {"file_id": "f1", "relative_path": "a"}, _snapshot(["a"], {"k": 1}))
    )
    assert [type(c) for c in store.take_changes()] == [FileWritten]
    assert ds.record is record
    # equal in Python but not the same JSON value: a condition may tell 1 and 1.0 apart
    store.apply(
        _ev("file.uploaded", {"file_id": "f2", "relative_path": "b"}, _snapshot(["a"], {"k": 1.0}))
    )
    assert [type(c) for c in store.take_changes()] == [DatasetWritten, FileWritten]
    assert ds.record["metadata"]["k"] == 1.0 and isinstance(ds.record["metadata"]["k"], float)


def test_a_file_uploaded_again_after_removal_keeps_what_fired_for_it() -> None:
    store = StateStore()
    ds = store.apply(_ev("file.uploaded", {"file_id": "f1", "relative_path": "a"}))
    store.mark_file_fired(ds, "tr_1", "f1")
    store.apply(_ev("file.deleted", {"file_id": "f1"}))
    store.apply(_ev("file.uploaded", {"file_id": "f1", "relative_path": "a"}))
    assert ds.has_fired("tr_1", "f1") and not ds.has_fired("tr_1", None)
    assert store.take_changes()[-1] == FileWritten("ds_1", ds.files["f1"], ("tr_1",))
