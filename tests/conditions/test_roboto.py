"""Roboto conditions: every comparator and group operator, coercion, timestamps, LIKE, errors."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conditions import ConditionError, compile_condition
from conditions.codegen import MAX_NESTING
from conditions.comparators import COMPARATOR_RULES, Comparator, GroupOperator, ValueKind

DATASET: dict[str, Any] = {
    "dataset_id": "ds_1",
    "org_id": "og_1",
    "tags": ["prod", "cam"],
    "metadata": {
        "robot": "r2",
        "speed": 3,
        "ratio": 0.5,
        "speed_text": "3",
        "ratio_text": "2.5",
        "bad_number": "fast",
        "enabled": True,
        "enabled_text": "true",
        "shouting": "TRUE",
        "nothing": None,
        "nested": {"a": {"b": "deep"}},
        "labels": ["x", "3"],
        "started": "2026-11-20T10:00:00+01:00",
        "started_utc": "2026-11-20T09:00:00+00:00",
        "naive": "2026-11-20T09:00:00",
        "date_only": "2026-11-20",
        "impossible": "2026-13-40T10:00:00Z",
        "times": ["2026-11-20T09:00:00Z"],
        "progress": "100%_done",
        "plain": "100x_done",
        "windows": "C:\\temp",
        "dots": "a.b(c)",
        "lines": "a\nb",
    },
}
FILE: dict[str, Any] = {
    "file_id": "fl_1",
    "relative_path": "run1/cam_front/0001.jpg",
    "size": 1234,
    "tags": ["raw"],
    "metadata": {"camera": "front"},
    "ingestion_status": "ingested",
}


def holds(
    field: str, comparator: str, value: Any = None, file: dict[str, Any] | None = FILE
) -> bool:
    leaf: dict[str, Any] = {"field": field, "comparator": comparator}
    if value is not None:
        leaf["value"] = value
    return compile_condition(leaf)(DATASET, file, None)


LEAVES = [
    # EQUALS: exact, case-sensitive, no coercion of a stored number to a string value
    ("metadata.robot", "EQUALS", "r2", True),
    ("metadata.robot", "EQUALS", "r3", False),
    ("metadata.robot", "EQUALS", "R2", False),
    ("metadata.absent", "EQUALS", "r2", False),
    ("metadata.nothing", "EQUALS", "r2", False),
    ("metadata.speed", "EQUALS", 3, True),
    ("metadata.speed", "EQUALS", 3.0, True),
    ("metadata.speed", "EQUALS", "3", False),
    ("metadata.speed_text", "EQUALS", 3, True),
    ("metadata.ratio_text", "EQUALS", 2.5, True),
    ("metadata.bad_number", "EQUALS", 3, False),
    ("metadata.enabled", "EQUALS", True, True),
    ("metadata.enabled", "EQUALS", 1, False),
    ("metadata.enabled_text", "EQUALS", True, True),
    ("metadata.enabled_text", "EQUALS", False, False),
    ("metadata.shouting", "EQUALS", True, False),
    ("metadata.speed_text", "EQUALS", True, False),
    # NOT_EQUALS: missing, null and unparseable are false, not "different"
    ("metadata.robot", "NOT_EQUALS", "r3", True),
    ("metadata.robot", "NOT_EQUALS", "r2", False),
    ("metadata.absent", "NOT_EQUALS", "r2", False),
    ("metadata.nothing", "NOT_EQUALS", "r2", False),
    ("metadata.bad_number", "NOT_EQUALS", 3, False),
    ("metadata.speed_text", "NOT_EQUALS", 4, True),
    # ordering
    ("metadata.speed", "GREATER_THAN", 2, True),
    ("metadata.speed", "GREATER_THAN", 3, False),
    ("metadata.absent", "GREATER_THAN", 2, False),
    ("metadata.nothing", "GREATER_THAN", 2, False),
    ("metadata.speed_text", "GREATER_THAN", 2, True),
    ("metadata.bad_number", "GREATER_THAN", 2, False),
    ("metadata.robot", "GREATER_THAN", "r1", True),
    ("metadata.robot", "GREATER_THAN", 1, False),
    ("metadata.speed", "GREATER_THAN_OR_EQUAL", 3, True),
    ("metadata.speed", "GREATER_THAN_OR_EQUAL", 4, False),
    ("metadata.absent", "GREATER_THAN_OR_EQUAL", 0, False),
    ("metadata.nothing", "GREATER_THAN_OR_EQUAL", 0, False),
    ("metadata.ratio_text", "GREATER_THAN_OR_EQUAL", 2.5, True),
    ("metadata.ratio", "LESS_THAN", 1, True),
    ("metadata.speed", "LESS_THAN", 3, False),
    ("metadata.absent", "LESS_THAN", 9, False),
    ("metadata.nothing", "LESS_THAN", 9, False),
    ("metadata.robot", "LESS_THAN", "r3", True),
    ("metadata.bad_number", "LESS_THAN", 9, False),
    ("metadata.speed", "LESS_THAN_OR_EQUAL", 3, True),
    ("metadata.speed", "LESS_THAN_OR_EQUAL", 2, False),
    ("metadata.absent", "LESS_THAN_OR_EQUAL", 9, False),
    ("metadata.nothing", "LESS_THAN_OR_EQUAL", 9, False),
    ("metadata.speed_text", "LESS_THAN_OR_EQUAL", 3, True),
    # CONTAINS: list membership (elements coerced like EQUALS), substring, object key
    ("tags", "CONTAINS", "prod", True),
    ("tags", "CONTAINS", "dev", False),
    ("tags", "CONTAINS", "pro", False),
    ("metadata.robot", "CONTAINS", "2", True),
    ("metadata.robot", "CONTAINS", 2, False),
    ("metadata.labels", "CONTAINS", 3, True),
    ("metadata", "CONTAINS", "robot", True),
    ("metadata.speed", "CONTAINS", 3, False),
    ("metadata.absent", "CONTAINS", "x", False),
    ("metadata.nothing", "CONTAINS", "x", False),
    ("tags", "NOT_CONTAINS", "dev", True),
    ("tags", "NOT_CONTAINS", "prod", False),
    ("metadata.robot", "NOT_CONTAINS", "x", True),
    ("metadata.speed", "NOT_CONTAINS", 3, False),
    ("metadata.absent", "NOT_CONTAINS", "x", False),
    ("metadata.nothing", "NOT_CONTAINS", "x", False),
    # null and existence: a missing field and a null one behave alike
    ("metadata.nothing", "IS_NULL", None, True),
    ("metadata.absent", "IS_NULL", None, True),
    ("metadata.robot", "IS_NULL", None, False),
    ("metadata.robot", "IS_NOT_NULL", None, True),
    ("metadata.nothing", "IS_NOT_NULL", None, False),
    ("metadata.absent", "IS_NOT_NULL", None, False),
    ("metadata.robot", "EXISTS", None, True),
    ("metadata.absent", "EXISTS", None, False),
    ("metadata.nothing", "EXISTS", None, False),
    ("metadata.absent", "NOT_EXISTS", None, True),
    ("metadata.nothing", "NOT_EXISTS", None, True),
    ("metadata.robot", "NOT_EXISTS", None, False),
    # BEGINS_WITH, LIKE, NOT_LIKE: strings only, case-sensitive
    ("metadata.robot", "BEGINS_WITH", "r", True),
    ("metadata.robot", "BEGINS_WITH", "R", False),
    ("metadata.speed_text", "BEGINS_WITH", "3", True),
    ("metadata.speed", "BEGINS_WITH", "3", False),
    ("metadata.absent", "BEGINS_WITH", "r", False),
    ("metadata.nothing", "BEGINS_WITH", "r", False),
    ("metadata.robot", "LIKE", "r_", True),
    ("metadata.robot", "LIKE", "%2", True),
    ("metadata.robot", "LIKE", "R%", False),
    ("metadata.robot", "LIKE", "r", False),
    ("metadata.speed", "LIKE", "3", False),
    ("metadata.absent", "LIKE", "%", False),
    ("metadata.nothing", "LIKE", "%", False),
    ("metadata.robot", "NOT_LIKE", "x%", True),
    ("metadata.robot", "NOT_LIKE", "r%", False),
    ("metadata.absent", "NOT_LIKE", "x%", False),
    ("metadata.nothing", "NOT_LIKE", "x%", False),
    # paths: nested objects, qualified and top-level fields; a non-object step means missing
    ("metadata.nested.a.b", "EQUALS", "deep", True),
    ("metadata.nested.a.c", "NOT_EXISTS", None, True),
    ("metadata.robot.x", "NOT_EXISTS", None, True),
    ("dataset.metadata.robot", "EQUALS", "r2", True),
    ("dataset_id", "EQUALS", "ds_1", True),
    ("dataset.org_id", "EQUALS", "og_1", True),
    ("file.relative_path", "BEGINS_WITH", "run1/", True),
    ("file.metadata.camera", "EQUALS", "front", True),
    ("file.tags", "CONTAINS", "raw", True),
    ("file.size", "GREATER_THAN", 1000, True),
    ("file.ingestion_status", "EQUALS", "ingested", True),
]


@pytest.mark.parametrize(("field", "comparator", "value", "expected"), LEAVES)
def test_leaf(field: str, comparator: str, value: Any, expected: bool) -> None:
    assert holds(field, comparator, value) is expected


def test_every_comparator_is_covered() -> None:
    assert {comparator for _, comparator, _, _ in LEAVES} == set(Comparator)


@pytest.mark.parametrize("comparator", list(Comparator))
def test_a_missing_or_null_field_gets_the_verdict_the_table_gives(comparator: Comparator) -> None:
    rule = COMPARATOR_RULES[comparator]
    leaf: dict[str, Any] = {"field": "metadata.robot", "comparator": comparator.value}
    if rule.takes is not ValueKind.NONE:
        leaf["value"] = 1 if rule.takes is ValueKind.ORDERED else "r2"
    compiled = compile_condition(leaf)
    for dataset in ({}, {"metadata": "r2"}, {"metadata": {}}, {"metadata": {"robot": None}}):
        assert compiled(dataset, None, None) is rule.matches_missing
        assert compiled.explain(dataset, None, None).result is rule.matches_missing


def test_file_fields_are_missing_when_there_is_no_file() -> None:
    assert holds("file.size", "EXISTS", file=None) is False
    assert holds("file.size", "NOT_EXISTS", file=None) is True
    assert holds("file.relative_path", "NOT_LIKE", "x%", file=None) is False


TIMESTAMPS = [
    # zoned on both sides: instants
    ("metadata.started", "EQUALS", "2026-11-20T09:00:00Z", True),
    ("metadata.started_utc", "EQUALS", "2026-11-20T10:00:00+01:00", True),
    ("metadata.started", "NOT_EQUALS", "2026-11-20T09:00:00Z", False),
    ("metadata.started", "GREATER_THAN", "2026-11-20T08:59:59Z", True),
    ("metadata.started", "LESS_THAN", "2026-11-20T09:00:00.5Z", True),
    ("metadata.started", "LESS_THAN_OR_EQUAL", "2026-11-20T04:00:00-05:00", True),
    ("metadata.started", "GREATER_THAN_OR_EQUAL", "2026-11-20T09:00:01Z", False),
    ("metadata.times", "CONTAINS", "2026-11-20T10:00:00+01:00", True),
    # one side without a zone (or not a real date): plain string comparison
    ("metadata.naive", "EQUALS", "2026-11-20T09:00:00Z", False),
    ("metadata.started", "EQUALS", "2026-11-20T10:00:00", False),
    ("metadata.date_only", "EQUALS", "2026-11-20T00:00:00Z", False),
    ("metadata.impossible", "EQUALS", "2026-13-40T10:00:00Z", True),
    ("metadata.impossible", "LESS_THAN", "2026-12-01T00:00:00Z", False),
    ("metadata.speed", "EQUALS", "2026-11-20T09:00:00Z", False),
]


@pytest.mark.parametrize(("field", "comparator", "value", "expected"), TIMESTAMPS)
def test_timestamps(field: str, comparator: str, value: Any, expected: bool) -> None:
    assert holds(field, comparator, value) is expected


LIKE_PATTERNS = [
    ("metadata.progress", "100\\%\\_done", True),  # escaped wildcards are literal
    ("metadata.plain", "100\\%\\_done", False),
    ("metadata.plain", "100%_done", True),
    ("metadata.progress", "100\\%%", True),
    ("metadata.windows", "C:\\\\%", True),  # an escaped backslash is a backslash
    ("metadata.robot", "\\r2", True),  # an escaped ordinary character is itself
    ("metadata.windows", "C:\\t%", False),
    ("metadata.dots", "a.b(c)", True),  # regex metacharacters are literal
    ("metadata.dots", "a_b(c)", True),
    ("metadata.plain", "a.b(c)", False),
    ("metadata.lines", "a_b", True),  # `_` and `%` also match a newline
    ("metadata.lines", "a%", True),
    ("metadata.robot", "%", True),
    ("metadata.robot", "___", False),
]


@pytest.mark.parametrize(("field", "pattern", "expected"), LIKE_PATTERNS)
def test_like(field: str, pattern: str, expected: bool) -> None:
    assert holds(field, "LIKE", pattern) is expected
    assert holds(field, "NOT_LIKE", pattern) is not expected


def leaf(field: str, comparator: str, value: Any) -> dict[str, Any]:
    return {"field": field, "comparator": comparator, "value": value}


TRUE = leaf("metadata.robot", "EQUALS", "r2")
FALSE = leaf("metadata.robot", "EQUALS", "r3")
MISSING_FIELD = leaf("metadata.absent", "EQUALS", "x")

GROUPS = [
    ("AND", [TRUE, TRUE], True),
    ("AND", [TRUE, FALSE], False),
    ("AND", [FALSE], False),
    ("OR", [FALSE, TRUE], True),
    ("OR", [FALSE, FALSE], False),
    ("OR", [TRUE], True),
    ("NOT", [FALSE, FALSE], True),  # NOT = none of the children
    ("NOT", [FALSE, TRUE], False),
    ("NOT", [TRUE], False),
    ("NOT", [MISSING_FIELD], True),  # a leaf on a missing field is false, so NOT is true
]


@pytest.mark.parametrize(("operator", "children", "expected"), GROUPS)
def test_group(operator: str, children: list[dict[str, Any]], expected: bool) -> None:
    condition = compile_condition({"operator": operator, "conditions": children})
    assert condition(DATASET, FILE, None) is expected


def test_nested_groups() -> None:
    condition = compile_condition(
        {
            "operator": "AND",
            "conditions": [
                {"operator": "OR", "conditions": [FALSE, leaf("tags", "CONTAINS", "prod")]},
                {"operator": "NOT", "conditions": [leaf("file.size", "LESS_THAN", 10)]},
            ],
        }
    )
    assert condition(DATASET, FILE, None) is True
    assert condition(DATASET, {**FILE, "size": 5}, None) is False


ERRORS = [
    (
        {"field": "robot", "comparator": "EQUAL", "value": 1},
        "condition.comparator",
        "unknown comparator 'EQUAL'",
    ),
    (
        {"field": "robot", "comparator": "equals", "value": 1},
        "condition.comparator",
        "unknown comparator",
    ),
    ({"operator": "XOR", "conditions": [TRUE]}, "condition.operator", "unknown operator 'XOR'"),
    (
        {"operator": "AND", "conditions": [TRUE, TRUE, {"field": "x", "comparator": "NOPE"}]},
        "condition.conditions[2].comparator",
        "unknown comparator 'NOPE'",
    ),
    ({**TRUE, "extra": 1}, "condition.extra", "unknown key 'extra'"),
    ({"operator": "AND", "conditions": [TRUE], "x": 1}, "condition.x", "unknown key 'x'"),
    ({"field": "robot", "comparator": "EQUALS"}, "condition.value", "EQUALS needs a value"),
    ({"field": "robot", "comparator": "EQUALS", "value": None}, "condition.value", "needs a value"),
    (
        {"field": "robot", "comparator": "IS_NULL", "value": 1},
        "condition.value",
        "IS_NULL takes no value",
    ),
    (
        {"field": "robot", "comparator": "EQUALS", "value": [1]},
        "condition.value",
        "string, number or boolean",
    ),
    (
        {"field": "robot", "comparator": "LIKE", "value": 1},
        "condition.value",
        "LIKE needs a string",
    ),
    (
        {"field": "robot", "comparator": "BEGINS_WITH", "value": True},
        "condition.value",
        "needs a string",
    ),
    (
        {"field": "robot", "comparator": "GREATER_THAN", "value": True},
        "condition.value",
        "not booleans",
    ),
    ({"field": "robot", "comparator": "LIKE", "value": "abc\\"}, "condition.value", "lone '\\'"),
    ({"comparator": "EXISTS"}, "condition", "missing 'field'"),
    ({"field": "robot"}, "condition", "missing 'comparator'"),
    ({"conditions": [TRUE]}, "condition", "missing 'operator'"),
    ({"operator": "AND", "conditions": []}, "condition.conditions", "non-empty list"),
    ({"operator": "AND", "conditions": TRUE}, "condition.conditions", "non-empty list"),
    (
        {"operator": "OR", "conditions": ["x"]},
        "condition.conditions[0]",
        "expected a condition object",
    ),
    ({"field": "robot", "operator": "AND"}, "condition", "mixes a condition"),
    ({"field": "", "comparator": "EXISTS"}, "condition.field", "non-empty dotted path"),
    ({"field": 3, "comparator": "EXISTS"}, "condition.field", "non-empty dotted path"),
    ({"field": "metadata..x", "comparator": "EXISTS"}, "condition.field", "empty segment"),
    ({"field": "file", "comparator": "EXISTS"}, "condition.field", "names a whole record"),
]


@pytest.mark.parametrize(("condition", "path", "reason"), ERRORS)
def test_error_names_path_and_reason(condition: dict[str, Any], path: str, reason: str) -> None:
    with pytest.raises(ConditionError) as caught:
        compile_condition(condition)
    assert caught.value.path == path
    assert reason in caught.value.reason
    assert str(caught.value) == f"{path}: {caught.value.reason}"


def test_file_fields_rejected_when_not_allowed() -> None:
    condition = {"operator": "AND", "conditions": [TRUE, leaf("file.size", "GREATER_THAN", 1)]}
    with pytest.raises(ConditionError) as caught:
        compile_condition(condition, allow_file_fields=False)
    assert caught.value.path == "condition.conditions[1].field"
    assert "file fields are not allowed" in caught.value.reason
    assert compile_condition(condition, allow_file_fields=True)(DATASET, FILE, None) is True


def test_dataset_fields_allowed_without_file_fields() -> None:
    condition = compile_condition(leaf("dataset.tags", "CONTAINS", "prod"), allow_file_fields=False)
    assert condition(DATASET, None, None) is True


def test_references_file() -> None:
    assert compile_condition(leaf("file.size", "EXISTS", None)).references_file is True
    assert compile_condition(TRUE).references_file is False
    nested = {"operator": "NOT", "conditions": [TRUE, leaf("file.tags", "CONTAINS", "x")]}
    assert compile_condition(nested).references_file is True


def test_a_comparator_without_a_value_accepts_an_explicit_null() -> None:
    condition = {"field": "metadata.robot", "comparator": "EXISTS", "value": None}
    assert compile_condition(condition)(DATASET, FILE, None) is True


# --- property: the generated predicate against the tracing evaluator ---------------------------

_KEYS = st.sampled_from(["a", "b", "tags", "prod"])
_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from([0, 2, 2.5, 4, -1]),
    st.sampled_from(["prod", "m2", "lab-1", "op_x", "2026-06-02T00:00:00Z", "3", "true", ""]),
)
_STORED = st.recursive(
    _VALUES,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner, max_size=3),
    max_leaves=6,
)
_FIELDS = st.sampled_from(["a", "b", "a.b", "tags", "file.a", "file.a.b", "file.tags"])


@st.composite
def _leaves(draw: st.DrawFn) -> dict[str, Any]:
    comparator = draw(st.sampled_from(Comparator))
    leaf: dict[str, Any] = {"field": draw(_FIELDS), "comparator": comparator.value}
    takes = COMPARATOR_RULES[comparator].takes
    if takes is ValueKind.NONE:
        return leaf
    if takes is ValueKind.STRING:
        leaf["value"] = draw(st.sampled_from(["pr", "%o%", "op\\_%", "m_"]))
    elif takes is ValueKind.ORDERED:
        leaf["value"] = draw(st.sampled_from([2, 2.5, "m", "2026-06-01T00:00:00Z"]))
    else:
        leaf["value"] = draw(_VALUES.filter(lambda v: v is not None))
    return leaf


_CONDITIONS = st.recursive(
    _leaves(),
    lambda inner: st.builds(
        lambda op, children: {"operator": op, "conditions": children},
        st.sampled_from([operator.value for operator in GroupOperator]),
        st.lists(inner, min_size=1, max_size=3),
    ),
    max_leaves=8,
)
_RECORDS = st.dictionaries(_KEYS, _STORED, max_size=4)


@settings(max_examples=400, deadline=None)
@given(_CONDITIONS, _RECORDS, st.none() | _RECORDS)
def test_generated_predicate_agrees_with_the_trace(
    condition: dict[str, Any], dataset: dict[str, Any], file: dict[str, Any] | None
) -> None:
    compiled = compile_condition(condition)
    assert compiled(dataset, file, None) is compiled.explain(dataset, file, None).result


def test_deep_nesting_is_split_into_functions() -> None:
    leaf = {"field": "tags", "comparator": "CONTAINS", "value": "prod"}
    condition: dict[str, Any] = leaf
    for depth in range(3 * MAX_NESTING):
        condition = {"operator": "NOT" if depth % 2 else "AND", "conditions": [condition, leaf]}
    compiled = compile_condition(condition)
    for tags in (["prod"], []):
        dataset = {"tags": tags}
        assert compiled(dataset, None, None) is compiled.explain(dataset, None, None).result
