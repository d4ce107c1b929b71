"""Event parsing: every field rule, and errors that name the field and the reason."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable

import msgspec
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import EventError
from engine.events import (
    Command,
    Event,
    _decode_envelope,
    _from_envelope,
    _parse_checked,
    event_from_binary,
    event_from_dict,
    parse_event,
)
from engine.vocabulary import EVENT_KINDS, EventType


def _event(**overrides: object) -> dict:
    event: dict = {
        "specversion": "1.0",
        "id": "ev-1",
        "type": "file.uploaded",
        "source": "/orgs/og_1",
        "time": "2026-11-20T10:00:00Z",
        "orgid": "og_1",
        "datasetid": "ds_1",
        "transactionid": "tx_1",
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


# The schema-decoded way and the long way (decode, then check field by field) must agree: the
# schema accepts only what the checks accept, with the same result.

_ABSENT = object()


def _fresh(value: object) -> object:
    """A copy of a list or object, anything else itself: `_mutated` may write into a value it
    placed before, and a value shared between examples would carry those writes into later ones
    (an object could even end up containing itself)."""
    return copy.deepcopy(value) if isinstance(value, list | dict) else value


_WRONG_VALUES = [_ABSENT, None, 0, -1, True, 1.5, "", "x", "/x", [], ["x", 1], {}]
_WRONG = st.sampled_from(_WRONG_VALUES).map(_fresh)


# Every character UTF-8 can encode, as `st.text()` draws, but found by Unicode category: the
# default alphabet tries to encode each code point once per fresh checkout (no `.hypothesis`
# directory yet), which can trip the too-slow health check.
_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=3)
_TAGS = st.lists(st.sampled_from(["prod", "night", ""]), max_size=3)
_METADATA = st.dictionaries(
    st.sampled_from(["robot", "speed", "n"]),
    st.one_of(st.integers(-(2**70), 2**70), st.floats(allow_nan=False), _TEXT),
    max_size=3,
)
_PATHS = st.lists(st.sampled_from(["a", "b.jpg", "c.tar.gz", "."]), min_size=1, max_size=3)
_FILE = st.fixed_dictionaries(
    {"file_id": st.sampled_from(["fl_1", "fl_2"])},
    optional={
        "relative_path": _PATHS.map("/".join),
        "size": st.integers(0, 2**65),
        "tags": _TAGS,
        "metadata": _METADATA,
        "ingestion_status": st.sampled_from(["ingested", "not_ingested"]),
        "unknown": st.builds(lambda: [1, 2]),
    },
)
_DATASET = st.fixed_dictionaries(
    {},
    optional={
        "dataset_id": st.just("ds_1"),
        "org_id": st.just("og_1"),
        "tags": _TAGS,
        "metadata": _METADATA,
    },
)
_VALID_EVENTS = st.fixed_dictionaries(
    {
        "specversion": st.just("1.0"),
        "id": st.sampled_from(["ev-1", "ev-2"]),
        "type": st.sampled_from([str(t) for t in EventType]),
        "orgid": st.just("og_1"),
        "datasetid": st.just("ds_1"),
        "data": st.fixed_dictionaries({}, optional={"file": _FILE, "dataset": _DATASET}),
    },
    optional={"source": st.just("/orgs/og_1"), "time": st.just("2026-11-20T10:00:00Z")},
)
# Where a mutation may land: an envelope field, or a field of data, data.file or data.dataset.
_PLACES = [
    *[(key,) for key in ("specversion", "id", "type", "orgid", "datasetid", "source", "time")],
    ("data",),
    ("data_base64",),
    ("data", "file"),
    ("data", "dataset"),
    *[("data", "file", key) for key in ("file_id", "relative_path", "size", "tags", "metadata")],
    ("data", "file", "ingestion_status"),
    *[("data", "dataset", key) for key in ("dataset_id", "org_id", "tags", "metadata")],
]


def _mutated(event: dict, mutations: list[tuple[tuple[str, ...], object]]) -> dict:
    """`event` with each mutation's place set to its value (removed for _ABSENT), where the
    place's parent is still an object."""
    for place, value in mutations:
        parent: object = event
        for key in place[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        if isinstance(parent, dict):
            parent[place[-1]] = value
            if value is _ABSENT:
                del parent[place[-1]]
    return event


_EVENTS = st.builds(
    _mutated,
    _VALID_EVENTS,
    st.lists(st.tuples(st.sampled_from(_PLACES), _WRONG), max_size=2),
)


def _outcome(parse: Callable[[bytes], Event], raw: bytes) -> Event | str:
    try:
        return parse(raw)
    except EventError as exc:
        return f"EventError: {exc}"


@settings(max_examples=600)
@given(_EVENTS)
def test_the_schema_accepts_only_what_the_checks_accept_with_the_same_event(event: dict) -> None:
    raw = json.dumps(event).encode()  # not orjson: it cannot write integers beyond 64 bits
    expected = _outcome(_parse_checked, raw)
    try:
        decoded = _from_envelope(_decode_envelope(raw))
    except (msgspec.DecodeError, EventError):
        decoded = None
    if decoded is not None:
        assert decoded == expected
    assert _outcome(parse_event, raw) == expected  # whichever way it went


def test_the_usual_events_are_decoded_by_the_schema() -> None:
    for event_type in EventType:
        if EVENT_KINDS[event_type].command:
            continue  # below: commands always go the long way
        raw = orjson.dumps(_event(type=event_type))
        assert _from_envelope(_decode_envelope(raw)) == _parse_checked(raw)


def _command(event_type: str, trigger: dict, **data: object) -> bytes:
    event = _event(type=event_type, data={"trigger": trigger, **data})
    if event_type == "trigger.backfill_requested":
        del event["datasetid"]
    return orjson.dumps(event)


def test_commands_name_their_trigger_and_ids() -> None:
    backfill = _command("trigger.backfill_requested", {"name": "t", "request_id": "r1"})
    invoke_envelope = _decode_envelope(orjson.dumps(_event(type="trigger.invoke_requested")))
    assert _from_envelope(invoke_envelope) is None  # the long way
    event = parse_event(backfill)
    assert (event.dataset_id, event.command) == ("", Command("t", request_id="r1"))
    rerun = {"name": "t", "request_id": "r1", "rerun": True}
    assert parse_event(_command("trigger.backfill_requested", rerun)).command.rerun
    invoke = _command("trigger.invoke_requested", {"name": "t", "idempotency_id": "i"}, file_id="f")
    assert parse_event(invoke).command == Command("t", idempotency_id="i", file_id="f")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            _command("trigger.backfill_requested", {"name": "t"}),
            "field 'data.trigger.request_id': is missing",
        ),
        (
            _command("trigger.invoke_requested", {"name": "t"}),
            "field 'data.trigger.idempotency_id': is missing",
        ),
        (
            _command("trigger.invoke_requested", {"idempotency_id": "i"}),
            "field 'data.trigger.name': is missing",
        ),
        (
            _command("trigger.backfill_requested", {"name": "t", "request_id": "r", "rerun": 1}),
            "field 'data.trigger.rerun': must be true or false",
        ),
        (
            orjson.dumps(_event(type="trigger.invoke_requested", data={})),
            "field 'data.trigger': required for trigger.invoke_requested",
        ),
    ],
)
def test_bad_commands_are_named(raw: bytes, message: str) -> None:
    with pytest.raises(EventError, match=re.escape(message)):
        parse_event(raw)


