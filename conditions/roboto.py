"""Roboto conditions: `{field, comparator, value}` leaves and `{operator, conditions}` groups.

Semantics are Roboto's evaluator (`roboto.query.Condition.matches`) minus its crashes: a missing
field or null satisfies only IS_NULL/NOT_EXISTS; a stored string is parsed as the number (or the
"true"/"false" boolean) the condition compares it with, and a string that does not parse makes
the leaf false instead of raising; two zoned ISO-8601 timestamps compare as instants. Values
never coerce the other way (a stored 3 does not equal "3"), and everything is case-sensitive.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from conditions.codegen import FunctionBuilder
from conditions.errors import ConditionError
from conditions.trace import MISSING, ConditionTrace, TraceStep

COMPARATORS = (
    "EQUALS",
    "NOT_EQUALS",
    "GREATER_THAN",
    "GREATER_THAN_OR_EQUAL",
    "LESS_THAN",
    "LESS_THAN_OR_EQUAL",
    "CONTAINS",
    "NOT_CONTAINS",
    "IS_NULL",
    "IS_NOT_NULL",
    "EXISTS",
    "NOT_EXISTS",
    "BEGINS_WITH",
    "LIKE",
    "NOT_LIKE",
)
OPERATORS = ("AND", "OR", "NOT")
LEAF_KEYS = frozenset({"field", "comparator", "value"})
GROUP_KEYS = frozenset({"operator", "conditions"})
RECORDS = ("dataset", "file")

_TAKES_NO_VALUE = frozenset({"IS_NULL", "IS_NOT_NULL", "EXISTS", "NOT_EXISTS"})
_TAKES_STRING = frozenset({"BEGINS_WITH", "LIKE", "NOT_LIKE"})
_RELATIONS: dict[str, Callable[[Any, Any], bool]] = {
    "EQUALS": operator.eq,
    "NOT_EQUALS": operator.ne,
    "GREATER_THAN": operator.gt,
    "GREATER_THAN_OR_EQUAL": operator.ge,
    "LESS_THAN": operator.lt,
    "LESS_THAN_OR_EQUAL": operator.le,
}
_ORDERINGS = frozenset(_RELATIONS) - {"EQUALS", "NOT_EQUALS"}

_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_INTEGER = re.compile(r"[+-]?\d+")
_ZONED_TIMESTAMP = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)"
)
_BOOLEAN_STRINGS = {"true": True, "false": False}
_UNCOMPARABLE = object()  # a stored value of the wrong type, or a string that does not parse

Test = Callable[[Any], bool]  # the leaf's verdict on the value found (None when missing or null)
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
    comparator: str
    value: Any  # None for the comparators that take no value
    test: Test


@dataclass(frozen=True, slots=True)
class Group:
    location: str
    operator: str
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
    if op not in OPERATORS:
        raise ConditionError(
            f"{path}.operator", f"unknown operator {op!r}; expected AND, OR or NOT"
        )
    children = _required(node, "conditions", path)
    if children.__class__ is not list or not children:
        raise ConditionError(f"{path}.conditions", "must be a non-empty list of conditions")
    parsed = tuple(
        _parse(child, f"{path}.conditions[{i}]", allow_file_fields)
        for i, child in enumerate(children)
    )
    return Group(path, op, parsed)


def _parse_leaf(node: dict[str, Any], path: str, allow_file_fields: bool) -> Leaf:
    _reject_unknown_keys(node, LEAF_KEYS, path, "a condition has field, comparator and value")
    field = parse_field(_required(node, "field", path), f"{path}.field", allow_file_fields)
    comparator = _required(node, "comparator", path)
    if comparator not in COMPARATORS:
        raise ConditionError(
            f"{path}.comparator",
            f"unknown comparator {comparator!r}; expected one of {', '.join(COMPARATORS)}",
        )
    value = node.get("value")
    check_value(comparator, value, f"{path}.value")
    kept = None if comparator in _TAKES_NO_VALUE else value
    return Leaf(path, field, comparator, kept, _leaf_test(comparator, kept, f"{path}.value"))


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


def check_value(comparator: str, value: Any, path: str) -> None:
    """The value a comparator needs: none, a string, or a string/number/boolean."""
    if comparator in _TAKES_NO_VALUE:
        if value is not None:
            raise ConditionError(path, f"{comparator} takes no value")
        return
    if value is None:
        raise ConditionError(
            path, f"{comparator} needs a value (to test for null use IS_NULL or NOT_EXISTS)"
        )
    if value.__class__ not in (str, int, float, bool):
        raise ConditionError(path, f"must be a string, number or boolean, got {_type_name(value)}")
    if comparator in _TAKES_STRING and value.__class__ is not str:
        raise ConditionError(path, f"{comparator} needs a string, got {_type_name(value)}")
    if comparator in _ORDERINGS and value.__class__ is bool:
        raise ConditionError(
            path, f"{comparator} orders numbers, strings or timestamps, not booleans"
        )


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if value.__class__ in (int, float):
        return "a number"
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    return names.get(value.__class__, value.__class__.__name__)


# -- leaf semantics --------------------------------------------------------------------------


def _leaf_test(comparator: str, value: Any, path: str) -> Test:
    if comparator in ("IS_NULL", "NOT_EXISTS"):
        return _is_null
    if comparator in ("IS_NOT_NULL", "EXISTS"):
        return _is_not_null
    if comparator == "BEGINS_WITH":
        return lambda actual: actual.__class__ is str and actual.startswith(value)
    if comparator in ("LIKE", "NOT_LIKE"):
        match = like_pattern(value, path).fullmatch
        if comparator == "LIKE":
            return lambda actual: actual.__class__ is str and match(actual) is not None
        return lambda actual: actual.__class__ is str and match(actual) is None
    if comparator in ("CONTAINS", "NOT_CONTAINS"):
        search = _membership(value)
        wanted = comparator == "CONTAINS"
        return lambda actual: search(actual) is wanted
    return _relation(_RELATIONS[comparator], value)


def _is_null(actual: Any) -> bool:
    return actual is None


def _is_not_null(actual: Any) -> bool:
    return actual is not None


def _relation(relation: Callable[[Any, Any], bool], value: Any) -> Test:
    instant = parse_instant(value) if value.__class__ is str else None
    if instant is not None:

        def compare_timestamps(actual: Any) -> bool:
            if actual.__class__ is not str:
                return False
            other = parse_instant(actual)
            if other is None:  # not a zoned timestamp: compare the strings
                return relation(actual, value)
            return relation(other, instant)

        return compare_timestamps
    if value.__class__ is str:  # the common case, without the coercion call
        return lambda actual: actual.__class__ is str and relation(actual, value)
    coerce = _coercion(value)

    def compare(actual: Any) -> bool:
        coerced = coerce(actual)
        return coerced is not _UNCOMPARABLE and relation(coerced, value)

    return compare


def _coercion(value: Any) -> Callable[[Any], Any]:
    """How a stored value is brought to the type of a number or boolean condition value."""
    if value.__class__ is bool:
        return _as_boolean
    return _as_number


def _as_boolean(actual: Any) -> Any:
    if actual.__class__ is bool:
        return actual
    if actual.__class__ is str:
        return _BOOLEAN_STRINGS.get(actual, _UNCOMPARABLE)
    return _UNCOMPARABLE


def _as_number(actual: Any) -> Any:
    kind = actual.__class__
    if kind is int or kind is float:
        return actual
    if kind is str and _NUMBER.fullmatch(actual):
        return int(actual) if _INTEGER.fullmatch(actual) else float(actual)
    return _UNCOMPARABLE


def _membership(value: Any) -> Callable[[Any], bool | None]:
    """CONTAINS: is `value` an element of a list, a substring of a string, a key of an object?

    Returns None when the stored value is not something `value` can be searched for in, so that
    both CONTAINS and NOT_CONTAINS are false for it.
    """
    is_text = value.__class__ is str
    exact = is_text and parse_instant(value) is None
    equals = _relation(operator.eq, value)

    def search(actual: Any) -> bool | None:
        kind = actual.__class__
        if kind is list:
            if exact:  # a str only ever == a str, so `in` is exact membership here
                return value in actual
            return any(equals(item) for item in actual)
        if (kind is str or kind is dict) and is_text:
            return value in actual
        return None

    return search


def parse_instant(text: str) -> datetime | None:
    """A zoned ISO-8601 timestamp (extended format) as an aware datetime, else None."""
    if not _ZONED_TIMESTAMP.fullmatch(text):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:  # shaped like a timestamp but not a real one (month 13, hour 25, ...)
        return None
    return moment if moment.tzinfo is not None else None


def like_pattern(pattern: str, path: str) -> re.Pattern[str]:
    """SQL LIKE as a regex: `%` any run, `_` one character, `\\` escapes the next character."""
    parts: list[str] = []
    chars = iter(pattern)
    for char in chars:
        if char == "\\":
            escaped = next(chars, None)
            if escaped is None:
                raise ConditionError(path, f"LIKE pattern {pattern!r} ends with a lone '\\'")
            parts.append(re.escape(escaped))
        elif char == "%":
            parts.append(".*")
        elif char == "_":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    return re.compile("".join(parts), re.DOTALL)


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
_CONTAINERS = (list, str, dict)  # what CONTAINS searches, for an exact text value


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
    if len(node.children) == 1 and node.operator != "NOT":
        return _expression(node.children[0], builder, depth)
    if depth:
        return f"{builder.constant(_predicate(node))}(dataset, file, None)"
    children = [_expression(child, builder, depth + 1) for child in node.children]
    joined = " and ".join(children) if node.operator == "AND" else " or ".join(children)
    return f"(not ({joined}))" if node.operator == "NOT" else f"({joined})"


def _leaf_expression(leaf: Leaf, builder: FunctionBuilder) -> str:
    value = leaf.field.record  # the record's parameter name: dataset or file
    for key in leaf.field.keys:
        if value in RECORDS:
            value = f"({value}.get({builder.constant(key)}) if isinstance({value}, dict) else None)"
        else:
            step = builder.temporary()
            key_name = builder.constant(key)
            value = f"({step}.get({key_name}) if isinstance({step} := {value}, dict) else None)"
    comparator, wanted = leaf.comparator, leaf.value
    if comparator in ("IS_NULL", "NOT_EXISTS"):
        return f"({value} is None)"
    if comparator in ("IS_NOT_NULL", "EXISTS"):
        return f"({value} is not None)"
    exact_text = wanted.__class__ is str and parse_instant(wanted) is None
    if exact_text and comparator in ("EQUALS", "NOT_EQUALS", "CONTAINS", "NOT_CONTAINS"):
        actual, text = builder.temporary(), builder.constant(wanted)
        if comparator in ("EQUALS", "NOT_EQUALS"):
            relation = "==" if comparator == "EQUALS" else "!="
            return f"(({actual} := {value}).__class__ is str and {actual} {relation} {text})"
        containers = builder.constant(_CONTAINERS)
        membership = "in" if comparator == "CONTAINS" else "not in"
        return f"(({actual} := {value}).__class__ in {containers} and {text} {membership} {actual})"
    return f"{builder.constant(leaf.test)}({value})"


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
    if node.operator == "AND":
        result = all(outcomes)
    elif node.operator == "OR":
        result = any(outcomes)
    else:
        result = not any(outcomes)
    steps[slot] = TraceStep("group", node.location, depth, node.operator, None, None, None, result)
    return result


def _references_file(node: Node) -> bool:
    if isinstance(node, Leaf):
        return node.field.record == "file"
    return any(_references_file(child) for child in node.children)
