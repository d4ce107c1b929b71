"""JSON Schemas (draft 2020-12) of the engine's inputs, for editors and other tools: a triggers
file, an actions file and an input event (`trigger-engine schema trigger|action|event`).

The file schemas come from the edge models (`engine.models`), in the shapes the loaders read
(`engine.documents.document_items`): a list of items, `{"triggers": [...]}` (`"actions"`), or one
item. Events are checked at the edge by msgspec and by hand, not by pydantic (`engine.events`);
the models here describe what those checks accept, and the event types and the fields each type
requires come from the vocabulary (`EVENT_KINDS`). A few checks are beyond a schema: a snapshot's
ids must match the envelope's, and a file's path must have no empty, `.` or `..` segment.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, Any, Final, Literal, Required

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, create_model
from typing_extensions import TypedDict  # pydantic reads only this one before Python 3.12

from engine.events import IngestionStatus
from engine.models import Action, Trigger
from engine.vocabulary import EVENT_KINDS, EventKind, EventType, StateEffect

DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"


class SchemaKind(StrEnum):
    TRIGGER = "trigger"
    ACTION = "action"
    EVENT = "event"


NonEmpty = Annotated[str, Field(min_length=1)]
Count = Annotated[int, Field(ge=0)]
RelativePath = Annotated[str, Field(min_length=1, pattern="^[^/]")]

# TypedDicts, not models: a field the checks take as absent when null is `X | None`, one they
# reject when null is just `X`, and fields not listed are allowed, as the checks ignore them.


class DatasetRecord(TypedDict, total=False):
    """A dataset's snapshot; its ids, when given, are the envelope's."""

    dataset_id: NonEmpty
    org_id: NonEmpty
    tags: list[str]
    metadata: dict[str, Any]


class FileFields(TypedDict, total=False):
    """The fields of a file the event carries."""

    file_id: Required[NonEmpty]
    relative_path: RelativePath | None
    size: Count | None
    tags: list[str]
    metadata: dict[str, Any]
    ingestion_status: IngestionStatus | None


class Upload(TypedDict, total=False):
    file_count: Count | None


class EventData(TypedDict, total=False):
    dataset: DatasetRecord | None
    file: FileFields | None
    upload: Upload | None


class BackfillCommand(TypedDict, total=False):
    """`data.trigger` of a backfill: the trigger, and the request's id."""

    name: Required[NonEmpty]
    request_id: Required[NonEmpty]
    rerun: bool


class InvokeCommand(TypedDict):
    """`data.trigger` of an invoke: the trigger, and the operator's idempotency id."""

    name: NonEmpty
    idempotency_id: NonEmpty


class Event(TypedDict, total=False):
    """An input event: a CloudEvents 1.0 structured JSON object."""

    specversion: Required[Literal["1.0"]]
    id: Required[NonEmpty]
    type: Required[EventType]
    orgid: Required[NonEmpty]
    datasetid: NonEmpty | None
    source: str | None
    time: str | None
    transactionid: NonEmpty | None
    data: EventData


_STRING: Final[dict[str, Any]] = {"type": "string", "minLength": 1}
_OBJECT: Final[dict[str, Any]] = {"type": "object"}


def _requires(path: tuple[str, ...], schema: dict[str, Any]) -> dict[str, Any]:
    """The field at `path` is present, not null, and matches `schema`."""
    node = schema
    for name in reversed(path):
        node = {"required": [name], "properties": {name: node}}
    return node


def _command(model: type[BackfillCommand | InvokeCommand]) -> dict[str, Any]:
    return _requires(("data", "trigger"), TypeAdapter(model).json_schema())


def _is_invoke(ev_type: EventType, kind: EventKind) -> bool:
    return kind.command and ev_type is not EventType.TRIGGER_BACKFILL_REQUESTED


_Rule = Callable[[EventType, EventKind], bool]


def _type_rules() -> tuple[tuple[_Rule, dict[str, Any]], ...]:
    """What each event type requires beyond the envelope, by the rule `engine.events` checks it
    with."""
    return (
        (lambda _, kind: kind.has_datasetid, _requires(("datasetid",), _STRING)),
        (lambda _, kind: kind.needs_dataset, _requires(("data", "dataset"), _OBJECT)),
        (lambda _, kind: kind.carries_file, _requires(("data", "file"), _OBJECT)),
        (lambda _, kind: kind.new_file, _requires(("data", "file", "relative_path"), _STRING)),
        (
            lambda _, kind: kind.effect is StateEffect.CLOSE_UPLOAD,
            _requires(("transactionid",), _STRING),
        ),
        (lambda t, _: t is EventType.TRIGGER_BACKFILL_REQUESTED, _command(BackfillCommand)),
        (_is_invoke, _command(InvokeCommand)),
        (_is_invoke, {"properties": {"data": {"properties": {"file_id": _STRING}}}}),
    )


def event_schema() -> dict[str, Any]:
    schema = TypeAdapter(Event).json_schema()
    schema["allOf"] = [
        {
            "if": {"required": ["type"], "properties": {"type": {"enum": types}}},
            "then": then,
        }
        for rule, then in _type_rules()
        if (types := [str(t) for t, kind in EVENT_KINDS.items() if rule(t, kind)])
    ]
    return schema


def document_schema(model: type[BaseModel], collection: str) -> dict[str, Any]:
    """A file of `model` items: a list of them, `{collection: [...]}`, or one item."""
    item = model.__name__
    wrapper = create_model(
        f"{item}sDocument",
        __config__=ConfigDict(extra="allow"),  # the loaders read only `collection`
        **{collection: (list[model] | model, ...)},  # type: ignore[valid-type]
    )
    adapter: TypeAdapter[Any] = TypeAdapter(list[model] | wrapper | model)  # type: ignore[valid-type]
    schema = adapter.json_schema()
    schema["title"] = f"trigger-engine {collection} file"
    return schema


def json_schema(kind: SchemaKind) -> dict[str, Any]:
    schema = {
        SchemaKind.TRIGGER: lambda: document_schema(Trigger, "triggers"),
        SchemaKind.ACTION: lambda: document_schema(Action, "actions"),
        SchemaKind.EVENT: event_schema,
    }[kind]()
    return {"$schema": DIALECT, **schema}


def schema_text(kind: SchemaKind) -> str:
    """The schema as printed: sorted keys, so the same on every run."""
    return json.dumps(json_schema(kind), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
