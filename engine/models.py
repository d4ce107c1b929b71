"""Edge models for triggers and actions (pydantic v2): validated once at load, trusted after.

Actions follow Roboto's `action.json` reference exactly, plus the owner `org_id`. Unknown fields are
errors everywhere, so a typo in a trigger file is reported instead of silently ignored.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from engine.vocabulary import COMMAND_CAUSES, DEFAULT_CAUSES, Cause, ForEach

_NAME = re.compile(r"[\w-]{1,256}")
_REFERENCE = re.compile(r"^(?:(?P<owner>[^/@\s]+)/)?(?P<name>[^/@\s]+)(?:@(?P<digest>[^/@\s]+))?$")

# vCPU units -> valid memory (MiB), from the action.json reference table.
VALID_MEMORY: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: (1024, 2048, 3072, 4096),
    1024: tuple(range(2048, 8192 + 1, 1024)),
    2048: tuple(range(4096, 16384 + 1, 1024)),
    4096: tuple(range(8192, 30720 + 1, 1024)),
    8192: tuple(range(16384, 61440 + 1, 4096)),
    16384: tuple(range(32768, 122880 + 1, 8192)),
}
STORAGE_RANGE = (21, 200)


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_name(value: str) -> str:
    if not _NAME.fullmatch(value):
        raise ValueError(f"{value!r} must be 1-256 letters, digits, '_' or '-'")
    return value


class ActionReference(Model):
    name: str
    owner: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, text: str) -> ActionReference:
        """`[owner/]name[@digest]`, as the `roboto triggers --action` flag takes it."""
        match = _REFERENCE.match(text)
        if match is None:
            raise ValueError(f"{text!r} is not of the form [owner/]name[@digest]")
        return cls(**match.groupdict())

    def __str__(self) -> str:
        owner = f"{self.owner}/" if self.owner else ""
        digest = f"@{self.digest}" if self.digest else ""
        return f"{owner}{self.name}{digest}"


class ComputeRequirements(Model):
    vCPU: int = 512
    memory: int = 1024
    storage: int = 21
    gpu: bool = False

    @model_validator(mode="after")
    def _valid_combination(self) -> Self:
        valid = VALID_MEMORY.get(self.vCPU)
        if valid is None:
            raise ValueError(f"vCPU {self.vCPU} is not one of {sorted(VALID_MEMORY)}")
        if self.memory not in valid:
            raise ValueError(
                f"memory {self.memory} MiB is not valid with vCPU {self.vCPU}; "
                f"valid: {', '.join(map(str, valid))}"
            )
        low, high = STORAGE_RANGE
        if not low <= self.storage <= high:
            raise ValueError(f"storage {self.storage} GiB is outside {low}-{high}")
        return self


class ComputeRequirementOverrides(Model):
    vCPU: int | None = None
    memory: int | None = None
    storage: int | None = None
    gpu: bool | None = None


def merge_compute(
    base: ComputeRequirements | ComputeRequirementOverrides | None,
    *overrides: ComputeRequirementOverrides | None,
) -> ComputeRequirements:
    """Defaults <- base <- each override (set fields only), validated as a whole."""
    merged: dict[str, Any] = {}
    for layer in (base, *overrides):
        if layer is not None:
            merged.update(layer.model_dump(exclude_none=True, exclude_unset=True))
    return ComputeRequirements(**merged)


class ContainerParameters(Model):
    entry_point: list[str] | None = None
    command: list[str] | None = None
    env_vars: dict[str, str] | None = None
    workdir: str | None = None


def merge_container(
    base: ContainerParameters | None, override: ContainerParameters | None
) -> ContainerParameters:
    """Field-wise: a field the override sets (not null) replaces the base's."""
    merged = base.model_dump(exclude_none=True) if base is not None else {}
    if override is not None:
        merged.update(override.model_dump(exclude_none=True))
    return ContainerParameters(**merged)


class ActionParameter(Model):
    name: str = Field(min_length=1)
    description: str | None = None
    required: bool = False
    default: Any = None

    @field_validator("default", mode="after")
    @classmethod
    def _as_string(cls, value: Any) -> str | None:
        # action.json: "Value used when the parameter is not provided. Coerced to a string."
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)


class DockerImageConfig(Model):
    dockerfile: str | None = None
    context: str | None = None
    build_args: dict[str, str] | None = None


