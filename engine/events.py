"""Input events: CloudEvents 1.0, structured JSON or binary mode, validated at the edge.

This is the per-event edge, so it is not pydantic: replay must handle tens of thousands of events a
second, and a model construction per event costs more than the whole evaluation. The usual valid
event is decoded and checked in one pass by msgspec against a schema of the fields the engine
reads; anything else is decoded plainly and checked field by field in Python (`event_from_dict`),
which is the reference: every failure is an `EventError` naming the field and the reason, and the
schema accepts only events the reference accepts, giving the same `Event`. A binary-mode event (its
attributes carried by the transport, its data alone in the body: `event_from_binary`) goes through
the same reference checks, as the structured event it stands for.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Final, Literal, Required, TypedDict, get_args

import msgspec

from engine.errors import EventError
from engine.vocabulary import (
    EVENT_KINDS,
    Cause,
    EventKind,
    EventType,
    InvocationSource,
    StateEffect,
)

DEFAULT_MAX_EVENT_BYTES: Final = 1 << 20
IngestionStatus = Literal["not_ingested", "ingested"]
_INGESTION_STATUSES: Final = frozenset(get_args(IngestionStatus))


class Command(msgspec.Struct, frozen=True, gc=False):
    """An operator command's `data.trigger` (and, for an invoke, `data.file_id`): SPEC §4.4."""

    name: str
    request_id: str | None = None  # a backfill's
    rerun: bool = False  # a backfill's: fire again where it fired before
    idempotency_id: str | None = None  # an invoke's
    file_id: str | None = None  # an invoke's, for a dataset_file trigger

    @property
    def source(self) -> InvocationSource:
        """Who asks for its invocations: an operator (invoke), or the rule (backfill)."""
        manual = self.idempotency_id is not None
        return InvocationSource.MANUAL if manual else InvocationSource.TRIGGER

    @property
    def invocation_key(self) -> str | None:
        """What makes its invocations ones of their own (`invocation_id`): an invoke's id, a
        rerun's request id; None for a plain backfill, whose invocations are the rule's."""
        return self.idempotency_id or (self.request_id if self.rerun else None)


class Event(msgspec.Struct, gc=False):
    """A validated event: `dataset` is a full snapshot, `file` the fields the event carries.

    A Struct, not a dataclass: one is made per event, and a Struct is made in C, without the
    Python frame of a dataclass `__init__`. It holds no cycles (gc=False).
    """

    id: str
    type: EventType
    source: str
    time: str | None
    org_id: str
    dataset_id: str
    file: dict[str, Any] | None
    dataset: dict[str, Any] | None
    # The upload the event belongs to (file events and completions; None on other types).
    transaction_id: str | None = None
    command: Command | None = None  # operator commands only

    @property
    def kind(self) -> EventKind:
        return EVENT_KINDS[self.type]

    @property
    def cause(self) -> Cause | None:
        return EVENT_KINDS[self.type].cause

    def context(self) -> dict[str, Any]:
        """The `event` root that JsonLogic conditions can read."""
        return {
            "id": self.id,
            "type": self.type.value,  # plain JSON for conditions, not the enum
            "source": self.source,
            "time": self.time,
            "orgid": self.org_id,
            "datasetid": self.dataset_id or None,
        }


