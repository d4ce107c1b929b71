"""Invocation requests (SPEC §5): everything fixed per trigger is merged once, at compile time."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from engine.actions import ResolvedAction
from engine.models import Trigger, merge_compute, merge_container


def invocation_id(trigger_id: str, dataset_id: str, file_id: str | None) -> str:
    """Deterministic: the same trigger firing for the same dataset/file always has the same id."""
    material = f"{trigger_id}\x00{dataset_id}\x00{file_id or ''}".encode()
    return hashlib.sha256(material).hexdigest()[:32]


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

    @classmethod
    def build(
        cls, trigger: Trigger, action: ResolvedAction, default_timeout: int
    ) -> InvocationTemplate:
        defaults = {p.name: p.default for p in action.parameters if p.default is not None}
        compute = merge_compute(action.compute_requirements, trigger.compute_requirement_overrides)
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
    ) -> dict[str, Any]:
        """One invocation request; `files` must already be sorted by relative_path."""
        trigger_id = self.trigger["trigger_id"]
        return {
            "invocation_id": invocation_id(trigger_id, dataset_id, file_id),
            "org_id": org_id,
            "trigger": self.trigger,
            "action": self.action,
            "for_each": self.for_each,
            "data_source": {"data_source_type": "Dataset", "data_source_id": dataset_id},
            "input_data": {
                "required_inputs": self.required_inputs,
                "additional_inputs": self.additional_inputs,
                "files": [
                    {"file_id": f["file_id"], "relative_path": f["relative_path"]} for f in files
                ],
            },
            "parameter_values": self.parameter_values,
            "compute_requirements": self.compute_requirements,
            "container_parameters": self.container_parameters,
            "timeout": self.timeout,
            "invocation_source": "Trigger",
            "invocation_source_id": trigger_id,
            "cause": cause,
            "event_id": event_id,
            "event_time": event_time,
        }
