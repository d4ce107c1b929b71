"""Roboto conditions: `{field, comparator, value}` leaves and `{operator, conditions}` groups.

Semantics are Roboto's evaluator (`roboto.query.Condition.matches`) minus its crashes: a missing
field or null satisfies only the comparators that test for null, and a value that cannot be
compared makes the leaf false instead of raising. What each comparator does is in
`conditions.comparators`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from conditions.codegen import FunctionBuilder
from conditions.comparators import (
    COMPARATOR_RULES,
    NULL_COMPARATORS,
    Comparator,
    GroupOperator,
    Test,
    ValueKind,
)
from conditions.errors import ConditionError
from conditions.trace import MISSING, ConditionTrace, TraceStep

LEAF_KEYS = frozenset({"field", "comparator", "value"})
GROUP_KEYS = frozenset({"operator", "conditions"})
RECORDS = ("dataset", "file")
_COMPARATOR_NAMES = tuple(Comparator)
_OPERATOR_NAMES = tuple(GroupOperator)

# (dataset, file, event): Roboto fields name the dataset or the file, never the event.
Predicate = Callable[[dict[str, Any], dict[str, Any] | None, Any], bool]


@dataclass(frozen=True, slots=True)
class FieldPath:
    record: str  # "dataset" or "file"
    keys: tuple[str, ...]

    @property
    def text(self) -> str:
        return ".".join((self.record, *self.keys))


@dataclass(frozen=True, slots=True)
class Leaf:
    location: str
    field: FieldPath
    comparator: Comparator
    value: Any  # None for the comparators that take no value
    test: Test


@dataclass(frozen=True, slots=True)
class Group:
    location: str
    operator: GroupOperator
    children: tuple[Leaf | Group, ...]


Node = Leaf | Group


@dataclass(frozen=True, slots=True)
class RobotoCondition:
    root: Node
    predicate: Predicate
    references_file: bool

    def explain(self, dataset: dict[str, Any], file: dict[str, Any] | None) -> ConditionTrace:
        steps: list[TraceStep] = []
        result = _trace(self.root, dataset, file, 0, steps)
        return ConditionTrace("roboto", result, tuple(steps))


def is_roboto(condition: dict[str, Any]) -> bool:
    return any(key in condition for key in LEAF_KEYS | GROUP_KEYS)


def compile_roboto(
    condition: dict[str, Any], *, path: str = "condition", allow_file_fields: bool = True
) -> RobotoCondition:
    root = _parse(condition, path, allow_file_fields)
    return RobotoCondition(
        root=root,
        predicate=_predicate(root),
        references_file=_references_file(root),
    )


# -- parsing and validation -------------------------------------------------------------------


def _parse(node: Any, path: str, allow_file_fields: bool) -> Node:
    if node.__class__ is not dict:
        raise ConditionError(path, f"expected a condition object, got {_type_name(node)}")
    keys = set(node)
    if keys & LEAF_KEYS and keys & GROUP_KEYS:
        raise ConditionError(
            path, "mixes a condition (field, comparator, value) with a group (operator, conditions)"
        )
    if keys & GROUP_KEYS:
        return _parse_group(node, path, allow_file_fields)
    return _parse_leaf(node, path, allow_file_fields)


def _parse_group(node: dict[str, Any], path: str, allow_file_fields: bool) -> Group:
    _reject_unknown_keys(node, GROUP_KEYS, path, "a group has operator and conditions")
    op = _required(node, "operator", path)
    if op not in _OPERATOR_NAMES:
        raise ConditionError(
            f"{path}.operator", f"unknown operator {op!r}; expected {_one_of(_OPERATOR_NAMES)}"
        )
    children = _required(node, "conditions", path)
    if children.__class__ is not list or not children:
        raise ConditionError(f"{path}.conditions", "must be a non-empty list of conditions")
    parsed = tuple(
        _parse(child, f"{path}.conditions[{i}]", allow_file_fields)
        for i, child in enumerate(children)
    )
    return Group(path, GroupOperator(op), parsed)


def _parse_leaf(node: dict[str, Any], path: str, allow_file_fields: bool) -> Leaf:
    _reject_unknown_keys(node, LEAF_KEYS, path, "a condition has field, comparator and value")
    field = parse_field(_required(node, "field", path), f"{path}.field", allow_file_fields)
    name = _required(node, "comparator", path)
    if name not in _COMPARATOR_NAMES:
        raise ConditionError(
            f"{path}.comparator",
            f"unknown comparator {name!r}; expected one of {', '.join(_COMPARATOR_NAMES)}",
        )
    comparator = Comparator(name)
    value = node.get("value")
    check_value(comparator, value, f"{path}.value")
    rule = COMPARATOR_RULES[comparator]
    kept = None if rule.takes is ValueKind.NONE else value
    return Leaf(path, field, comparator, kept, rule.test(kept, f"{path}.value"))


def _required(node: dict[str, Any], key: str, path: str) -> Any:
    if key not in node:
        raise ConditionError(path, f"missing {key!r}")
    return node[key]


def _reject_unknown_keys(node: dict[str, Any], known: frozenset[str], path: str, hint: str) -> None:
    for key in node:
        if key not in known:
            raise ConditionError(f"{path}.{key}", f"unknown key {key!r}: {hint}")


def parse_field(text: Any, path: str, allow_file_fields: bool) -> FieldPath:
    """`tags`, `metadata.a.b`, `dataset.metadata.a`, `file.relative_path`; bare = dataset."""
    if text.__class__ is not str or not text:
        raise ConditionError(path, "a field must be a non-empty dotted path such as metadata.robot")
    parts = text.split(".")
    if "" in parts:
        raise ConditionError(path, f"field {text!r} has an empty segment")
    if parts[0] in RECORDS:
        if len(parts) == 1:
            raise ConditionError(path, f"field {text!r} names a whole record, not a field of it")
        record, keys = parts[0], tuple(parts[1:])
    else:
        record, keys = "dataset", tuple(parts)
    if record == "file" and not allow_file_fields:
        raise ConditionError(
            path,
            f"field {text!r}: file fields are not allowed, a for_each dataset trigger has no file",
        )
    return FieldPath(record, keys)


def check_value(comparator: Comparator, value: Any, path: str) -> None:
    """The value a comparator takes (`ComparatorRule.takes`)."""
    takes = COMPARATOR_RULES[comparator].takes
    if takes is ValueKind.NONE:
        if value is not None:
            raise ConditionError(path, f"{comparator} takes no value")
        return
    if value is None:
        raise ConditionError(
            path, f"{comparator} needs a value (to test for null use {_one_of(NULL_COMPARATORS)})"
        )
    if value.__class__ not in (str, int, float, bool):
        raise ConditionError(path, f"must be a string, number or boolean, got {_type_name(value)}")
    if takes is ValueKind.STRING and value.__class__ is not str:
        raise ConditionError(path, f"{comparator} needs a string, got {_type_name(value)}")
    if takes is ValueKind.ORDERED and value.__class__ is bool:
        raise ConditionError(
            path, f"{comparator} orders numbers, strings or timestamps, not booleans"
        )


def _one_of(names: tuple[str, ...]) -> str:
    """`A, B or C`."""
    return f"{', '.join(names[:-1])} or {names[-1]}"


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if value.__class__ in (int, float):
        return "a number"
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    return names.get(value.__class__, value.__class__.__name__)


# -- compiled forms ---------------------------------------------------------------------------


def _getter(keys: tuple[str, ...], absent: Any) -> Callable[[Any], Any]:
    """Walk objects along `keys`; `absent` when a key is missing or a step is not an object."""

    def get(record: Any) -> Any:
        for key in keys:
            if not isinstance(record, dict):
                return absent
            record = record.get(key, absent)
        return record

    return get


# What generated predicates name besides their parameters.
_NAMESPACE: dict[str, Any] = {"__builtins__": {"isinstance": isinstance, "dict": dict, "str": str}}


def _predicate(node: Node) -> Predicate:
    """The node as one generated function of (dataset, file, event)."""
    builder = FunctionBuilder("dataset, file, event", _NAMESPACE)
    return builder.function(f"    return {_expression(node, builder, 0)}\n")


def _expression(node: Node, builder: FunctionBuilder, depth: int) -> str:
    """Python source for the node's verdict (a bool), reading `dataset` and `file`.

    A group below the top is a function of its own: one function per group keeps the number of
    distinct shapes small (a shape per whole tree would mean a `compile` per condition).
    """
    if isinstance(node, Leaf):
        return _leaf_expression(node, builder)
    if len(node.children) == 1 and node.operator is not GroupOperator.NOT:
        return _expression(node.children[0], builder, depth)
    if depth:
        return f"{builder.constant(_predicate(node))}(dataset, file, None)"
    children = [_expression(child, builder, depth + 1) for child in node.children]
    joiner = " and " if node.operator is GroupOperator.AND else " or "
    joined = joiner.join(children)
    return f"(not ({joined}))" if node.operator is GroupOperator.NOT else f"({joined})"


def _leaf_expression(leaf: Leaf, builder: FunctionBuilder) -> str:
    value = leaf.field.record  # the record's parameter name: dataset or file
    for key in leaf.field.keys:
        if value in RECORDS:
            value = f"({value}.get({builder.constant(key)}) if isinstance({value}, dict) else None)"
        else:
            step = builder.temporary()
            key_name = builder.constant(key)
            value = f"({step}.get({key_name}) if isinstance({step} := {value}, dict) else None)"
    inline = COMPARATOR_RULES[leaf.comparator].inline
    source = None if inline is None else inline(value, leaf.value, builder)
    return f"{builder.constant(leaf.test)}({value})" if source is None else source


def _trace(
    node: Node,
    dataset: dict[str, Any],
    file: dict[str, Any] | None,
    depth: int,
    steps: list[TraceStep],
) -> bool:
    """Evaluate every leaf (no short-circuit), appending steps in pre-order."""
    if isinstance(node, Leaf):
        record = dataset if node.field.record == "dataset" else file
        actual = _getter(node.field.keys, MISSING)(record)
        result = node.test(None if actual is MISSING else actual)
        steps.append(
            TraceStep(
                "leaf",
                node.location,
                depth,
                node.field.text,
                node.comparator,
                node.value,
                actual,
                result,
            )
        )
        return result
    slot = len(steps)
    steps.append(TraceStep("group", node.location, depth, node.operator, None, None, None, False))
    outcomes = [_trace(child, dataset, file, depth + 1, steps) for child in node.children]
    if node.operator is GroupOperator.AND:
        result = all(outcomes)
    elif node.operator is GroupOperator.OR:
        result = any(outcomes)
    else:
        result = not any(outcomes)
    steps[slot] = TraceStep("group", node.location, depth, node.operator, None, None, None, result)
    return result


def _references_file(node: Node) -> bool:
    if isinstance(node, Leaf):
        return node.field.record == "file"
    return any(_references_file(child) for child in node.children)
