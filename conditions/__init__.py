"""Trigger conditions: parse, validate and compile them once into fast callables. Pure: no I/O.

Two dialects: Roboto conditions (`{field, comparator, value}` leaves and
`{operator, conditions}` groups, plus the `required_tag` / `required_metadata` shorthands) and
JsonLogic rules evaluated over `{"dataset": ..., "file": ..., "event": ...}`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from conditions.comparators import Comparator, GroupOperator
from conditions.errors import ConditionError, JsonLogicError
from conditions.jsonlogic import compile_rule, is_operator, trace_rule
from conditions.jsvalues import truthy
from conditions.roboto import compile_roboto, is_roboto
from conditions.sugar import expand_sugar
from conditions.trace import MISSING, ConditionTrace, TraceStep

__all__ = [
    "MISSING",
    "Comparator",
    "CompiledCondition",
    "ConditionError",
    "ConditionTrace",
    "GroupOperator",
    "TraceStep",
    "compile_condition",
]

Record = dict[str, Any]
Evaluate = Callable[[Record, Record | None, Record | None], bool]
Explain = Callable[[Record, Record | None, Record | None], ConditionTrace]

JSONLOGIC_ROOTS = frozenset({"dataset", "file", "event"})


@dataclass(frozen=True, slots=True, eq=False)
class CompiledCondition:
    """A validated condition, ready to evaluate. Compares and hashes by identity."""

    dialect: str  # "none" | "roboto" | "jsonlogic"
    references_file: bool  # may read file.* (its result can differ between files of a dataset)
    references_event: bool  # may read event.* (its result can differ between events)
    evaluate: Evaluate = field(repr=False)
    _explain: Explain = field(repr=False)
    # Reads the dataset record alone: while the record is unchanged, its result is too, so
    # callers may reuse it for every file and event of the dataset.
    dataset_only: bool = field(init=False, repr=False)
    # Stands for this object in memo tables, so that a lookup reads the token and not the
    # condition (with many triggers every read may be a cache miss).
    token: object = field(init=False, repr=False, default_factory=object)

    def __post_init__(self) -> None:
        dataset_only = not (self.references_file or self.references_event)
        object.__setattr__(self, "dataset_only", dataset_only)

    def __call__(self, dataset: Record, file: Record | None, event: Record | None) -> bool:
        return self.evaluate(dataset, file, event)

    def explain(self, dataset: Record, file: Record | None, event: Record | None) -> ConditionTrace:
        return self._explain(dataset, file, event)


def compile_condition(
    condition: dict[str, Any] | None = None,
    *,
    required_tag: list[str] | None = None,
    required_metadata: dict[str, Any] | None = None,
    allow_file_fields: bool = True,
) -> CompiledCondition:
    """Validate and compile a trigger's condition; raise `ConditionError` saying where and why.

    `allow_file_fields=False` (for_each dataset triggers) rejects any reference to `file`.
    """
    sugar = expand_sugar(required_tag, required_metadata)
    if sugar is not None:
        if condition is not None:
            raise ConditionError(
                "condition", "cannot be combined with required_tag or required_metadata"
            )
        return _compile_roboto(sugar, allow_file_fields)
    if condition is None:
        return _ALWAYS
    if condition.__class__ is not dict or not condition:
        raise ConditionError(
            "condition", "must be a Roboto condition or condition group, or a JsonLogic rule object"
        )
    if is_roboto(condition):
        return _compile_roboto(condition, allow_file_fields)
    if len(condition) == 1 and is_operator(next(iter(condition))):
        return _compile_jsonlogic(condition, allow_file_fields)
    keys = ", ".join(repr(key) for key in condition)
    raise ConditionError(
        "condition",
        f"neither a Roboto condition (field/comparator/value or operator/conditions) nor a "
        f"JsonLogic rule (one key naming an operator); got keys {keys}",
    )


def _always_true(dataset: Record, file: Record | None, event: Record | None) -> bool:
    return True


def _no_condition(dataset: Record, file: Record | None, event: Record | None) -> ConditionTrace:
    return ConditionTrace("none", True, ())


_ALWAYS = CompiledCondition("none", False, False, _always_true, _no_condition)


def _compile_roboto(condition: dict[str, Any], allow_file_fields: bool) -> CompiledCondition:
    compiled = compile_roboto(condition, path="condition", allow_file_fields=allow_file_fields)

    def explain(dataset: Record, file: Record | None, event: Record | None) -> ConditionTrace:
        return compiled.explain(dataset, file)

    return CompiledCondition(
        "roboto",
        compiled.references_file,
        False,  # Roboto fields name the dataset or the file, never the event
        compiled.predicate,
        explain,
    )


def _compile_jsonlogic(rule: dict[str, Any], allow_file_fields: bool) -> CompiledCondition:
    compiled = compile_rule(
        rule, path="condition", roots=JSONLOGIC_ROOTS, allow_file_fields=allow_file_fields
    )
    run = compiled.evaluate
    # A runtime error (NaN, Invalid Arguments, throw) makes the condition false, never the engine
    # fail; try costs nothing in Python 3.11 until something raises.
    if compiled.reads_data:

        def evaluate(dataset: Record, file: Record | None, event: Record | None) -> bool:
            try:
                return truthy(run({"dataset": dataset, "file": file, "event": event}))
            except JsonLogicError:
                return False

    else:

        def evaluate(dataset: Record, file: Record | None, event: Record | None) -> bool:
            try:
                return truthy(run(None))
            except JsonLogicError:
                return False

    def explain(dataset: Record, file: Record | None, event: Record | None) -> ConditionTrace:
        data = {"dataset": dataset, "file": file, "event": event}
        value, error, steps = trace_rule(rule, data, path="condition")
        result = error is None and truthy(value)
        return ConditionTrace("jsonlogic", result, tuple(steps), error)

    return CompiledCondition(
        "jsonlogic",
        compiled.references_file,
        compiled.references_event,
        evaluate,
        explain,
    )
