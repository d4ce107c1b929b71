"""Input events: CloudEvents 1.0 structured JSON, validated by hand.

This is the per-event edge, so it is plain typed Python rather than pydantic: replay must handle
tens of thousands of events a second and a model construction per event costs more than the whole
evaluation. The checks are the same ones a model would make, and every failure is an `EventError`
naming the field and the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import orjson

from engine.errors import EventError

DEFAULT_MAX_EVENT_BYTES: Final = 1 << 20

# type -> evaluation cause (None: the event changes state but evaluates nothing)
EVENT_CAUSES: Final[dict[str, str | None]] = {
    "dataset.created": None,
    "dataset.metadata_updated": "dataset_metadata_update",
    "dataset.deleted": None,
    "file.uploaded": "file_upload",
    "file.ingested": "file_ingest",
    "file.metadata_updated": "file_metadata_update",
    "file.deleted": None,
}
_NEEDS_DATASET: Final = frozenset({"dataset.created", "dataset.metadata_updated"})
_INGESTION_STATUSES: Final = frozenset({"not_ingested", "ingested"})


@dataclass(slots=True)
class Event:
    """A validated event: `dataset` is a full snapshot, `file` the fields the event carries."""

    id: str
    type: str
    source: str
    time: str | None
    org_id: str
    dataset_id: str
    file: dict[str, Any] | None
    dataset: dict[str, Any] | None

    @property
    def cause(self) -> str | None:
        return EVENT_CAUSES[self.type]

    def context(self) -> dict[str, Any]:
        """The `event` root that JsonLogic conditions can read."""
        return {
            "id": self.id,
            "type": self.type,
            "source": self.source,
            "time": self.time,
            "orgid": self.org_id,
            "datasetid": self.dataset_id,
        }


def parse_event(raw: bytes | str, *, max_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> Event:
    """Parse and validate one event; raise `EventError` naming what is wrong."""
    if len(raw) > max_bytes:
        raise EventError("event", None, f"{len(raw)} bytes exceeds the limit of {max_bytes} bytes")
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise EventError("event", None, f"not valid JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise EventError("event", None, f"expected a JSON object, got {_kind(obj)}")
    return event_from_dict(obj)


def event_from_dict(obj: dict[str, Any]) -> Event:
    ev_id = _required_str(obj, "id", "event")
    place = f"event {ev_id!r}"
    if obj.get("specversion") != "1.0":
        raise EventError(f"{place} field 'specversion'", None, 'must be "1.0"')
    ev_type = _required_str(obj, "type", place)
    if ev_type not in EVENT_CAUSES:
        known = ", ".join(EVENT_CAUSES)
        raise EventError(f"{place} field 'type'", None, f"unknown event type {ev_type!r} ({known})")
    org_id = _required_str(obj, "orgid", place)
    dataset_id = _required_str(obj, "datasetid", place)
    time = obj.get("time")
    if time is not None and not isinstance(time, str):
        raise EventError(f"{place} field 'time'", None, "must be a string timestamp")
    data = obj.get("data", {})
    if not isinstance(data, dict):
        raise EventError(f"{place} field 'data'", None, f"expected an object, got {_kind(data)}")
    dataset = _dataset_record(data.get("dataset"), ev_type, org_id, dataset_id, place)
    file = _file_record(data.get("file"), ev_type, place)
    return Event(
        id=ev_id,
        type=ev_type,
        source=_optional_str(obj, "source", place) or "",
        time=time,
        org_id=org_id,
        dataset_id=dataset_id,
        file=file,
        dataset=dataset,
    )


def _dataset_record(
    raw: Any, ev_type: str, org_id: str, dataset_id: str, place: str
) -> dict[str, Any] | None:
    where = f"{place} field 'data.dataset'"
    if raw is None:
        if ev_type in _NEEDS_DATASET:
            raise EventError(where, None, f"required for {ev_type}")
        return None
    if not isinstance(raw, dict):
        raise EventError(where, None, f"expected an object, got {_kind(raw)}")
    if raw.get("dataset_id", dataset_id) != dataset_id:
        reason = f"dataset_id {raw['dataset_id']!r} does not match the event's datasetid"
        raise EventError(where, None, f"{reason} {dataset_id!r}")
    if raw.get("org_id", org_id) != org_id:
        reason = f"org_id {raw['org_id']!r} does not match the event's orgid {org_id!r}"
        raise EventError(where, None, reason)
    return {
        "dataset_id": dataset_id,
        "org_id": org_id,
        "tags": _tags(raw, where),
        "metadata": _metadata(raw, where),
    }


def _file_record(raw: Any, ev_type: str, place: str) -> dict[str, Any] | None:
    """The fields the event carries; state merges them over what it knows of the file."""
    where = f"{place} field 'data.file'"
    if raw is None:
        if ev_type.startswith("file."):
            raise EventError(where, None, f"required for {ev_type}")
        return None
    if not isinstance(raw, dict):
        raise EventError(where, None, f"expected an object, got {_kind(raw)}")
    record: dict[str, Any] = {"file_id": _required_str(raw, "file_id", where)}
    path = raw.get("relative_path")
    if path is not None:
        _check_path(path, f"{where}.relative_path")
        record["relative_path"] = path
    elif ev_type == "file.uploaded":
        raise EventError(f"{where}.relative_path", None, "required for file.uploaded")
    size = raw.get("size")
    if size is not None:
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise EventError(f"{where}.size", None, "must be a non-negative integer")
        record["size"] = size
    if "tags" in raw:
        record["tags"] = _tags(raw, where)
    if "metadata" in raw:
        record["metadata"] = _metadata(raw, where)
    status = raw.get("ingestion_status")
    if status is not None:
        if status not in _INGESTION_STATUSES:
            allowed = sorted(_INGESTION_STATUSES)
            raise EventError(f"{where}.ingestion_status", None, f"must be one of {allowed}")
        record["ingestion_status"] = status
    if ev_type == "file.ingested":
        record["ingestion_status"] = "ingested"
    return record


def _check_path(path: Any, where: str) -> None:
    if not isinstance(path, str) or not path:
        raise EventError(where, None, "must be a non-empty string")
    if path.startswith("/"):
        raise EventError(
            where, None, f"{path!r} must be relative to the dataset root (no leading '/')"
        )
    if "\x00" in path or any(seg in ("", ".", "..") for seg in path.split("/")):
        reason = f"{path!r} has an empty, '.' or '..' segment, or a NUL character"
        raise EventError(where, None, reason)


def _tags(raw: dict[str, Any], where: str) -> list[str]:
    tags = raw.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise EventError(f"{where}.tags", None, "must be a list of strings")
    return tags


def _metadata(raw: dict[str, Any], where: str) -> dict[str, Any]:
    metadata = raw.get("metadata", {})
    if not isinstance(metadata, dict):
        raise EventError(f"{where}.metadata", None, f"expected an object, got {_kind(metadata)}")
    return metadata


def _required_str(obj: dict[str, Any], key: str, place: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        problem = "is missing" if value is None else "must be a non-empty string"
        raise EventError(f"{place} field '{key}'", None, problem)
    return value


def _optional_str(obj: dict[str, Any], key: str, place: str) -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise EventError(f"{place} field '{key}'", None, "must be a string")
    return value


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", type(None): "null"}.get(
        type(value), type(value).__name__
    )
