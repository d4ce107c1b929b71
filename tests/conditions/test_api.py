"""compile_condition: dialect detection, the CompiledCondition contract, JsonLogic data."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from conditions import CompiledCondition, ConditionError, compile_condition

DATASET: dict[str, Any] = {
    "dataset_id": "ds_1",
    "org_id": "og_1",
    "tags": ["prod", "cam"],
    "metadata": {"robot": "r2", "speed": 3},
}
FILE: dict[str, Any] = {
    "file_id": "fl_1",
    "relative_path": "run1/cam_front/0001.jpg",
    "size": 1234,
    "tags": [],
    "metadata": {},
    "ingestion_status": "not_ingested",
}
EVENT: dict[str, Any] = {"id": "ev-1", "type": "file.uploaded"}


def test_no_condition_is_always_true() -> None:
    condition = compile_condition(None)
    assert (condition.dialect, condition.references_file) == ("none", False)
    assert condition({}, None, None) is True
    assert compile_condition() == condition


@pytest.mark.parametrize(
    ("condition", "dialect"),
    [
        ({"field": "tags", "comparator": "CONTAINS", "value": "prod"}, "roboto"),
        ({"operator": "AND", "conditions": [{"field": "tags", "comparator": "EXISTS"}]}, "roboto"),
        ({"in": ["prod", {"var": "dataset.tags"}]}, "jsonlogic"),
        ({"!!": {"var": "dataset.metadata.robot"}}, "jsonlogic"),
    ],
)
def test_dialect_detection(condition: dict[str, Any], dialect: str) -> None:
    compiled = compile_condition(condition)
    assert compiled.dialect == dialect
    assert compiled(DATASET, FILE, EVENT) is True


@pytest.mark.parametrize(
    ("condition", "reason"),
    [
        ({}, "must be a Roboto condition"),
        ("tags", "must be a Roboto condition"),
        ([{"var": "x"}], "must be a Roboto condition"),
        ({"foo": 1}, "neither a Roboto condition"),
        ({"var": "dataset.tags", "extra": 1}, "got keys 'var', 'extra'"),
    ],
)
def test_unrecognised_conditions(condition: Any, reason: str) -> None:
    with pytest.raises(ConditionError) as caught:
        compile_condition(condition)
    assert caught.value.path == "condition"
    assert reason in caught.value.reason


def test_compiled_condition_is_immutable() -> None:
    compiled = compile_condition({"==": [{"var": "dataset.metadata.robot"}, "r2"]})
    assert isinstance(compiled, CompiledCondition)
    with pytest.raises(dataclasses.FrozenInstanceError):
        compiled.dialect = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"==": [{"var": "dataset.metadata.robot"}, "r2"]}, True),
        ({">": [{"var": "dataset.metadata.speed"}, 5]}, False),
        ({"in": ["cam_front", {"var": "file.relative_path"}]}, True),
        ({"==": [{"var": "event.type"}, "file.uploaded"]}, True),
        ({"==": [{"var": "dataset.tags.1"}, "cam"]}, True),  # array index in a path
        ({"missing": ["dataset.metadata.robot", "dataset.metadata.absent"]}, True),  # ["...absent"]
        ({"missing": ["dataset.metadata.robot"]}, False),  # [] is falsy
        ({"some": [{"var": "dataset.tags"}, {"==": [{"var": ""}, "cam"]}]}, True),
        ({"var": "dataset.metadata.absent"}, False),
        ({"if": [{"var": "file"}, "file-level", ""]}, True),
        # A JsonLogic error (here NaN: "r2" is not a number) makes the condition false.
        ({"<": [{"var": "dataset.metadata.robot"}, 5]}, False),
        ({"!": {"<": [{"var": "dataset.metadata.robot"}, 5]}}, False),
        ({"throw": "boom"}, False),
        ({"==": [1, 1]}, True),
    ],
)
def test_jsonlogic_on_engine_data(rule: dict[str, Any], expected: bool) -> None:
    assert compile_condition(rule)(DATASET, FILE, EVENT) is expected


def test_jsonlogic_without_file_or_event() -> None:
    condition = compile_condition({"!": {"var": "file.relative_path"}})
    assert condition(DATASET, None, None) is True
    assert condition(DATASET, FILE, None) is False


@pytest.mark.parametrize(
    ("rule", "path", "reason"),
    [
        ({"and": [True, {"nope": 1}]}, "condition.and[1]", "unknown JsonLogic operator 'nope'"),
        ({"log": "x"}, "condition", "neither a Roboto condition"),
        ({"and": [{"log": "x"}]}, "condition.and[0]", "unknown JsonLogic operator 'log'"),
        ({"if": [{"a": 1, "b": 2}, 1, 2]}, "condition.if[0]", "exactly one key"),
        ({"==": [{"var": "tags"}, "x"]}, "condition.==[0]", "unknown data root 'tags'"),
        ({"%": [1]}, "condition", "'%' takes at least 2 arguments, got 1"),
        ({"==": 1}, "condition", "'==' takes a list of arguments"),
        ({"and": True}, "condition", "'and' takes a list of arguments"),
        ({"substr": ["abc", 1, 2, 3]}, "condition", "'substr' takes 2 to 3 arguments, got 4"),
        ({"map": [None, {"var": ""}]}, "condition.map[0]", "needs an array"),
        ({"filter": [{"var": "dataset.tags"}, None]}, "condition.filter[1]", "needs a rule"),
        ({"var": [["dataset"]]}, "condition", "a var path must be a string or a number"),
        ({"val": [[1], "x"]}, "condition", "scope climbing"),
        ({"missing_some": [1]}, "condition", "'missing_some' takes exactly 2 arguments, got 1"),
    ],
)
def test_jsonlogic_errors_name_path_and_reason(
    rule: dict[str, Any], path: str, reason: str
) -> None:
    with pytest.raises(ConditionError) as caught:
        compile_condition(rule)
    assert caught.value.path == path
    assert reason in caught.value.reason


@pytest.mark.parametrize(
    "rule",
    [
        {"var": "file.size"},
        {"missing": ["dataset.tags", "file.size"]},
        {"missing_some": [1, ["file.size"]]},
        {"val": ["file", "size"]},
        {"and": [True, {"==": [{"var": "file.metadata.camera"}, "front"]}]},
    ],
)
def test_jsonlogic_file_paths_rejected_when_not_allowed(rule: dict[str, Any]) -> None:
    with pytest.raises(ConditionError) as caught:
        compile_condition(rule, allow_file_fields=False)
    assert "file fields are not allowed" in caught.value.reason
    assert compile_condition(rule).references_file is True


@pytest.mark.parametrize(
    ("rule", "references_file"),
    [
        ({"var": "dataset.metadata.robot"}, False),
        ({"==": [{"var": "event.type"}, "file.uploaded"]}, False),
        ({"some": [{"var": "dataset.tags"}, {"var": "file"}]}, False),  # `file` of each tag
        ({"var": {"cat": ["file", ".size"]}}, True),  # computed path: might read file
        ({"var": ""}, True),  # the whole data, file included
    ],
)
def test_jsonlogic_references_file(rule: dict[str, Any], references_file: bool) -> None:
    assert compile_condition(rule).references_file is references_file


@pytest.mark.parametrize(
    ("condition", "references_event", "dataset_only"),
    [
        ({"var": "dataset.metadata.robot"}, False, True),
        ({"==": [{"var": "event.type"}, "file.uploaded"]}, True, False),
        ({"var": "file.size"}, False, False),
        ({"some": [{"var": "dataset.tags"}, {"var": "event"}]}, False, True),  # `event` of a tag
        ({"var": {"cat": ["event", ".type"]}}, True, False),  # computed path: might read event
        ({"field": "metadata.speed", "comparator": "EXISTS"}, False, True),
        (None, False, True),
    ],
)
def test_references_event_and_dataset_only(
    condition: dict[str, Any] | None, references_event: bool, dataset_only: bool
) -> None:
    compiled = compile_condition(condition)
    assert (compiled.references_event, compiled.dataset_only) == (references_event, dataset_only)