def test_the_transaction_is_kept_on_file_events_and_completions_only() -> None:
    assert parse_event(orjson.dumps(_event())).transaction_id == "tx_1"
    completion = _event(type="dataset.upload_completed", data={"upload": {"file_count": 3}})
    assert parse_event(orjson.dumps(completion)).transaction_id == "tx_1"
    updated = _event(type="dataset.metadata_updated")
    assert parse_event(orjson.dumps(updated)).transaction_id is None
    without = {k: v for k, v in _event().items() if k != "transactionid"}
    assert parse_event(orjson.dumps(without)).transaction_id is None


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"type": "dataset.upload_completed", "transactionid": None},
            "field 'transactionid': required for dataset.upload_completed",
        ),
        ({"transactionid": ""}, "field 'transactionid': must be a non-empty string"),
        ({"transactionid": 7}, "field 'transactionid': must be a non-empty string"),
        (
            {"type": "dataset.upload_completed", "data": {"upload": {"file_count": -1}}},
            "data.upload'.file_count: must be a non-negative integer",
        ),
        (
            {"type": "dataset.upload_completed", "data": {"upload": [3]}},
            "data.upload': expected an object, got a list",
        ),
    ],
)
def test_bad_transactions_and_uploads_are_named(overrides: dict, message: str) -> None:
    with pytest.raises(EventError, match=re.escape(message)):
        parse_event(orjson.dumps(_event(**overrides)))