_INHERITED = (
    "image_uri",
    "docker_config",
    "container_parameters",
    "parameters",
    "requires_downloaded_inputs",
)


class Action(Model):
    org_id: str = Field(min_length=1)
    name: str
    description: str | None = None
    short_description: str | None = None
    parameters: list[ActionParameter] = Field(default_factory=list)
    requires_downloaded_inputs: bool | None = None
    compute_requirements: ComputeRequirements | None = None
    container_parameters: ContainerParameters | None = None
    image_uri: str | None = None
    docker_config: DockerImageConfig | None = None
    inherits: ActionReference | None = None
    tags: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    timeout: int | None = Field(default=None, ge=1)

    _name = field_validator("name")(_check_name)

    @field_validator("inherits", mode="before", json_schema_input_type=str | ActionReference | None)
    @classmethod
    def _reference_string(cls, value: Any) -> Any:
        return ActionReference.parse(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _rules(self) -> Self:
        if self.inherits is not None:
            clashing = [f for f in _INHERITED if f in self.model_fields_set]
            if clashing:
                raise ValueError(
                    f"inherits {self.inherits} excludes {', '.join(clashing)}: "
                    "those come from the inherited action"
                )
        elif self.image_uri is not None and self.docker_config is not None:
            raise ValueError("image_uri and docker_config are mutually exclusive")
        names = [p.name for p in self.parameters]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate parameter names: {', '.join(duplicates)}")
        return self

    @property
    def key(self) -> str:
        return f"{self.org_id}/{self.name}"


def derive_trigger_id(org_id: str, name: str) -> str:
    return "tr_" + hashlib.sha256(f"{org_id}/{name}".encode()).hexdigest()[:24]


class Trigger(Model):
    name: str
    org_id: str = Field(min_length=1)
    trigger_id: str = ""
    action: ActionReference
    required_inputs: list[str]
    additional_inputs: list[str] | None = None
    for_each: ForEach = ForEach.DATASET
    causes: list[Cause] = Field(default_factory=lambda: list(DEFAULT_CAUSES))
    condition: dict[str, Any] | None = None
    required_tag: list[str] | None = None
    required_metadata: dict[str, Any] | None = None
    parameter_values: dict[str, Any] = Field(default_factory=dict)
    compute_requirement_overrides: ComputeRequirementOverrides | None = None
    container_parameter_overrides: ContainerParameters | None = None
    timeout: int | None = Field(default=None, ge=1)
    enabled: bool = True

    _name = field_validator("name")(_check_name)

    @field_validator("trigger_id")
    @classmethod
    def _no_key_separators(cls, value: str) -> str:
        # `/` and `!` separate a trigger id from a file id or an idempotency id in fired keys.
        if "/" in value or "!" in value:
            raise ValueError(f"{value!r} must not contain '/' or '!'")
        return value

    @field_validator("action", mode="before", json_schema_input_type=str | ActionReference)
    @classmethod
    def _reference_string(cls, value: Any) -> Any:
        return ActionReference.parse(value) if isinstance(value, str) else value

    @field_validator("required_inputs")
    @classmethod
    def _some_input(cls, value: list[str]) -> list[str]:
        if not any(p.strip() for p in value):
            raise ValueError("needs at least one non-blank pattern")
        return value

    @field_validator("causes")
    @classmethod
    def _distinct_causes(cls, value: list[Cause]) -> list[Cause]:
        if not value:
            raise ValueError("needs at least one cause")
        if len(set(value)) != len(value):
            raise ValueError("lists a cause twice")
        if commands := [str(c) for c in value if c in COMMAND_CAUSES]:
            raise ValueError(f"{', '.join(commands)}: raised by operator commands, not listenable")
        return value

    @model_validator(mode="after")
    def _rules(self) -> Self:
        sugar = [f for f in ("required_tag", "required_metadata") if getattr(self, f) is not None]
        if self.condition is not None and sugar:
            raise ValueError(f"condition and {' / '.join(sugar)} are mutually exclusive")
        if not self.trigger_id:
            object.__setattr__(self, "trigger_id", derive_trigger_id(self.org_id, self.name))
        return self

    @property
    def key(self) -> str:
        """Registry key: unique per org."""
        return f"{self.org_id}/{self.name}"
