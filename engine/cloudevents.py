"""CloudEvents over Kafka (the CloudEvents 1.0 Kafka protocol binding), both ways.

In: a record of the events topic is in binary mode when it has `ce_` headers and its content-type
is not a CloudEvents format (`application/cloudevents...`): each context attribute is in a
`ce_{name}` header, the data alone is the value, and `content-type` says what the data is, JSON
here. Any other record is in structured mode: the whole event is its value.

Out: an invocation request carries binary-mode headers, so that an executor can read it with a
CloudEvents SDK; its value is the request's JSON, as without them. Nothing in them is wall-clock
time: `ce_time` is the time of the event that caused the invocation.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import Final
from urllib.parse import quote

from engine.errors import EventError
from engine.invocations import InvocationRequest

RecordHeaders = Sequence[tuple[str, bytes | None]]  # as a consumer reads them

INVOCATION_TYPE: Final = "trigger.invocation_requested"
_PREFIX: Final = "ce_"
_CONTENT_TYPE: Final = "content-type"
_STRUCTURED_MEDIA: Final = "application/cloudevents"
# application/json, and any JSON-based media type (`+json`), with parameters or not.
_JSON_MEDIA: Final = re.compile(r"(?:application|text)/(?:[\w.+-]+\+)?json\s*(?:;.*)?", re.I)
# The attributes every CloudEvent has: without them a record is no binary-mode event.
_REQUIRED: Final = ("specversion", "id", "type", "source")


def binary_mode_attributes(headers: RecordHeaders) -> dict[str, str] | None:
    """The context attributes of a binary-mode record, by name (`ce_orgid` gives `orgid`); None
    for a record in structured mode. `EventError` naming the header when one is unusable: not
    UTF-8, repeated, a required attribute missing, or data that is not JSON."""
    found: dict[str, bytes | None] = {}
    repeated: str | None = None
    content_type: bytes | None = None
    for name, value in headers:
        lowered = name.lower()
        if lowered == _CONTENT_TYPE:
            content_type = value
        elif lowered.startswith(_PREFIX):
            if lowered in found:
                repeated = lowered
            found[lowered] = value
    media = None if content_type is None else _text(_CONTENT_TYPE, content_type)
    if not found or (media is not None and media.lower().startswith(_STRUCTURED_MEDIA)):
        return None
    if repeated is not None:
        raise _header_error(repeated, "appears more than once")
    if media is not None and _JSON_MEDIA.fullmatch(media) is None:
        reason = f"{media!r} is not JSON: the data of an event in binary mode must be JSON"
        raise _header_error(_CONTENT_TYPE, reason)
    attributes = {name[len(_PREFIX) :]: _text(name, value) for name, value in found.items()}
    for name in _REQUIRED:
        if name not in attributes:
            raise _header_error(_PREFIX + name, "is missing: every binary-mode event has it")
    if attributes["specversion"] != "1.0":
        raise _header_error(f"{_PREFIX}specversion", 'must be "1.0"')
    return attributes


def _text(name: str, value: bytes | None) -> str:
    if value is None:
        raise _header_error(name, "has no value")
    try:
        return value.decode()
    except UnicodeDecodeError as exc:
        reason = f"is not valid UTF-8 ({exc.reason} at byte {exc.start})"
        raise _header_error(name, reason) from None


def _header_error(name: str, reason: str) -> EventError:
    return EventError(f"record header {name!r}", None, reason)


def invocation_headers(invocation: InvocationRequest) -> list[tuple[str, bytes | None]]:
    """The binary-mode headers of an invocation request; its value is the data."""
    headers: list[tuple[str, bytes | None]] = [
        ("ce_specversion", b"1.0"),
        ("ce_id", invocation.invocation_id.encode()),
        ("ce_type", INVOCATION_TYPE.encode()),
        ("ce_source", _trigger_source(invocation.org_id, invocation.trigger_name)),
        ("ce_subject", invocation.dataset_id.encode()),
        (_CONTENT_TYPE, b"application/json"),
    ]
    if invocation.event_time is not None:  # an event without a time: the attribute is optional
        headers.append(("ce_time", invocation.event_time.encode()))
    return headers


@functools.lru_cache(maxsize=1024)
def _trigger_source(org_id: str, trigger_name: str) -> bytes:
    """`/orgs/{org_id}/triggers/{name}`: the trigger that asks for the invocation, a URI reference
    (an org id is free text, so it is percent-encoded; a trigger name needs no encoding)."""
    return f"/orgs/{quote(org_id, safe='')}/triggers/{trigger_name}".encode()
