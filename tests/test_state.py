"""Dataset state: what each event type does, org isolation, and change-log round trips."""

from __future__ import annotations

from typing import Any

import pytest

from conditions import compile_condition
from engine.errors import EventError
from engine.events import Event
from engine.state import StateStore, fired_key, identical_json


def _ev(
    event_type: str,
    file: dict[str, Any] | None = None,
    dataset: dict[str, Any] | None = None,
    org: str = "og_1",
    ds: str = "ds_1",
) -> Event:
    return Event("ev", event_type, "/src", None, org, ds, file, dataset)


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
    store.mark_fired(ds, fired_key("tr_1", None))
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


def test_change_log_rebuilds_the_same_state() -> None:
    source = StateStore(track_changes=True)
    ds = source.apply(_ev("dataset.created", dataset=_snapshot(["a"], {"k": {"n": 1}})))
    source.apply(_ev("file.uploaded", {"file_id": "f1", "relative_path": "a/1.jpg"}))
    source.apply(_ev("file.uploaded", {"file_id": "f2", "relative_path": "a/2.jpg"}))
    source.mark_fired(ds, fired_key("tr_1", "f1"))
    source.apply(_ev("file.deleted", {"file_id": "f2"}))
    changes = source.drain_changes()
    assert source.drain_changes() == []
    # a compacted topic keeps the last value per key, in any key order
    latest = dict(changes)
    rebuilt = StateStore()
    for key in reversed(list(latest)):
        if latest[key] is not None:
            rebuilt.restore(key, latest[key])
    copy = rebuilt.get("ds_1")
    assert copy.record == ds.record and copy.org_id == "og_1"
    assert copy.files == ds.files and copy.fired == ds.fired


def test_replay_store_records_nothing() -> None:
    store = StateStore()
    store.apply(_ev("file.uploaded", {"file_id": "f1", "relative_path": "a"}))
    assert store.drain_changes() == []


def test_dataset_first_seen_through_a_file_event_restores_with_its_org() -> None:
    source = StateStore(track_changes=True)
    source.apply(_ev("file.uploaded", {"file_id": "f1", "relative_path": "a"}, org="og_7"))
    rebuilt = StateStore()
    for key, value in source.drain_changes():
        rebuilt.restore(key, value)
    copy = rebuilt.get("ds_1")
    assert copy is not None and copy.org_id == "og_7" and copy.exists
    assert list(copy.files) == ["f1"]


def test_a_new_record_forgets_the_condition_verdicts() -> None:
    store = StateStore()
    condition = compile_condition(required_tag=["a"])
    ds = store.apply(_ev("dataset.created", dataset=_snapshot(["a"], {})))
    ds.verdicts[condition.token] = True
    store.apply(_ev("file.uploaded", {"file_id": "f1", "relative_path": "a"}))
    assert ds.verdicts == {condition.token: True}  # no new record: still valid
    store.apply(_ev("dataset.metadata_updated", dataset=_snapshot(["b"], {})))
    assert ds.verdicts == {}
    ds.verdicts[condition.token] = True
    store.restore(b'["ds_1","d",""]', b'{"org_id":"og_1","tags":[],"metadata":{},"exists":true}')
    assert ds.verdicts == {} and ds.record["tags"] == []


def test_an_unchanged_snapshot_keeps_the_verdicts_and_a_retyped_value_does_not() -> None:
    store = StateStore()
    ds = store.apply(_ev("dataset.created", dataset=_snapshot(["a"], {"n": 1, "x": [0.0]})))
    ds.verdicts["token"] = True
    same = _snapshot(["a"], {"n": 1, "x": [0.0]})
    store.apply(_ev("file.uploaded", {"file_id": "f1", "relative_path": "a"}, dataset=same))
    assert ds.verdicts == {"token": True} and ds.record is same
    # Equal in Python, not to a condition: `true` against 1, 1.0 against 1, -0.0 against 0.0.
    for metadata in ({"n": True, "x": [0.0]}, {"n": 1.0, "x": [0.0]}, {"n": 1, "x": [-0.0]}):
        ds.verdicts["token"] = True
        store.apply(_ev("dataset.metadata_updated", dataset=_snapshot(["a"], metadata)))
        assert ds.verdicts == {}, metadata
        store.apply(_ev("dataset.metadata_updated", dataset=_snapshot(["a"], {"n": 1, "x": [0.0]})))


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        ({"a": [1, "x", None]}, {"a": [1, "x", None]}, True),
        ({"a": 1, "b": 2}, {"b": 2, "a": 1}, False),  # key order is part of what a record shows
        ([1], [1, 2], False),
        (1, True, False),
        (0.5, 0.5, True),
        ({"n": 2**70}, {"n": 2**70}, False),  # beyond orjson: counted as changed
    ],
)
def test_identical_json(left: Any, right: Any, expected: bool) -> None:
    assert identical_json(left, right) is expected
