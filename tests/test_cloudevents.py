"""CloudEvents over Kafka without a broker: records as the official SDK makes them decode to the
events their structured form gives, unusable headers are named, and invocation requests carry
headers the SDK reads back."""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from engine.api import build_registry
from engine.cloudevents import _trigger_source, invocation_headers
from engine.errors import EventError
from engine.evaluator import Evaluator
from engine.events import parse_event
from engine.replay import replay
from engine.sinks import JsonlSink, MemorySink, Origin
from engine.state import StateStore
from tests.cloudevent_sdk import (
    binary_message,
    headers_of,
    read_binary,
    structured_message,
    valid_example_events,
)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TOPIC = "events"
EVENT: dict[str, Any] = {
    "specversion": "1.0",
    "id": "ev-1",
    "type": "file.uploaded",
    "source": "/orgs/og_1",
    "time": "2026-11-20T10:00:00Z",
    "orgid": "og_1",
    "datasetid": "ds_1",
    "transactionid": "tx_1",
    "data": {"file": {"file_id": "fl_1", "relative_path": "a/b.jpg"}},
}
BINARY_HEADERS = headers_of(binary_message(EVENT))
DATA = orjson.dumps(EVENT["data"])


def _record(
    value: bytes | None, headers: list[tuple[str, bytes | None]], key: bytes | None = b"ds_1"
) -> Origin:
    return Origin(TOPIC, 0, value, partition=0, key=key, headers=headers)


def test_records_the_sdk_makes_in_either_mode_decode_to_the_structured_event() -> None:
    examples = valid_example_events()
    assert {event["type"] for event in examples} >= {"file.uploaded", "dataset.upload_completed"}
    for event in examples:
        want = parse_event(orjson.dumps(event))
        for message in (binary_message(event), structured_message(event)):
            assert isinstance(message.key, bytes)
            record = _record(message.value, headers_of(message), key=message.key)
            assert record.parse(1 << 20) == want, (event["id"], message.headers)


@pytest.mark.parametrize(
    "headers",
    [
        [],
        [("content-type", b"application/cloudevents+json")],
        [("content-type", b"application/json")],  # no ce_ header: no binary-mode event
        # A structured-mode content-type wins over stray attribute headers, as the binding says.
        [
            ("content-type", b"application/cloudevents+json; charset=utf-8"),
            ("ce_id", b"\xff"),
            ("ce_id", b"ev-2"),
        ],
        [("traceparent", b"\xff\xfe"), ("retries", None)],  # headers of others are left alone
    ],
)
def test_a_record_without_binary_mode_headers_is_a_structured_event(
    headers: list[tuple[str, bytes | None]],
) -> None:
    assert _record(orjson.dumps(EVENT), headers).parse(1 << 20) == parse_event(orjson.dumps(EVENT))


def test_binary_mode_without_a_content_type_is_json_and_header_names_ignore_case() -> None:
    headers = [(name.upper(), value) for name, value in BINARY_HEADERS if name != "content-type"]
    assert _record(DATA, headers).parse(1 << 20) == parse_event(orjson.dumps(EVENT))


def _replaced(name: str, value: bytes | None) -> list[tuple[str, bytes | None]]:
    return [(n, value if n == name else v) for n, v in BINARY_HEADERS]


def _without(name: str) -> list[tuple[str, bytes | None]]:
    return [(n, v) for n, v in BINARY_HEADERS if n != name]


