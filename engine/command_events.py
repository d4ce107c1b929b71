"""The CloudEvents of operator commands (`trigger.backfill_requested`, `trigger.invoke_requested`):
written here only, for `trigger-engine triggers backfill|invoke` and for tests.

A command's `id` is made of what it asks for, so a command repeated with the same request or
idempotency id is the same event. Its `time` is when it was asked for: it becomes the `event_time`
of the invocations the command makes.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from engine.errors import ConfigError
from engine.vocabulary import EventType


@dataclass(frozen=True, slots=True)
class CommandEvent:
    """A command's event, and the Kafka key it is written under."""

    event: dict[str, Any]
    key: str  # an invoke: its dataset id; a backfill: `backfill/{orgid}/{name}/{request_id}`

    @property
    def id(self) -> str:
        return str(self.event["id"])

    @property
    def type(self) -> str:
        return str(self.event["type"])

    def line(self) -> str:
        """One JSON line, as the lines of an event log are written."""
        return json.dumps(self.event, ensure_ascii=False)


def backfill_requested(
    org_id: str, trigger_name: str, request_id: str, *, rerun: bool, time: str
) -> CommandEvent:
    """Evaluate the trigger for every dataset of the org (each partition's own, in Kafka)."""
    key = f"backfill/{org_id}/{trigger_name}/{request_id}"
    verb = "rerun" if rerun else "backfill"  # a rerun asks for something else: another event
    trigger: dict[str, Any] = {"name": trigger_name, "request_id": request_id}
    if rerun:
        trigger["rerun"] = True
    event = _envelope(
        _command_id(verb, org_id, trigger_name, request_id),
        EventType.TRIGGER_BACKFILL_REQUESTED,
        org_id,
        trigger_name,
        time,
    )
    event["data"] = {"trigger": trigger}
    return CommandEvent(event, key)


def invoke_requested(
    org_id: str,
    dataset_id: str,
    trigger_name: str,
    idempotency_id: str,
    *,
    file_id: str | None,
    time: str,
) -> CommandEvent:
    """Invoke the trigger's action for the dataset (or one of its files) now."""
    parts = [org_id, dataset_id, trigger_name, idempotency_id]
    event = _envelope(
        _command_id("invoke", *parts, *([file_id] if file_id is not None else [])),
        EventType.TRIGGER_INVOKE_REQUESTED,
        org_id,
        trigger_name,
        time,
    )
    event["datasetid"] = dataset_id
    data: dict[str, Any] = {"trigger": {"name": trigger_name, "idempotency_id": idempotency_id}}
    if file_id is not None:
        data["file_id"] = file_id
    event["data"] = data
    return CommandEvent(event, dataset_id)


def new_command_id() -> str:
    """A fresh request or idempotency id, for a command given none."""
    return uuid.uuid4().hex


def now() -> str:
    """The current time as events carry it: UTC, ISO 8601, to the second."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def zoned_moment(text: str, flag: str) -> datetime:
    """An ISO 8601 timestamp with a zone; `ConfigError` naming `flag` otherwise."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(flag, None, f"{text!r} is not an ISO 8601 timestamp") from None
    if moment.tzinfo is None:
        raise ConfigError(flag, None, f"{text!r} needs a time zone (e.g. Z or +02:00)")
    return moment


def checked_time(text: str, flag: str) -> str:
    """An ISO 8601 timestamp with a zone, as given; `ConfigError` naming `flag` otherwise."""
    zoned_moment(text, flag)
    return text


def _command_id(verb: str, *parts: str) -> str:
    # Each part escaped: ids with a `/` of their own cannot make two commands' ids the same.
    return "/".join([verb, *(quote(part, safe="") for part in parts)])


def _envelope(
    event_id: str, event_type: EventType, org_id: str, trigger_name: str, time: str
) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": event_id,
        "type": event_type.value,
        "source": f"/orgs/{org_id}/triggers/{trigger_name}",
        "time": time,
        "orgid": org_id,
    }
