"""Events and records as the official CloudEvents SDK makes and reads them: what a producer or an
executor that uses it sends or sees."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.bindings import kafka
from cloudevents.core.bindings.kafka import KafkaMessage
from cloudevents.core.v1.event import CloudEvent

from engine.errors import EventError
from engine.events import parse_event

RecordHeaders = list[tuple[str, bytes]]
EXAMPLE_EVENTS = Path(__file__).resolve().parent.parent / "examples" / "events.jsonl"


def valid_example_events() -> list[dict[str, Any]]:
    """The example events that are valid: the others are no CloudEvents the SDK would make."""
    events = []
    for line in EXAMPLE_EVENTS.read_bytes().splitlines():
        try:
            parse_event(line)
        except EventError:
            continue
        events.append(orjson.loads(line))
    return events


def sdk_event(event: dict[str, Any]) -> CloudEvent:
    """One of our events as the SDK's CloudEvent, its data declared JSON."""
    attributes = {name: value for name, value in event.items() if name != "data"}
    attributes["time"] = datetime.fromisoformat(event["time"])  # the SDK takes a datetime
    attributes["datacontenttype"] = "application/json"
    return CloudEvent(attributes=attributes, data=event.get("data"))


def _dataset_key(event: BaseCloudEvent) -> bytes:
    return str(event.get_extension("datasetid")).encode()


def binary_message(event: dict[str, Any]) -> KafkaMessage:
    """The event in binary mode, keyed by its dataset."""
    return kafka.to_binary_event(sdk_event(event), key_mapper=_dataset_key)


def structured_message(event: dict[str, Any]) -> KafkaMessage:
    """The event in structured mode, keyed by its dataset."""
    return kafka.to_structured_event(sdk_event(event), key_mapper=_dataset_key)


def headers_of(message: KafkaMessage) -> RecordHeaders:
    return list(message.headers.items())


def read_binary(
    key: bytes | None, value: bytes, headers: Sequence[tuple[str, bytes | None]]
) -> BaseCloudEvent:
    """A binary-mode record as the SDK reads it (headers without a value are not CloudEvents')."""
    present = {name: value for name, value in headers if value is not None}
    return kafka.from_binary_event(KafkaMessage(headers=present, key=key, value=value))
