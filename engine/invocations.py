"""Invocation requests: everything fixed per trigger is merged once, at compile time,
and encoded once too: a request's JSON is its template's encoded parts with the few values of
this firing in between."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from engine.actions import ResolvedAction
from engine.models import Trigger, merge_compute, merge_container
from engine.vocabulary import InvocationSource

_dumps = orjson.dumps


def invocation_id(
    trigger_id: str, dataset_id: str, file_id: str | None, command_id: str | None = None
) -> str:
    """Deterministic: the same trigger firing for the same dataset/file always has the same id; a
    rerun backfill's and an invoke's also depend on the command's id (its request or idempotency
    id), so that each is an invocation of its own."""
    material = f"{trigger_id}\x00{dataset_id}\x00{file_id or ''}"
    if command_id is not None:
        material += f"\x00{command_id}"
    return hashlib.sha256(material.encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class InvocationTemplate:
    """The per-trigger part of every invocation request, merged from action and trigger."""

    trigger: dict[str, str]
    action: dict[str, str | None]
    for_each: str
    required_inputs: list[str]
    additional_inputs: list[str]
    parameter_values: dict[str, Any]
    compute_requirements: dict[str, Any]
    container_parameters: dict[str, Any]
    timeout: int
    # The request's JSON split around its variable values (see `encoded_parts`), made on first
    # use: most triggers of a large registry never fire, and the build stays cheaper.
    _parts: tuple[bytes, ...] | None = field(default=(), init=False, compare=False, repr=False)

    @classmethod
    def build(
        cls, trigger: Trigger, action: ResolvedAction, default_timeout: int
    ) -> InvocationTemplate:
        defaults = {p.name: p.default for p in action.parameters if p.default is not None}
        overrides = trigger.compute_requirement_overrides
        compute = (
            action.compute_requirements  # already merged over the defaults
            if overrides is None
            else merge_compute(action.compute_requirements, overrides)
        )
        container = merge_container(
            action.container_parameters, trigger.container_parameter_overrides
        )
        return cls(
            trigger={"trigger_id": trigger.trigger_id, "name": trigger.name},
            action={"name": action.name, "owner": action.owner, "digest": trigger.action.digest},
            for_each=trigger.for_each,
            required_inputs=list(trigger.required_inputs),
            additional_inputs=list(trigger.additional_inputs or []),
            parameter_values={**defaults, **trigger.parameter_values},
            compute_requirements=compute.model_dump(),
            container_parameters={
                "entry_point": container.entry_point,
                "command": container.command,
                "env_vars": dict(container.env_vars or {}),
                "workdir": container.workdir,
            },
            timeout=trigger.timeout or action.timeout or default_timeout,
        )

    def request(
        self,
        org_id: str,
        dataset_id: str,
        file_id: str | None,
        files: Sequence[dict[str, Any]],
        cause: str,
        event_id: str,
        event_time: str | None,
        source: InvocationSource = InvocationSource.TRIGGER,
        command_id: str | None = None,
    ) -> InvocationRequest:
        """One invocation request; `files` must already be sorted by relative_path."""
        listed = []
        for f in files:  # a loop, not a comprehension: no frame to make per request
            listed.append({"file_id": f["file_id"], "relative_path": f["relative_path"]})
        trigger_id = self.trigger["trigger_id"]
        values = (
            invocation_id(trigger_id, dataset_id, file_id, command_id),
            org_id,
            dataset_id,
            listed,
            source.value,
            cause,
            event_id,
            event_time,
        )
        return InvocationRequest(self, values)

    def fields(self, values: Sequence[Any]) -> dict[str, Any]:
        """The request as a JSON object, given its `_VARIABLE` values in order."""
        invocation, org_id, dataset_id, files, source, cause, event_id, event_time = values
        return {
            "invocation_id": invocation,
            "org_id": org_id,
            "trigger": self.trigger,
            "action": self.action,
            "for_each": self.for_each,
            "data_source": {"data_source_type": "Dataset", "data_source_id": dataset_id},
            "input_data": {
                "required_inputs": self.required_inputs,
                "additional_inputs": self.additional_inputs,
                "files": files,
            },
            "parameter_values": self.parameter_values,
            "compute_requirements": self.compute_requirements,
            "container_parameters": self.container_parameters,
            "timeout": self.timeout,
            "invocation_source": source,
            "invocation_source_id": self.trigger["trigger_id"],
            "cause": cause,
            "event_id": event_id,
            "event_time": event_time,
        }

    def encoded_parts(self) -> tuple[bytes, ...] | None:
        """`fields` encoded with a placeholder for each variable value, split at the placeholders
        (the key order lives in `fields` alone); None when a fixed value contains a placeholder,
        and requests are then encoded whole."""
        parts = self._parts
        if parts == ():  # not split yet (a split has nine parts)
            parts = self._split_encoding()
            object.__setattr__(self, "_parts", parts)  # frozen: set once, here
        return parts

    def _split_encoding(self) -> tuple[bytes, ...] | None:
        placeholders = [_dumps(f"\x00{name}\x00") for name in _VARIABLE]
        encoded = _dumps(self.fields([f"\x00{name}\x00" for name in _VARIABLE]))
        parts: list[bytes] = []
        for placeholder in placeholders:
            before, found, encoded = encoded.partition(placeholder)
            if not found or placeholder in encoded:
                return None
            parts.append(before)
        return (*parts, encoded)


# The values that differ between requests of one trigger, in the order `fields` places them.
_VARIABLE = (
    "invocation_id",
    "org_id",
    "dataset_id",
    "files",
    "invocation_source",
    "cause",
    "event_id",
    "event_time",
)
_AT = {name: at for at, name in enumerate(_VARIABLE)}  # where each is in a request's values


class InvocationRequest(Mapping[str, Any]):
    """One invocation request. It reads like the JSON object it stands for (built on first read)
    and encodes itself from its template's parts, without building that object. It is a
    `Mapping`, not a dict: JSON encoders take `to_json()`, or `dict(request)` (same bytes)."""

    __slots__ = ("_fields", "_template", "_values")

    def __init__(self, template: InvocationTemplate, values: tuple[Any, ...]) -> None:
        self._template = template
        self._values = values
        self._fields: dict[str, Any] | None = None

    def to_json(self) -> bytes:
        """The request as compact JSON: the same bytes as `orjson.dumps(dict(request))`."""
        parts = self._template.encoded_parts()
        if parts is None:
            return _dumps(self.as_dict())
        p0, p1, p2, p3, p4, p5, p6, p7, p8 = parts
        v0, v1, v2, v3, v4, v5, v6, v7 = self._values
        return b"".join(
            (
                p0, _dumps(v0), p1, _dumps(v1), p2, _dumps(v2), p3, _dumps(v3),
                p4, _dumps(v4), p5, _dumps(v5), p6, _dumps(v6), p7, _dumps(v7), p8,
            )
        )  # fmt: skip

    # The fields a Kafka record's headers name, read without building the object.
    @property
    def invocation_id(self) -> str:
        return self._values[_AT["invocation_id"]]

    @property
    def org_id(self) -> str:
        return self._values[_AT["org_id"]]

    @property
    def dataset_id(self) -> str:
        return self._values[_AT["dataset_id"]]

    @property
    def event_time(self) -> str | None:
        return self._values[_AT["event_time"]]

    @property
    def trigger_name(self) -> str:
        return self._template.trigger["name"]

    def as_dict(self) -> dict[str, Any]:
        if self._fields is None:
            self._fields = self._template.fields(self._values)
        return self._fields

    def __getitem__(self, key: str) -> Any:
        return self.as_dict()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.as_dict())

    def __len__(self) -> int:
        return len(self.as_dict())

    def __repr__(self) -> str:
        return f"InvocationRequest({self.as_dict()!r})"
