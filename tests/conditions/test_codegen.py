"""Generated condition functions: shapes shared, deep nesting split, user text never source."""

from __future__ import annotations

from typing import Any

from conditions import compile_condition
from conditions.codegen import MAX_NESTING
from conditions.jsonlogic import compile_rule


def test_rules_differing_only_in_constants_share_one_code_object() -> None:
    first = compile_rule({"==": [{"var": "dataset.metadata.robot"}, "r1"]}).evaluate
    second = compile_rule({"==": [{"var": "dataset.metadata.site"}, 7]}).evaluate
    assert first.__code__ is second.__code__  # type: ignore[attr-defined]
    data = {"dataset": {"metadata": {"robot": "r1", "site": 7}}}
    assert first(data) is True and second(data) is True


def test_roboto_conditions_differing_only_in_constants_share_one_code_object() -> None:
    first = compile_condition({"field": "metadata.robot", "comparator": "EQUALS", "value": "r1"})
    second = compile_condition({"field": "metadata.site", "comparator": "EQUALS", "value": "x"})
    assert first.evaluate.__code__ is second.evaluate.__code__  # type: ignore[attr-defined]


def test_keys_and_values_that_look_like_code_are_data() -> None:
    key = "a') or __import__('os') or ('"
    rule = {"==": [{"var": key}, "'); raise SystemExit #"]}
    assert compile_rule(rule).evaluate({key: "'); raise SystemExit #"}) is True
    leaf = {"field": key, "comparator": "EQUALS", "value": '"; 1/0 #'}
    assert compile_condition(leaf)({key: '"; 1/0 #'}, None, None) is True


def test_generated_and_closure_operators_mix() -> None:
    rule = {"and": [{"missing": ["a"]}, {"==": [{"var": "b"}, 1]}, {"map": [[1], {"var": ""}]}]}
    evaluate = compile_rule(rule).evaluate
    assert evaluate({"b": 1}) == [1]
    assert evaluate({"a": 1, "b": 1}) == []


def test_rules_nested_past_the_generated_depth_still_evaluate() -> None:
    rule: Any = {"var": "x"}
    for depth in range(3 * MAX_NESTING):
        rule = {"!": rule} if depth % 2 else {"or": [False, rule]}
    evaluate = compile_rule(rule).evaluate
    # 18 negations of x, so the result is x's truthiness.
    assert evaluate({"x": 1}) is True and evaluate({"x": 0}) is False
