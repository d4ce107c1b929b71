"""What `CompiledCondition.explain` returns: the result and how each part of the condition fared."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final, Literal

StepKind = Literal["group", "leaf", "rule"]

_MAX_SHOWN = 120


class _Missing:
    """The value of a field that is absent (as opposed to present and null)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()


@dataclass(frozen=True, slots=True)
class TraceStep:
    """One part of a condition: a Roboto group or leaf, or a JsonLogic operator node."""

    kind: StepKind
    location: str  # where in the condition, e.g. `condition.conditions[1]`
    depth: int  # nesting level, for indentation
    subject: str  # leaf: the field path; group: AND/OR/NOT; rule: the sub-rule as compact JSON
    comparator: str | None  # leaf: the comparator; rule: the JsonLogic operator; group: None
    expected: Any  # leaf: the condition's value (None when the comparator takes none)
    actual: Any  # leaf: the value found (MISSING when absent); rule: the value it evaluated to
    result: bool  # leaf/group: its outcome; rule: JsonLogic truthiness of its value
    error: str | None = None  # rule: the JsonLogic error it raised instead of a value

    def render(self) -> str:
        indent = "  " * self.depth
        outcome = "true" if self.result else "false"
        if self.kind == "group":
            return f"{indent}{self.subject} -> {outcome}"
        if self.kind == "rule":
            if self.error is not None:
                return f"{indent}{self.subject} -> error {self.error}"
            if self.actual.__class__ is bool:
                return f"{indent}{self.subject} -> {outcome}"
            truthiness = "truthy" if self.result else "falsy"
            return f"{indent}{self.subject} -> {show(self.actual)} ({truthiness})"
        expected = "" if self.expected is None else f" {show(self.expected)}"
        return (
            f"{indent}{self.subject} {self.comparator}{expected} -> {outcome} "
            f"(actual: {show(self.actual)})"
        )


@dataclass(frozen=True, slots=True)
class ConditionTrace:
    """The outcome of a condition on one dataset/file and the steps that led to it."""

    dialect: str
    result: bool
    steps: tuple[TraceStep, ...]
    error: str | None = None  # JsonLogic: the error that made the whole rule false

    def render(self) -> list[str]:
        if self.dialect == "none":
            return ["no condition: always true"]
        outcome = "true" if self.result else "false"
        head = f"{self.dialect} condition is {outcome}"
        if self.error is not None:
            head += f" (evaluation failed: {self.error})"
        return [head, *(f"  {step.render()}" for step in self.steps)]


def show(value: Any) -> str:
    """A value as compact JSON, shortened so one line stays readable."""
    if value is MISSING:
        return "missing"
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=repr)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."
