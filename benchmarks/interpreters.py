"""Condition interpreters for the naive baseline: walk the condition dict on every evaluation.

Written from the condition rules (README, "How it evaluates") and the official JsonLogic suites,
independently of `conditions/`, so that the differential test compares two implementations rather
than one with itself. They cover what the
benchmark workloads use; neither validates (the engine rejected bad conditions at load already).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

Json = dict[str, Any]

_ABSENT = object()
_NUMERIC = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_ZONED = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)"
)


# -- Roboto dialect ----------------------------------------------------------------------------


def roboto_holds(node: Json, dataset: Json, file: Json | None) -> bool:
    """A Roboto condition or group on a dataset record (and a file record, for file triggers)."""
    if "operator" in node:
        results = (roboto_holds(child, dataset, file) for child in node["conditions"])
        if node["operator"] == "AND":
            return all(results)
        if node["operator"] == "OR":
            return any(results)
        return not any(results)
    parts = node["field"].split(".")
    record: Any = dataset
    if parts[0] in ("dataset", "file"):
        record = dataset if parts[0] == "dataset" else file
        parts = parts[1:]
    for key in parts:
        record = record.get(key) if isinstance(record, dict) else None
    return _leaf_holds(node["comparator"], record, node.get("value"))


def _leaf_holds(comparator: str, actual: Any, expected: Any) -> bool:
    if comparator in ("IS_NULL", "NOT_EXISTS"):
        return actual is None
    if comparator in ("IS_NOT_NULL", "EXISTS"):
        return actual is not None
    if actual is None:
        return False  # every other comparator is false on a missing field, negations included
    if comparator == "BEGINS_WITH":
        return isinstance(actual, str) and actual.startswith(expected)
    if comparator in ("LIKE", "NOT_LIKE"):
        if not isinstance(actual, str):
            return False
        matched = re.fullmatch(_like_regex(expected), actual, re.DOTALL) is not None
        return matched == (comparator == "LIKE")
    if comparator in ("CONTAINS", "NOT_CONTAINS"):
        found = _contains(actual, expected)
        return found is not None and found == (comparator == "CONTAINS")
    return _relate(comparator, actual, expected)


def _like_regex(pattern: str) -> str:
    out = []
    escaped = False
    for char in pattern:
        if escaped:
            out.append(re.escape(char))
            escaped = False
        elif char == "\\":
            escaped = True
        else:
            out.append({"%": ".*", "_": "."}.get(char) or re.escape(char))
    return "".join(out)


def _contains(actual: Any, expected: Any) -> bool | None:
    """Membership in a list, substring of a string, key of an object; None: not searchable."""
    if isinstance(actual, list):
        return any(_relate("EQUALS", item, expected) for item in actual)
    if isinstance(actual, str | dict) and isinstance(expected, str):
        return expected in actual
    return None


def _relate(comparator: str, actual: Any, expected: Any) -> bool:
    left, right = _comparable(actual, expected)
    if left is _ABSENT:
        return False
    if comparator == "EQUALS":
        return left == right
    if comparator == "NOT_EQUALS":
        return left != right
    if comparator == "GREATER_THAN":
        return left > right
    if comparator == "GREATER_THAN_OR_EQUAL":
        return left >= right
    if comparator == "LESS_THAN":
        return left < right
    return left <= right  # LESS_THAN_OR_EQUAL


def _comparable(actual: Any, expected: Any) -> tuple[Any, Any]:
    """Both sides in the condition value's type, or `_ABSENT` when the stored value has none."""
    if isinstance(expected, str):
        if not isinstance(actual, str):
            return _ABSENT, None
        moments = _instant(actual), _instant(expected)
        return moments if None not in moments else (actual, expected)
    if isinstance(expected, bool):
        if isinstance(actual, bool):
            return actual, expected
        if isinstance(actual, str) and actual in ("true", "false"):
            return actual == "true", expected
        return _ABSENT, None
    if type(actual) in (int, float):
        return actual, expected
    if isinstance(actual, str) and _NUMERIC.fullmatch(actual):
        return float(actual), expected
    return _ABSENT, None