@pytest.mark.parametrize(
    ("headers", "value", "reason"),
    [
        (
            _without("ce_id"),
            DATA,
            "record header 'ce_id': is missing: every binary-mode event has it",
        ),
        (
            _without("ce_source"),
            DATA,
            "record header 'ce_source': is missing: every binary-mode event has it",
        ),
        (
            _without("ce_specversion"),
            DATA,
            "record header 'ce_specversion': is missing: every binary-mode event has it",
        ),
        (
            _replaced("ce_specversion", b"0.3"),
            DATA,
            "record header 'ce_specversion': must be \"1.0\"",
        ),
        (
            _replaced("ce_orgid", b"og_\xff"),
            DATA,
            "record header 'ce_orgid': is not valid UTF-8 (invalid start byte at byte 3)",
        ),
        (_replaced("ce_type", None), DATA, "record header 'ce_type': has no value"),
        (
            [*BINARY_HEADERS, ("ce_id", b"ev-2")],
            DATA,
            "record header 'ce_id': appears more than once",
        ),
        (
            _replaced("content-type", b"text/plain"),
            DATA,
            "record header 'content-type': 'text/plain' is not JSON: the data of an event in"
            " binary mode must be JSON",
        ),
        (
            _replaced("content-type", b"\xc3("),
            DATA,
            "record header 'content-type': is not valid UTF-8 (invalid continuation byte at"
            " byte 0)",
        ),
        # What the headers carry is checked as the structured event's fields are.
        (_without("ce_orgid"), DATA, "event 'ev-1' field 'orgid': is missing"),
        (
            _replaced("ce_type", b"file.renamed"),
            DATA,
            "event 'ev-1' field 'type': unknown event type",
        ),
        (BINARY_HEADERS, b"{", "event 'ev-1' field 'data': not valid JSON"),
        (BINARY_HEADERS, b"[]", "event 'ev-1' field 'data': expected an object, got a list"),
        (BINARY_HEADERS, None, "event 'ev-1' field 'data.file': required for file.uploaded"),
    ],
)
def test_unusable_binary_mode_records_name_the_header_and_the_reason(
    headers: list[tuple[str, bytes | None]], value: bytes | None, reason: str
) -> None:
    with pytest.raises(EventError) as info:
        _record(value, headers).parse(1 << 20)
    assert str(info.value).startswith(reason)


def test_the_key_and_size_rules_hold_in_binary_mode() -> None:
    with pytest.raises(EventError, match="record key: 'ds_2' is not its datasetid 'ds_1'"):
        _record(DATA, BINARY_HEADERS, key=b"ds_2").parse(1 << 20)
    size = len(DATA) + sum(
        len(name) - len("ce_") + len(value) for name, value in BINARY_HEADERS if name[:3] == "ce_"
    )
    assert _record(DATA, BINARY_HEADERS).parse(size).id == "ev-1"
    with pytest.raises(EventError, match=f"event: {size} bytes exceeds the limit of {size - 1}"):
        _record(DATA, BINARY_HEADERS).parse(size - 1)


def test_replay_rejects_data_base64_saying_so() -> None:
    line = orjson.dumps({**{k: v for k, v in EVENT.items() if k != "data"}, "data_base64": "e30="})
    rejects = io.BytesIO()
    registry = build_registry(EXAMPLES / "triggers.yaml", EXAMPLES / "actions")
    replay([Origin("log", 3, line)], Evaluator(registry, StateStore()), JsonlSink(rejects=rejects))
    reject = orjson.loads(rejects.getvalue())
    assert (reject["line"], reject["reason"]) == (
        3,
        "event 'ev-1' field 'data_base64': data_base64 is not supported: send data as JSON",
    )


def _example_invocations(lines: list[bytes]) -> MemorySink:
    registry = build_registry(EXAMPLES / "triggers.yaml", EXAMPLES / "actions")
    sink = MemorySink()
    replay(
        [Origin("log", n, line) for n, line in enumerate(lines)],
        Evaluator(registry, StateStore()),
        sink,
    )
    assert sink.invocations
    return sink


def test_an_executor_reads_an_invocation_request_with_the_sdk() -> None:
    examples = [orjson.dumps(event) for event in valid_example_events()]
    for invocation in _example_invocations(examples).invocations:
        value = invocation.to_json()
        request = orjson.loads(value)
        event = read_binary(b"ds", value, invocation_headers(invocation))
        trigger = request["trigger"]["name"]
        assert event.get_id() == request["invocation_id"]
        assert event.get_type() == "trigger.invocation_requested"
        assert event.get_source() == f"/orgs/{request['org_id']}/triggers/{trigger}"
        assert event.get_subject() == request["data_source"]["data_source_id"]
        assert event.get_time() == datetime.fromisoformat(request["event_time"])
        assert event.get_datacontenttype() == "application/json"
        assert event.get_data() == request


def test_an_invocation_of_an_event_without_a_time_has_no_time_header() -> None:
    untimed = [
        orjson.dumps({k: v for k, v in event.items() if k != "time"})
        for event in valid_example_events()
    ]
    for invocation in _example_invocations(untimed).invocations:
        names = [name for name, _ in invocation_headers(invocation)]
        assert "ce_time" not in names
        assert len(names) == len(set(names)) == 6


def test_the_invocation_source_is_a_uri_reference_whatever_the_org_id() -> None:
    assert _trigger_source("og 1/é", "front-cam") == b"/orgs/og%201%2F%C3%A9/triggers/front-cam"
