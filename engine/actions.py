"""The action catalog: actions by owner and name, `inherits` resolved, digests computed."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import orjson
from pydantic import ValidationError

from engine.documents import checked_items, describe, document_items, validate_item
from engine.errors import ConfigError
from engine.models import (
    Action,
    ActionParameter,
    ActionReference,
    ComputeRequirements,
    ContainerParameters,
    DockerImageConfig,
    Trigger,
    merge_compute,
)


@dataclass(frozen=True, slots=True)
class ResolvedAction:
    """An action with everything it inherits filled in."""

    name: str
    owner: str
    digest: str
    parameters: tuple[ActionParameter, ...]
    compute_requirements: ComputeRequirements
    container_parameters: ContainerParameters | None
    timeout: int | None
    image_uri: str | None
    docker_config: DockerImageConfig | None


def action_digest(action: Action) -> str:
    canonical = orjson.dumps(action.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


def load_actions(path: Path) -> list[Action]:
    return [validate_item(Action, item, place) for item, place in document_items(path, "actions")]


def checked_actions(path: Path) -> tuple[list[Action], list[ConfigError]]:
    """The valid actions, and the error of every other item (or file)."""
    actions: list[Action] = []
    errors: list[ConfigError] = []
    for entry in checked_items(path, "actions", Action):
        if isinstance(entry, ConfigError):
            errors.append(entry)
        else:
            actions.append(entry[0])
    return actions, errors


class ActionCatalog:
    def __init__(self, actions: Iterable[Action] = ()) -> None:
        self._actions: dict[tuple[str, str], Action] = {}
        # Resolutions, by action key: every trigger of an action asks for the same one, and a
        # change to any action may change those of the actions inheriting from it, so it clears all.
        self._resolved: dict[tuple[str, str], ResolvedAction] = {}
        for action in actions:
            key = (action.org_id, action.name)
            if key in self._actions:
                raise ConfigError(f"action {action.key!r}", None, "is defined twice")
            self._actions[key] = action
        for action in self._actions.values():
            self._resolve_action(action, ())  # every inherits chain must resolve at load

    def __len__(self) -> int:
        return len(self._actions)

    def add(self, action: Action) -> None:
        self._resolve_action(action, ())
        self._actions[(action.org_id, action.name)] = action
        self._resolved.clear()

    def remove(self, org_id: str, name: str) -> None:
        self._actions.pop((org_id, name), None)
        self._resolved.clear()

    def resolve(self, ref: ActionReference, org_id: str) -> ResolvedAction | None:
        """The action `ref` names for a trigger of `org_id`; None if unknown or digest differs."""
        key = (ref.owner or org_id, ref.name)
        resolved = self._resolved.get(key)
        if resolved is None:
            action = self._actions.get(key)
            if action is None:
                return None
            try:
                resolved = self._resolved[key] = self._resolve_action(action, ())
            except ConfigError:
                return None  # its parent went away: unresolvable now
        return None if ref.digest is not None and ref.digest != resolved.digest else resolved

    def why_unresolved(self, ref: ActionReference, org_id: str) -> str:
        action = self._actions.get((ref.owner or org_id, ref.name))
        if action is None:
            return f"action {ref} is not a known action"
        digest = action_digest(action)
        if ref.digest is not None and ref.digest != digest:
            return f"action {ref} pins digest {ref.digest}, but the action's digest is {digest}"
        return f"action {ref} inherits from an action that is not known"

    def _resolve_action(self, action: Action, seen: tuple[str, ...]) -> ResolvedAction:
        if action.key in seen:
            cycle = " -> ".join((*seen, action.key))
            raise ConfigError(f"action {action.key!r}", None, f"inherits in a cycle: {cycle}")
        compute = merge_compute(action.compute_requirements)
        if action.inherits is None:
            return ResolvedAction(
                action.name,
                action.org_id,
                action_digest(action),
                tuple(action.parameters),
                compute,
                action.container_parameters,
                action.timeout,
                action.image_uri,
                action.docker_config,
            )
        ref = action.inherits
        parent = self._actions.get((ref.owner or action.org_id, ref.name))
        if parent is None or (ref.digest is not None and ref.digest != action_digest(parent)):
            raise ConfigError(f"action {action.key!r}", None, f"inherits unknown action {ref}")
        base = self._resolve_action(parent, (*seen, action.key))
        return ResolvedAction(
            action.name,
            action.org_id,
            action_digest(action),
            base.parameters,
            compute if action.compute_requirements is not None else base.compute_requirements,
            base.container_parameters,
            action.timeout or base.timeout,
            base.image_uri,
            base.docker_config,
        )


def check_trigger_against_action(trigger: Trigger, action: ResolvedAction) -> None:
    """Parameters exist and required ones have values; merged compute is valid."""
    thing = f"trigger {trigger.name!r}"
    known = {p.name for p in action.parameters}
    unknown = sorted(set(trigger.parameter_values) - known)
    if unknown:
        raise ConfigError(
            thing,
            None,
            f"parameter_values {', '.join(unknown)} not defined by action {action.name!r} "
            f"(its parameters: {', '.join(sorted(known)) or 'none'})",
        )
    missing = [
        p.name
        for p in action.parameters
        if p.required and p.default is None and p.name not in trigger.parameter_values
    ]
    if missing:
        raise ConfigError(
            thing,
            None,
            f"action {action.name!r} requires parameter {', '.join(missing)} with no default; "
            "set it in parameter_values",
        )
    if trigger.compute_requirement_overrides is None:
        return  # the action's own requirements were checked when it was resolved
    try:
        merge_compute(action.compute_requirements, trigger.compute_requirement_overrides)
    except ValidationError as exc:
        reason = f"compute requirements after overrides: {describe(exc)}"
        raise ConfigError(thing, None, reason) from None
