"""Compiled triggers: a trigger definition and its action, validated and compiled once into what
every decision reads (glob set, condition callable, invocation template), never per event.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import orjson

from conditions import CompiledCondition, ConditionError, compile_condition
from engine.actions import ActionCatalog, check_trigger_against_action
from engine.errors import ConfigError
from engine.globs import GlobSet, shared_globset
from engine.invocations import InvocationTemplate
from engine.models import Trigger
from engine.vocabulary import CAUSE_BITS, Cause, ForEach

DEFAULT_TIMEOUT_MINUTES = 30


@dataclass(slots=True, eq=False)
class CompiledTrigger:
    spec: Trigger
    globs: GlobSet
    condition: CompiledCondition
    causes: frozenset[Cause]
    # None when the action cannot be resolved right now; `failure` then says why.
    template: InvocationTemplate | None
    failure: str | None
    # What every decision reads, copied out of `spec` once: plain attributes, no model lookups.
    key: str = field(init=False)
    name: str = field(init=False)
    trigger_id: str = field(init=False)
    enabled: bool = field(init=False)
    per_file: bool = field(init=False)  # for_each dataset_file
    cause_bits: int = field(init=False)  # its causes' `CAUSE_BITS`
    # Its condition reads the dataset record alone: the verdict is remembered per record, by
    # `condition.token`.
    dataset_condition: bool = field(init=False)
    condition_token: object = field(init=False)

    def __post_init__(self) -> None:
        spec = self.spec
        self.key, self.name, self.trigger_id = spec.key, spec.name, spec.trigger_id
        self.enabled = spec.enabled
        self.per_file = spec.for_each == ForEach.DATASET_FILE
        self.cause_bits = sum(CAUSE_BITS[cause] for cause in self.causes)
        self.dataset_condition = self.condition.dataset_only
        self.condition_token = self.condition.token


# Large enough for the distinct conditions of a large registry: a smaller cache thrashes in a bulk
# load.
@functools.lru_cache(maxsize=1 << 17)
def _shared_condition(canonical: bytes, allow_file_fields: bool) -> CompiledCondition:
    """Identical conditions across triggers compile once and share one callable."""
    condition, required_tag, required_metadata = orjson.loads(canonical)
    return compile_condition(
        condition,
        required_tag=required_tag,
        required_metadata=required_metadata,
        allow_file_fields=allow_file_fields,
    )


def condition_of(trigger: Trigger) -> CompiledCondition:
    """The trigger's condition (with its tag and metadata shorthands), shared; raises
    `ConditionError`."""
    spec = (trigger.condition, trigger.required_tag, trigger.required_metadata)
    canonical = orjson.dumps(spec, option=orjson.OPT_SORT_KEYS)
    return _shared_condition(canonical, trigger.for_each == ForEach.DATASET_FILE)


def compile_trigger(
    trigger: Trigger, actions: ActionCatalog, *, place: str, default_timeout: int
) -> CompiledTrigger:
    """Validate and compile; raise `ConfigError` naming the trigger, the place and the reason."""
    thing = f"trigger {trigger.name!r} of org {trigger.org_id!r}"
    globs = shared_globset(trigger.required_inputs, place=f"{place}: {thing} required_inputs")
    try:
        condition = condition_of(trigger)
    except ConditionError as exc:
        raise ConfigError(f"{thing} condition", place, str(exc)) from None
    action = actions.resolve(trigger.action, trigger.org_id)
    if action is None:
        raise ConfigError(thing, place, actions.why_unresolved(trigger.action, trigger.org_id))
    try:
        check_trigger_against_action(trigger, action)
    except ConfigError as exc:
        raise ConfigError(thing, place, exc.reason) from None
    template = InvocationTemplate.build(trigger, action, default_timeout)
    return CompiledTrigger(trigger, globs, condition, frozenset(trigger.causes), template, None)
