"""The Roboto vocabulary: comparators and group operators, and what each comparator does.

`COMPARATOR_RULES` is the one table of comparators: what value each takes, its verdict on a
missing or null field, the test of a stored value, and where generated code can do that test
inline. Validation, evaluation, code generation and messages all read it.

A stored string is parsed as the number (or the "true"/"false" boolean) the condition compares
it with, and a string that does not parse makes the leaf false instead of raising; two zoned
ISO-8601 timestamps compare as instants. Values never coerce the other way (a stored 3 does not
equal "3"), and everything is case-sensitive.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum, StrEnum
from typing import Any

from conditions.codegen import FunctionBuilder
from conditions.errors import ConditionError


class Comparator(StrEnum):
    """A Roboto leaf's comparator, in Roboto's order."""

    EQUALS = "EQUALS"
    NOT_EQUALS = "NOT_EQUALS"
    GREATER_THAN = "GREATER_THAN"
    GREATER_THAN_OR_EQUAL = "GREATER_THAN_OR_EQUAL"
    LESS_THAN = "LESS_THAN"
    LESS_THAN_OR_EQUAL = "LESS_THAN_OR_EQUAL"
    CONTAINS = "CONTAINS"
    NOT_CONTAINS = "NOT_CONTAINS"
    IS_NULL = "IS_NULL"
    IS_NOT_NULL = "IS_NOT_NULL"
    EXISTS = "EXISTS"
    NOT_EXISTS = "NOT_EXISTS"
    BEGINS_WITH = "BEGINS_WITH"
    LIKE = "LIKE"
    NOT_LIKE = "NOT_LIKE"


class GroupOperator(StrEnum):
    """A Roboto group's operator: all, any or none of its conditions hold."""

    AND = "AND"
    OR = "OR"
    NOT = "NOT"


class ValueKind(Enum):
    """The value a comparator's leaf carries."""

    NONE = "no value"
    STRING = "a string"
    SCALAR = "a string, number or boolean"
    ORDERED = "a string or number"  # numbers, strings or timestamps are ordered, booleans not


Test = Callable[[Any], bool]  # the leaf's verdict on the value found (None when missing or null)
# The leaf's test, from its value and where that value is in the condition (for errors).
TestFactory = Callable[[Any, str], Test]
# Python source for the leaf's verdict, from the source of the value found, the leaf's value and
# the builder of the generated function; None where the generated code calls the test instead.
InlineSource = Callable[[str, Any, FunctionBuilder], str | None]


@dataclass(frozen=True, slots=True)
class ComparatorRule:
    takes: ValueKind
    matches_missing: bool  # its verdict on a missing or null field
    test: TestFactory
    inline: InlineSource | None = None


_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_INTEGER = re.compile(r"[+-]?\d+")
_ZONED_TIMESTAMP = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)"
)
_BOOLEAN_STRINGS = {"true": True, "false": False}
_UNCOMPARABLE = object()  # a stored value of the wrong type, or a string that does not parse
_CONTAINERS = (list, str, dict)  # what CONTAINS searches, for an exact text value


# -- tests ------------------------------------------------------------------------------------


def _is_null(actual: Any) -> bool:
    return actual is None


def _is_not_null(actual: Any) -> bool:
    return actual is not None


def _null_test(value: Any, path: str) -> Test:
    return _is_null


def _not_null_test(value: Any, path: str) -> Test:
    return _is_not_null


def _relation_test(relation: Callable[[Any, Any], bool]) -> TestFactory:
    def test(value: Any, path: str) -> Test:
        return _relation(relation, value)

    return test


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


def _membership_test(wanted: bool) -> TestFactory:
    """CONTAINS (`wanted` True) or NOT_CONTAINS: false either way where nothing can be searched."""

    def test(value: Any, path: str) -> Test:
        search = _membership(value)
        return lambda actual: search(actual) is wanted

    return test