def _instant(text: str) -> datetime | None:
    if not _ZONED.fullmatch(text):
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


# -- JsonLogic ---------------------------------------------------------------------------------


class JsonLogicFault(Exception):
    """A JsonLogic error (the suites' NaN): the whole condition is then false."""


def jsonlogic_holds(rule: Any, data: Json) -> bool:
    try:
        return _truthy(_apply(rule, data))
    except JsonLogicFault:
        return False


def _apply(rule: Any, data: Any) -> Any:
    if isinstance(rule, list):
        return [_apply(item, data) for item in rule]
    if not isinstance(rule, dict):
        return rule
    ((op, args),) = rule.items()
    if not isinstance(args, list):
        args = [args]
    if op in ("and", "or"):
        value = None
        for arg in args:
            value = _apply(arg, data)
            if _truthy(value) == (op == "or"):
                return value
        return value
    values = [_apply(arg, data) for arg in args]
    if op == "var":
        found = _lookup(data, values[0] if values else None)
        return (values[1] if len(values) > 1 else None) if found is _ABSENT else found
    if op == "missing":
        return [key for key in values if _lookup(data, key) in (_ABSENT, None, "")]
    if op == "!":
        return not _truthy(values[0])
    if op == "!!":
        return _truthy(values[0])
    if op == "in":
        return _in(values[0], values[1])
    if op == "==":
        return _loose_equal(values[0], values[1])
    if op == "!=":
        return not _loose_equal(values[0], values[1])
    return _ordered(op, _order(values[0], values[1]))


def _ordered(op: str, order: int | None) -> bool:
    if order is None:
        return False
    if op == "<":
        return order < 0
    if op == "<=":
        return order <= 0
    if op == ">":
        return order > 0
    return order >= 0  # >=


def _lookup(data: Any, path: Any) -> Any:
    if path is None or path == "":
        return data
    for key in str(path).split("."):
        if not isinstance(data, dict) or key not in data:
            return _ABSENT
        data = data[key]
    return data


def _truthy(value: Any) -> bool:
    return isinstance(value, dict) or bool(value)


def _in(needle: Any, haystack: Any) -> bool:
    if isinstance(haystack, list):
        return any(_strict_equal(item, needle) for item in haystack)
    if isinstance(haystack, str):
        return _js_string(needle) in haystack
    return False


def _strict_equal(left: Any, right: Any) -> bool:
    numbers = (int, float)
    if type(left) in numbers and type(right) in numbers:
        return left == right
    if type(left) is not type(right):
        return False
    return left is right if isinstance(left, list | dict) else left == right


def _js_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "null" if value is None else str(value)


def _loose_equal(left: Any, right: Any) -> bool:
    if type(left) is type(right) and not isinstance(left, list | dict):
        return left == right
    if _textual(left) and _textual(right):
        return False
    return _number(left) == _number(right)


def _order(left: Any, right: Any) -> int | None:
    if isinstance(left, str) and isinstance(right, str):
        return (left > right) - (left < right)
    if _textual(left) and _textual(right):  # null against a string: both as numbers, NaN unordered
        try:
            a, b = _number(left), _number(right)
        except JsonLogicFault:
            return None
    else:
        a, b = _number(left), _number(right)
    return (a > b) - (a < b)


def _textual(value: Any) -> bool:
    return value is None or isinstance(value, str)


def _number(value: Any) -> float:
    """JavaScript ToNumber as the suites use it; NaN (and any array or object) is a fault."""
    if value is None:
        return 0.0
    if isinstance(value, bool | int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return 0.0
        if _NUMERIC.fullmatch(text):
            return float(text)
    raise JsonLogicFault(f"{value!r} is not a number")
