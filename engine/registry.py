"""The trigger registry: trigger definitions + actions -> compiled triggers, kept indexed.

Compile once, match many: globs and conditions are compiled when a trigger is put, never per event.
Triggers and actions can change while the engine runs (the Kafka registry topic); every change
updates the index incrementally.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice

from conditions import ConditionError
from engine.actions import ActionCatalog, check_trigger_against_action
from engine.collector import long_lived
from engine.compiled import DEFAULT_TIMEOUT_MINUTES, CompiledTrigger, compile_trigger, condition_of
from engine.errors import ConfigError
from engine.globs import GlobError, shared_globset
from engine.index import TriggerIndex
from engine.invocations import InvocationTemplate
from engine.models import Action, Trigger

# Triggers compiled kind by kind in a bulk load (see `_compile_by_kind`): far fewer distinct
# conditions and patterns than the shared caches hold.
LOAD_BATCH = 1 << 15


class TriggerRegistry:
    """All loaded triggers by key (`org_id/name`), their actions, and the index over them."""

    def __init__(self, actions: ActionCatalog, *, default_timeout: int = DEFAULT_TIMEOUT_MINUTES):
        self.actions = actions
        self.default_timeout = default_timeout
        self.index = TriggerIndex()
        self._triggers: dict[str, CompiledTrigger] = {}

    def __len__(self) -> int:
        return len(self._triggers)

    def __iter__(self) -> Iterator[CompiledTrigger]:
        return iter(self._triggers.values())

    def get(self, org_id: str, name: str) -> CompiledTrigger | None:
        return self._triggers.get(f"{org_id}/{name}")

    def put(self, trigger: Trigger, *, place: str = "registry") -> CompiledTrigger:
        """Add or replace a trigger; invalid definitions raise and leave the registry unchanged."""
        compiled = compile_trigger(
            trigger, self.actions, place=place, default_timeout=self.default_timeout
        )
        self.delete(trigger.org_id, trigger.name)
        self._triggers[compiled.key] = compiled
        self.index.add(compiled)
        return compiled

    def delete(self, org_id: str, name: str) -> bool:
        old = self._triggers.pop(f"{org_id}/{name}", None)
        if old is not None:
            self.index.remove(old)
        return old is not None

    def put_action(self, action: Action) -> None:
        self.actions.add(action)
        self._refresh_templates()

    def remove_action(self, org_id: str, name: str) -> None:
        self.actions.remove(org_id, name)
        self._refresh_templates()

    def _refresh_templates(self) -> None:
        """Re-resolve every trigger's action; an unresolvable one fails at evaluation time."""
        for compiled in self._triggers.values():
            spec = compiled.spec
            action = self.actions.resolve(spec.action, spec.org_id)
            if action is None:
                compiled.template = None
                compiled.failure = f"action {spec.action} cannot be resolved"
                continue
            try:
                check_trigger_against_action(spec, action)
            except ConfigError as exc:
                compiled.template, compiled.failure = None, exc.reason
                continue
            compiled.template = InvocationTemplate.build(spec, action, self.default_timeout)
            compiled.failure = None


def load_registry(
    triggers: Iterable[tuple[Trigger, str]],
    actions: ActionCatalog,
    *,
    default_timeout: int = DEFAULT_TIMEOUT_MINUTES,
) -> TriggerRegistry:
    """Build a registry from (trigger, place) pairs; the first invalid trigger raises."""
    registry = TriggerRegistry(actions, default_timeout=default_timeout)
    pairs = iter(triggers)
    with long_lived():
        while batch := list(islice(pairs, LOAD_BATCH)):
            _compile_by_kind([trigger for trigger, _place in batch])
            for trigger, place in batch:
                registry.put(trigger, place=place)
    return registry


def _compile_by_kind(batch: Sequence[Trigger]) -> None:
    """Fill the shared caches with a batch's conditions, then with its input patterns, for `put`
    to find. Compiled trigger by trigger, the two compilers (CPython's, for conditions, and
    `re`'s, both large) take turns and evict each other from the CPU caches; kind by kind, the
    load is quicker. An invalid one is left for `put` to raise,
    naming the trigger and the place."""
    for trigger in batch:
        with contextlib.suppress(ConditionError):
            condition_of(trigger)
    for trigger in batch:
        with contextlib.suppress(GlobError):
            shared_globset(trigger.required_inputs, place="required_inputs")