def _membership(value: Any) -> Callable[[Any], bool | None]:
    """Is `value` an element of a list, a substring of a string, a key of an object?

    Returns None when the stored value is not something `value` can be searched for in.
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


def _begins_with_test(value: Any, path: str) -> Test:
    return lambda actual: actual.__class__ is str and actual.startswith(value)


def _like_test(wanted: bool) -> TestFactory:
    """LIKE (`wanted` True) or NOT_LIKE: false either way for anything but a string."""

    def test(value: Any, path: str) -> Test:
        match = like_pattern(value, path).fullmatch
        if wanted:
            return lambda actual: actual.__class__ is str and match(actual) is not None
        return lambda actual: actual.__class__ is str and match(actual) is None

    return test


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


# -- inline sources ---------------------------------------------------------------------------


def _inline_null_test(relation: str) -> InlineSource:
    def source(actual: str, value: Any, builder: FunctionBuilder) -> str:
        return f"({actual} {relation} None)"

    return source


def _is_exact_text(value: Any) -> bool:
    """A string value that is not a timestamp: it matches a stored string by `==` alone."""
    return value.__class__ is str and parse_instant(value) is None


def _inline_equality(relation: str) -> InlineSource:
    def source(actual: str, value: Any, builder: FunctionBuilder) -> str | None:
        if not _is_exact_text(value):
            return None
        found, text = builder.temporary(), builder.constant(value)
        return f"(({found} := {actual}).__class__ is str and {found} {relation} {text})"

    return source


def _inline_membership(relation: str) -> InlineSource:
    def source(actual: str, value: Any, builder: FunctionBuilder) -> str | None:
        if not _is_exact_text(value):
            return None
        found, text = builder.temporary(), builder.constant(value)
        containers = builder.constant(_CONTAINERS)
        return f"(({found} := {actual}).__class__ in {containers} and {text} {relation} {found})"

    return source


# -- the table --------------------------------------------------------------------------------

# Each row: the value taken, the verdict on a missing or null field, the test, the inline source.
COMPARATOR_RULES: dict[Comparator, ComparatorRule] = {
    Comparator.EQUALS: ComparatorRule(
        ValueKind.SCALAR, False, _relation_test(operator.eq), _inline_equality("==")
    ),
    Comparator.NOT_EQUALS: ComparatorRule(
        ValueKind.SCALAR, False, _relation_test(operator.ne), _inline_equality("!=")
    ),
    Comparator.GREATER_THAN: ComparatorRule(ValueKind.ORDERED, False, _relation_test(operator.gt)),
    Comparator.GREATER_THAN_OR_EQUAL: ComparatorRule(
        ValueKind.ORDERED, False, _relation_test(operator.ge)
    ),
    Comparator.LESS_THAN: ComparatorRule(ValueKind.ORDERED, False, _relation_test(operator.lt)),
    Comparator.LESS_THAN_OR_EQUAL: ComparatorRule(
        ValueKind.ORDERED, False, _relation_test(operator.le)
    ),
    Comparator.CONTAINS: ComparatorRule(
        ValueKind.SCALAR, False, _membership_test(True), _inline_membership("in")
    ),
    Comparator.NOT_CONTAINS: ComparatorRule(
        ValueKind.SCALAR, False, _membership_test(False), _inline_membership("not in")
    ),
    Comparator.IS_NULL: ComparatorRule(ValueKind.NONE, True, _null_test, _inline_null_test("is")),
    Comparator.IS_NOT_NULL: ComparatorRule(
        ValueKind.NONE, False, _not_null_test, _inline_null_test("is not")
    ),
    Comparator.EXISTS: ComparatorRule(
        ValueKind.NONE, False, _not_null_test, _inline_null_test("is not")
    ),
    Comparator.NOT_EXISTS: ComparatorRule(
        ValueKind.NONE, True, _null_test, _inline_null_test("is")
    ),
    Comparator.BEGINS_WITH: ComparatorRule(ValueKind.STRING, False, _begins_with_test),
    Comparator.LIKE: ComparatorRule(ValueKind.STRING, False, _like_test(True)),
    Comparator.NOT_LIKE: ComparatorRule(ValueKind.STRING, False, _like_test(False)),
}
# The comparators a missing or null field satisfies: the ones to test for null with.
NULL_COMPARATORS = tuple(c for c, rule in COMPARATOR_RULES.items() if rule.matches_missing)
