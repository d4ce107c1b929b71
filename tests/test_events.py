"""Event parsing: every field rule, and errors that name the field and the reason."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.errors import EventError
from engine.events import event_from_dict, parse_event


def _event(**overrides: object) -> dict:
    event: dict = {
        "specversion": "1.0",
        "id": "ev-1",
        "type": "file.uploaded",
        "source": "/orgs/og_1",
        "time": "2026-11-20T10:00:00Z",
        "orgid": "og_1",
        "datasetid": "ds_1",
        "data": {
            "file": {"file_id": "fl_1", "relative_path": "a/b.jpg", "size": 3},
            "dataset": {"dataset_id": "ds_1", "org_id": "og_1", "tags": ["prod"], "metadata": {}},
        },
    }
    event.update(overrides)
    return event


def _file_event(**file: object) -> bytes:
    return orjson.dumps(_event(data={"file": file}))


def _parse(obj: object) -> object:
    return parse_event(orjson.dumps(obj))


def test_valid_file_event() -> None:
    event = _parse(_event())
    assert event.cause == "file_upload"
    assert event.file == {"file_id": "fl_1", "relative_path": "a/b.jpg", "size": 3}
    assert event.dataset == {
        "dataset_id": "ds_1",
        "org_id": "og_1",
        "tags": ["prod"],
        "metadata": {},
    }
    assert event.context()["orgid"] == "og_1"


@pytest.mark.parametrize(
    ("event_type", "cause"),
    [
        ("dataset.created", None),
        ("dataset.metadata_updated", "dataset_metadata_update"),
        ("dataset.deleted", None),
        ("file.uploaded", "file_upload"),
        ("file.ingested", "file_ingest"),
        ("file.metadata_updated", "file_metadata_update"),
        ("file.deleted", None),
    ],
)
def test_every_type_has_its_cause(event_type: str, cause: str | None) -> None:
    assert _parse(_event(type=event_type)).cause == cause


def test_ingested_event_sets_status() -> None:
    event = _parse(_event(type="file.ingested", data={"file": {"file_id": "fl_1"}}))
    assert event.file == {"file_id": "fl_1", "ingestion_status": "ingested"}


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "expected a JSON object, got a list"),
        (orjson.dumps(_event(type="file.renamed")), "unknown event type 'file.renamed'"),
        (orjson.dumps(_event(specversion="0.3")), "'specversion'"),
        (orjson.dumps({k: v for k, v in _event().items() if k != "orgid"}), "'orgid': is missing"),
        (orjson.dumps(_event(datasetid="")), "'datasetid': must be a non-empty string"),
        (orjson.dumps(_event(time=5)), "'time': must be a string"),
        (orjson.dumps(_event(data=[])), "'data': expected an object"),
        (orjson.dumps(_event(type="dataset.created", data={})), "required for dataset.created"),
        (orjson.dumps(_event(data={})), "'data.file': required for file.uploaded"),
        (
            orjson.dumps(_event(data={"file": {"relative_path": "x"}})),
            "'data.file' field 'file_id'",
        ),
        (orjson.dumps(_event(data={"file": {"file_id": "f"}})), "relative_path: required"),
        (
            orjson.dumps(_event(data={"file": {"file_id": "f", "relative_path": "/abs/x"}})),
            "must be relative",
        ),
        (
            orjson.dumps(_event(data={"file": {"file_id": "f", "relative_path": "a", "size": -1}})),
            "size: must be a non-negative integer",
        ),
        (
            orjson.dumps(
                _event(data={"file": {"file_id": "f", "relative_path": "a", "tags": "x"}})
            ),
            "tags: must be a list of strings",
        ),
        (
            orjson.dumps(
                _event(
                    data={"file": {"file_id": "f", "relative_path": "a", "ingestion_status": "?"}}
                )
            ),
            "ingestion_status: must be one of",
        ),
        (
            orjson.dumps(
                _event(
                    data={"file": {"file_id": "f", "relative_path": "a", "ingestion_status": []}}
                )
            ),
            "ingestion_status: must be one of",
        ),
        (
            orjson.dumps(
                _event(
                    data={
                        "file": {"file_id": "f", "relative_path": "a"},
                        "dataset": {"dataset_id": "ds_1", "org_id": "og_2"},
                    }
                )
            ),
            "org_id 'og_2' does not match the event's orgid 'og_1'",
        ),
        (
            orjson.dumps(
                _event(
                    data={
                        "file": {"file_id": "f", "relative_path": "a"},
                        "dataset": {"dataset_id": "ds_9", "org_id": "og_1"},
                    }
                )
            ),
            "dataset_id 'ds_9' does not match",
        ),
    ],
)
def test_bad_events_name_field_and_reason(raw: bytes, fragment: str) -> None:
    with pytest.raises(EventError) as info:
        parse_event(raw)
    assert fragment in str(info.value)


def test_oversized_event_is_rejected_before_parsing() -> None:
    raw = orjson.dumps(_event(data={"file": {"file_id": "f", "relative_path": "x" * 2000}}))
    with pytest.raises(EventError, match=r"exceeds the limit of 1000 bytes"):
        parse_event(raw, max_bytes=1000)
    assert parse_event(raw, max_bytes=len(raw)).file["relative_path"] == "x" * 2000


@given(st.text(alphabet="a./\x00", min_size=1, max_size=8))
def test_a_path_is_rejected_exactly_when_a_segment_is_bad(path: str) -> None:
    segments = path.split("/")
    bad = path.startswith("/") or "\x00" in path or any(s in ("", ".", "..") for s in segments)
    event = {
        "specversion": "1.0",
        "id": "e1",
        "type": "file.uploaded",
        "orgid": "o1",
        "datasetid": "d1",
        "data": {"file": {"file_id": "f1", "relative_path": path}},
    }
    if bad:
        with pytest.raises(EventError, match="relative_path"):
            event_from_dict(event)
    else:
        assert event_from_dict(event).file == {"file_id": "f1", "relative_path": path}
