"""JavaScript value semantics beyond what the official suites pin down."""

from __future__ import annotations

import math
from typing import Any

import pytest

from conditions.errors import JsonLogicError
from conditions.jsonlogic import compile_rule
from conditions.jsvalues import loose_compare, loose_equals, strict_equals, to_number, to_string


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (2.0, "2"),
        (-0.0, "0"),
        (0.5, "0.5"),
        (1e21, "1e+21"),
        (1.5e300, "1.5e+300"),
        (123456789012345680000.0, "123456789012345680000"),
        (0.000001, "0.000001"),
        (1.5e-6, "0.0000015"),
        (1e-7, "1e-7"),
        (math.inf, "Infinity"),
        (-math.inf, "-Infinity"),
        (math.nan, "NaN"),
        (True, "true"),
        (None, "null"),
        ([1, None, [2, "a"]], "1,,2,a"),
        ({"a": 1}, "[object Object]"),
    ],
)
def test_to_string(value: Any, text: str) -> None:
    assert to_string(value) == text


@pytest.mark.parametrize(
    ("value", "number"),
    [
        (" 12 ", 12),
        ("", 0),
        ("-1.5", -1.5),
        ("1e3", 1000),
        (".5", 0.5),
        ("5.", 5),
        ("0x1F", 31),
        ("0b101", 5),
        ("0o17", 15),
        ("-Infinity", -math.inf),
        (None, 0),
        (True, 1),
        (False, 0),
    ],
)
def test_to_number(value: Any, number: float) -> None:
    assert to_number(value) == number


@pytest.mark.parametrize("value", ["abc", "1_000", "inf", "nan", "0x", "0b12", "1e", [], [1], {}])
def test_to_number_nan(value: Any) -> None:
    result = to_number(value)
    assert result != result


def test_loose_and_strict_equality() -> None:
    assert loose_equals(None, None) and not loose_equals(None, "")
    assert loose_equals(None, 0) and loose_equals("", 0) and loose_equals(True, "1")
    assert not strict_equals(1, True) and strict_equals(1, 1.0)
    items = [1]
    assert strict_equals(items, items) and not strict_equals([1], [1])
    with pytest.raises(JsonLogicError):
        loose_equals("true", True)  # "true" is not a number


def test_loose_compare_null_against_strings_is_unordered_not_an_error() -> None:
    assert loose_compare(None, "1") == -1
    assert loose_compare(None, "abc") is None
    assert loose_compare("b", "a") == 1


def evaluate(rule: Any, data: Any = None) -> Any:
    return compile_rule(rule).evaluate(data)


def test_not_takes_a_single_rule_as_one_value() -> None:
    # The list a rule returns is the value negated, not spread into arguments.
    assert evaluate({"!": {"var": "xs"}}, {"xs": [0]}) is False
    assert evaluate({"!": {"var": "xs"}}, {"xs": []}) is True
    assert evaluate({"!!": [{"var": "xs"}]}, {"xs": [0]}) is True


def test_in_is_strict_membership() -> None:
    assert evaluate({"in": [1, [True, "1"]]}) is False
    assert evaluate({"in": [1, [1.0]]}) is True
    assert evaluate({"in": [1, "a1b"]}) is True
    assert evaluate({"in": ["a", None]}) is False


def test_var_paths() -> None:
    data = {"a": [{"b": 1}, {"b": None}], "c": {"01": "x"}}
    assert evaluate({"var": "a.0.b"}, data) == 1
    assert evaluate({"var": ["a.1.b", "default"]}, data) is None  # present and null
    assert evaluate({"var": ["a.2.b", "default"]}, data) == "default"
    assert evaluate({"var": "a.01"}, data) is None  # not an array index
    assert evaluate({"var": "c.01"}, data) == "x"
    assert evaluate({"var": "a.length"}, data) is None  # no JavaScript properties


def test_substr_with_infinite_bounds() -> None:
    assert evaluate({"substr": ["abc", "-Infinity", "Infinity"]}) == "abc"
    assert evaluate({"substr": ["abc", "x"]}) == "abc"  # NaN start is 0


def test_arithmetic_follows_javascript() -> None:
    assert evaluate({"%": [-7, 2]}) == -1  # sign of the dividend
    assert evaluate({"%": [7.5, -2]}) == 1.5
    assert evaluate({"+": [0.1, 0.2, 0.3]}) == 0.6000000000000001  # left to right
    assert evaluate({"-": [1, 0.1, 0.2]}) == (1 - 0.1) - 0.2
    assert evaluate({"max": ["3", 1]}) == 3
    with pytest.raises(JsonLogicError) as caught:
        evaluate({"+": ["Infinity", "-Infinity"]})
    assert caught.value.payload == {"type": "NaN"}
    with pytest.raises(JsonLogicError) as caught:
        evaluate({"max": {"var": "xs"}}, {"xs": []})
    assert caught.value.payload == {"type": "Invalid Arguments"}


def test_reduce_without_start() -> None:
    rule = {"reduce": [{"var": "xs"}, {"+": [{"var": "current"}, {"var": "accumulator"}]}]}
    assert evaluate(rule, {"xs": [1, 2, 3]}) == 6
    with pytest.raises(JsonLogicError):
        evaluate(rule, {"xs": []})


def test_rules_that_read_no_data_are_marked() -> None:
    assert compile_rule({"==": [1, 1]}).reads_data is False
    assert compile_rule({"map": [[1, 2], {"var": ""}]}).reads_data is False
    assert compile_rule({"map": [{"var": "xs"}, 1]}).reads_data is True
    assert compile_rule({"missing": []}).reads_data is False