def test_integers_beyond_64_bits_are_integers_either_way() -> None:
    file = {"file_id": "f", "relative_path": "a", "size": 2**64, "metadata": {"n": -(2**70)}}
    raw = json.dumps(_event(data={"file": file})).encode()
    assert parse_event(raw).file == file
    nulled = json.dumps(_event(data={"file": {**file, "tags": None}})).encode()  # the long way
    with pytest.raises(EventError, match="tags: must be a list of strings"):
        parse_event(nulled)


def test_a_repeated_key_counts_once_with_its_last_value_either_way() -> None:
    raw = (
        b'{"specversion": "1.0", "id": "ev-1", "id": "ev-2", "type": "dataset.deleted",'
        b' "orgid": "og_1", "datasetid": "ds_1"}'
    )
    assert parse_event(raw).id == "ev-2"
    assert parse_event(raw.replace(b'"ev-2"', b'"ev-2", "time": null')).id == "ev-2"


@pytest.mark.parametrize(
    "raw",
    [
        b'{"specversion": "1.0", "id": "\xff"}',  # not UTF-8
        b'{"id": "\\ud800"}',  # a lone surrogate
        b"[" * 5000 + b"]" * 5000,  # nested beyond the interpreter's limit
        b'{"id": 1e400}',  # beyond a double
    ],
)
def test_bytes_that_do_not_decode_are_not_valid_json(raw: bytes) -> None:
    with pytest.raises(EventError, match="not valid JSON"):
        parse_event(raw)


@pytest.mark.parametrize(
    "overrides",
    [
        {"data_base64": "e30="},  # a file event: without data, it would lack its file
        {"type": "dataset.deleted", "data": None, "data_base64": "e30="},  # needs no data
        {"data_base64": "e30="},
    ],
)
def test_data_base64_is_rejected_as_such(overrides: dict) -> None:
    event = {key: value for key, value in _event(**overrides).items() if value is not None}
    with pytest.raises(EventError) as info:
        parse_event(orjson.dumps(event))
    assert str(info.value) == (
        "event 'ev-1' field 'data_base64': data_base64 is not supported: send data as JSON"
    )


def _binary(event: dict) -> tuple[dict[str, str], bytes]:
    """The attributes and data of a structured event, as binary mode carries them (json, not
    orjson: it cannot write integers beyond 64 bits)."""
    attributes = {name: value for name, value in event.items() if name != "data"}
    return attributes, json.dumps(event["data"]).encode() if "data" in event else b""


@pytest.mark.parametrize(
    "event",
    [
        _event(),
        _event(type="file.ingested", data={"file": {"file_id": "fl_1"}}),
        _event(type="dataset.upload_completed", data={"upload": {"file_count": 2}}),
        {key: value for key, value in _event(type="dataset.deleted").items() if key != "data"},
        _event(
            type="trigger.invoke_requested",
            data={"trigger": {"name": "t", "idempotency_id": "i-1"}, "file_id": "fl_1"},
        ),
    ],
    ids=lambda event: event["type"],
)
def test_a_binary_event_is_the_structured_event_it_stands_for(event: dict) -> None:
    attributes, data = _binary(event)
    assert event_from_binary(attributes, data) == parse_event(orjson.dumps(event))


@settings(max_examples=300)
@given(_EVENTS)
def test_binary_and_structured_events_agree_on_every_outcome(event: dict) -> None:
    """Binary mode carries attributes as strings: the events whose attributes are strings."""
    if not all(isinstance(value, str) for name, value in event.items() if name != "data"):
        return
    attributes, data = _binary(event)
    expected = _outcome(parse_event, json.dumps(event).encode())
    outcome = _outcome(lambda raw: event_from_binary(attributes, raw), data)
    if str(expected).startswith("EventError: event: not valid JSON"):  # an infinity, in data
        assert "'data': not valid JSON" in str(outcome)
    else:
        assert outcome == expected


def test_binary_data_that_is_not_json_is_named() -> None:
    attributes, _ = _binary(_event())
    with pytest.raises(EventError, match=r"event 'ev-1' field 'data': not valid JSON"):
        event_from_binary(attributes, b"{not json")


def test_a_binary_event_counts_its_attributes_against_the_size_limit() -> None:
    attributes, data = _binary(_event())
    size = len(data) + sum(len(name) + len(value) for name, value in attributes.items())
    assert event_from_binary(attributes, data, max_bytes=size).id == "ev-1"
    with pytest.raises(EventError, match=rf"{size} bytes exceeds the limit of {size - 1} bytes"):
        event_from_binary(attributes, data, max_bytes=size - 1)