def parse_event(raw: bytes | str, *, max_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> Event:
    """Parse and validate one event; raise `EventError` naming what is wrong."""
    _check_size(len(raw), max_bytes)
    try:
        event = _from_envelope(_decode_envelope(raw))
    except (*_NOT_DECODED, EventError):
        event = None
    # Anything the schema does not take goes the long way, which names the problem (or accepts
    # the event: the schema is stricter than the checks).
    return _parse_checked(raw) if event is None else event


def event_from_binary(
    attributes: Mapping[str, str], data: bytes, *, max_bytes: int = DEFAULT_MAX_EVENT_BYTES
) -> Event:
    """A CloudEvents binary-mode event: its context attributes by name (`id`, `orgid`, ...) as
    the transport carried them, and its data as JSON bytes (empty: no data). The same `Event`, or
    the same `EventError`, as the structured event with these attributes and this data."""
    size = len(data) + sum(len(name) + len(value.encode()) for name, value in attributes.items())
    _check_size(size, max_bytes)
    event: dict[str, Any] = dict(attributes)
    if data:
        try:
            event["data"] = _decode_json(data)
        except _NOT_DECODED as exc:
            where = _field(attributes.get("id") or None, "data")
            raise EventError(where, None, f"not valid JSON ({exc})") from None
    return event_from_dict(event)


def _check_size(size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise EventError("event", None, f"{size} bytes exceeds the limit of {max_bytes} bytes")


def _parse_checked(raw: bytes | str) -> Event:
    try:
        obj = _decode_json(raw)
    except _NOT_DECODED as exc:
        raise EventError("event", None, f"not valid JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise EventError("event", None, f"expected a JSON object, got {_kind(obj)}")
    return event_from_dict(obj)


# The schema of the usual valid event. It is stricter than `event_from_dict`, never looser: a null
# where a field may be absent goes the long way, and so do a file event without its file, a bad
# path, and a dataset that does not match the envelope. Unknown fields are ignored, as there.
NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]


class _FileFields(TypedDict, total=False):
    file_id: Required[NonEmpty]
    relative_path: str
    size: Annotated[int, msgspec.Meta(ge=0)]
    tags: list[str]
    metadata: dict[str, Any]
    ingestion_status: IngestionStatus


class _Upload(TypedDict, total=False):
    file_count: Annotated[int, msgspec.Meta(ge=0)]


class _Data(TypedDict, total=False):
    dataset: dict[str, Any]  # checked by `_dataset_record`, as on the long way
    file: _FileFields
    upload: _Upload  # informational: checked, never read


class _Envelope(msgspec.Struct):
    specversion: Literal["1.0"]
    id: NonEmpty
    type: EventType  # msgspec decodes an enum by value: only the vocabulary's types pass
    orgid: NonEmpty
    datasetid: NonEmpty
    source: str | None = None
    time: str | None = None
    transactionid: NonEmpty | None = None
    data: _Data = msgspec.field(default_factory=_Data)
    data_base64: Any = None  # never taken: the long way says why


_decode_envelope = msgspec.json.Decoder(_Envelope).decode
_decode_json = msgspec.json.Decoder().decode
# What decoding raises for bytes that are not JSON (or not the schema's): invalid UTF-8 in a string
# is a UnicodeDecodeError, nesting deeper than the interpreter allows a RecursionError.
_NOT_DECODED: Final = (msgspec.DecodeError, UnicodeDecodeError, RecursionError)


def _from_envelope(envelope: _Envelope) -> Event | None:
    """The event the schema decoded, finished as `event_from_dict` finishes it; None (or the
    `EventError` of a shared check) when only the long way can tell what is wrong."""
    ev_id, ev_type = envelope.id, envelope.type
    org_id, dataset_id = envelope.orgid, envelope.datasetid
    kind = EVENT_KINDS[ev_type]
    if kind.command or envelope.data_base64 is not None:
        return None  # rare: the long way checks them
    data = envelope.data
    raw_dataset = data.get("dataset")
    dataset = (
        None
        if raw_dataset is None and not kind.needs_dataset
        else _dataset_record(raw_dataset, ev_type, org_id, dataset_id, ev_id)
    )
    file: dict[str, Any] | None = data.get("file")  # type: ignore[assignment]
    if file is None:
        if kind.carries_file:
            return None
    else:
        path = file.get("relative_path")
        if path is not None:
            _check_path(path, ev_id)
        elif kind.new_file:
            return None
        if kind.effect is StateEffect.INGEST_FILE:
            file["ingestion_status"] = "ingested"
    transaction_id = envelope.transactionid if kind.in_upload else None
    if transaction_id is None and kind.effect is StateEffect.CLOSE_UPLOAD:
        return None
    source = envelope.source or ""
    return Event(
        ev_id, ev_type, source, envelope.time, org_id, dataset_id, file, dataset, transaction_id
    )


def event_from_dict(obj: dict[str, Any]) -> Event:
    """The reference checks, in order: the first problem raises an `EventError` that names it."""
    ev_id, ev_type, org_id, dataset_id, time, data = _checked_envelope(obj)
    kind = EVENT_KINDS[ev_type]
    raw_dataset = data.get("dataset")
    dataset = (
        None
        if raw_dataset is None and not kind.needs_dataset
        else _dataset_record(raw_dataset, ev_type, org_id, dataset_id, ev_id)
    )
    raw_file = data.get("file")
    file = (
        None
        if raw_file is None and not kind.carries_file
        else _file_record(raw_file, ev_type, kind, ev_id)
    )
    source = obj.get("source")
    if source is not None and source.__class__ is not str:
        raise EventError(_field(ev_id, "source"), None, "must be a string")
    transaction_id = _transaction_id(obj, ev_type, kind, ev_id)
    _check_upload(data.get("upload"), ev_id)
    command = _command(data, ev_type, ev_id) if kind.command else None
    return Event(
        ev_id,
        ev_type,
        source or "",
        time,
        org_id,
        dataset_id,
        file,
        dataset,
        transaction_id,
        command,
    )


def _command(data: dict[str, Any], ev_type: EventType, ev_id: str) -> Command:
    """An operator command's trigger and ids (SPEC §4.4)."""
    trigger = data.get("trigger")
    if trigger.__class__ is not dict:
        where = _field(ev_id, "data.trigger")
        raise EventError(where, None, f"required for {ev_type}: an object naming the trigger")
    name = _required_str(trigger, "name", ev_id, "data.trigger.")
    if ev_type is EventType.TRIGGER_BACKFILL_REQUESTED:
        request_id = _required_str(trigger, "request_id", ev_id, "data.trigger.")
        rerun = trigger.get("rerun", False)
        if rerun.__class__ is not bool:
            raise EventError(_field(ev_id, "data.trigger.rerun"), None, "must be true or false")
        return Command(name, request_id=request_id, rerun=rerun)
    idempotency_id = _required_str(trigger, "idempotency_id", ev_id, "data.trigger.")
    file_id = data.get("file_id")
    if file_id is not None and (file_id.__class__ is not str or not file_id):
        raise EventError(_field(ev_id, "data.file_id"), None, "must be a non-empty string")
    return Command(name, idempotency_id=idempotency_id, file_id=file_id)


def _transaction_id(
    obj: dict[str, Any], ev_type: EventType, kind: EventKind, ev_id: str
) -> str | None:
    """The upload the event names; other event types may carry the attribute, and ignore it."""
    value = obj.get("transactionid")
    if value is None:
        if kind.effect is StateEffect.CLOSE_UPLOAD:
            raise EventError(_field(ev_id, "transactionid"), None, f"required for {ev_type}")
        return None
    if value.__class__ is not str or not value:
        raise EventError(_field(ev_id, "transactionid"), None, "must be a non-empty string")
    return value if kind.in_upload else None


def _check_upload(upload: Any, ev_id: str) -> None:
    if upload is None:
        return
    if upload.__class__ is not dict:
        where = _field(ev_id, "data.upload")
        raise EventError(where, None, f"expected an object, got {_kind(upload)}")
    count = upload.get("file_count")
    if count is not None and (count.__class__ is not int or count < 0):
        where = f"{_field(ev_id, 'data.upload')}.file_count"
        raise EventError(where, None, "must be a non-negative integer")


def _checked_envelope(
    obj: dict[str, Any],
) -> tuple[str, EventType, str, str, str | None, dict[str, Any]]:
    """The envelope's fields, checked one by one; raise `EventError` at the first problem."""
    ev_id = _required_str(obj, "id", None)
    if obj.get("specversion") != "1.0":
        raise EventError(_field(ev_id, "specversion"), None, 'must be "1.0"')
    type_name = _required_str(obj, "type", ev_id)
    try:
        ev_type = EventType(type_name)
    except ValueError:
        known = ", ".join(EventType)
        reason = f"unknown event type {type_name!r} ({known})"
        raise EventError(_field(ev_id, "type"), None, reason) from None
    org_id = _required_str(obj, "orgid", ev_id)
    # A command spanning an org (a backfill) names no dataset; any datasetid it carries is unused.
    dataset_id = (
        _required_str(obj, "datasetid", ev_id) if EVENT_KINDS[ev_type].has_datasetid else ""
    )
    time = obj.get("time")
    if time is not None and time.__class__ is not str:
        raise EventError(_field(ev_id, "time"), None, "must be a string timestamp")
    if obj.get("data_base64") is not None:
        # CloudEvents' form for binary data: every event's data here is a JSON object.
        reason = "data_base64 is not supported: send data as JSON"
        raise EventError(_field(ev_id, "data_base64"), None, reason)
    data = obj.get("data", {})
    if data.__class__ is not dict:
        raise EventError(_field(ev_id, "data"), None, f"expected an object, got {_kind(data)}")
    return ev_id, ev_type, org_id, dataset_id, time, data


def _place(ev_id: str | None) -> str:
    return "event" if ev_id is None else f"event {ev_id!r}"


def _field(ev_id: str | None, name: str) -> str:
    return f"{_place(ev_id)} field '{name}'"


def _dataset_record(
    raw: Any, ev_type: str, org_id: str, dataset_id: str, ev_id: str
) -> dict[str, Any]:
    if raw is None:
        raise EventError(_field(ev_id, "data.dataset"), None, f"required for {ev_type}")
    if raw.__class__ is not dict:
        where = _field(ev_id, "data.dataset")
        raise EventError(where, None, f"expected an object, got {_kind(raw)}")
    if raw.get("dataset_id", dataset_id) != dataset_id:
        reason = f"dataset_id {raw['dataset_id']!r} does not match the event's datasetid"
        raise EventError(_field(ev_id, "data.dataset"), None, f"{reason} {dataset_id!r}")
    if raw.get("org_id", org_id) != org_id:
        reason = f"org_id {raw['org_id']!r} does not match the event's orgid {org_id!r}"
        raise EventError(_field(ev_id, "data.dataset"), None, reason)
    return {
        "dataset_id": dataset_id,
        "org_id": org_id,
        "tags": _tags(raw, ev_id, "data.dataset"),
        "metadata": _metadata(raw, ev_id, "data.dataset"),
    }


def _file_record(raw: Any, ev_type: EventType, kind: EventKind, ev_id: str) -> dict[str, Any]:
    """The fields the event carries; state merges them over what it knows of the file."""
    if raw is None:
        raise EventError(_field(ev_id, "data.file"), None, f"required for {ev_type}")
    if raw.__class__ is not dict:
        raise EventError(_field(ev_id, "data.file"), None, f"expected an object, got {_kind(raw)}")
    file_id = raw.get("file_id")
    if file_id.__class__ is not str or not file_id:
        problem = "is missing" if file_id is None else "must be a non-empty string"
        raise EventError(f"{_field(ev_id, 'data.file')} field 'file_id'", None, problem)
    record: dict[str, Any] = {"file_id": file_id}
    path = raw.get("relative_path")
    if path is not None:
        _check_path(path, ev_id)
        record["relative_path"] = path
    elif kind.new_file:
        where = f"{_field(ev_id, 'data.file')}.relative_path"
        raise EventError(where, None, f"required for {ev_type}")
    size = raw.get("size")
    if size is not None:
        if size.__class__ is not int or size < 0:
            where = f"{_field(ev_id, 'data.file')}.size"
            raise EventError(where, None, "must be a non-negative integer")
        record["size"] = size
    if "tags" in raw:
        record["tags"] = _tags(raw, ev_id, "data.file")
    if "metadata" in raw:
        record["metadata"] = _metadata(raw, ev_id, "data.file")
    status = raw.get("ingestion_status")
    if status is not None:
        if status.__class__ is not str or status not in _INGESTION_STATUSES:  # a list: unhashable
            allowed = sorted(_INGESTION_STATUSES)
            where = f"{_field(ev_id, 'data.file')}.ingestion_status"
            raise EventError(where, None, f"must be one of {allowed}")
        record["ingestion_status"] = status
    if kind.effect is StateEffect.INGEST_FILE:
        record["ingestion_status"] = "ingested"
    return record


# An empty segment (`a//b`, a trailing `/`), a `.` or `..` segment, or a NUL character.
_BAD_SEGMENT = re.compile(r"(?:^|/)\.{0,2}(?:/|$)|\x00")


def _check_path(path: Any, ev_id: str) -> None:
    if path.__class__ is not str or not path:
        where = f"{_field(ev_id, 'data.file')}.relative_path"
        raise EventError(where, None, "must be a non-empty string")
    if path[0] == "/":
        where = f"{_field(ev_id, 'data.file')}.relative_path"
        reason = f"{path!r} must be relative to the dataset root (no leading '/')"
        raise EventError(where, None, reason)
    # Every bad segment shows as one of these; they are rare in good paths, which skip the regex.
    suspect = "//" in path or "/." in path or path[0] == "." or path[-1] == "/" or "\x00" in path
    if suspect and _BAD_SEGMENT.search(path) is not None:
        where = f"{_field(ev_id, 'data.file')}.relative_path"
        reason = f"{path!r} has an empty, '.' or '..' segment, or a NUL character"
        raise EventError(where, None, reason)


def _tags(raw: dict[str, Any], ev_id: str, where: str) -> list[str]:
    tags = raw.get("tags", [])
    if tags.__class__ is list:
        for tag in tags:  # a loop, not all(genexpr): no generator to make for one or two tags
            if tag.__class__ is not str:
                break
        else:
            return tags
    raise EventError(f"{_field(ev_id, where)}.tags", None, "must be a list of strings")


def _metadata(raw: dict[str, Any], ev_id: str, where: str) -> dict[str, Any]:
    metadata = raw.get("metadata", {})
    if metadata.__class__ is not dict:
        reason = f"expected an object, got {_kind(metadata)}"
        raise EventError(f"{_field(ev_id, where)}.metadata", None, reason)
    return metadata


def _required_str(obj: dict[str, Any], key: str, ev_id: str | None, within: str = "") -> str:
    value = obj.get(key)
    if value.__class__ is not str or not value:
        problem = "is missing" if value is None else "must be a non-empty string"
        raise EventError(_field(ev_id, within + key), None, problem)
    return value


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", type(None): "null"}.get(
        type(value), type(value).__name__
    )
