"""required_tag / required_metadata: an AND of `tags CONTAINS t` and `metadata.k EQUALS v`."""

from __future__ import annotations

from typing import Any

import pytest

from conditions import ConditionError, compile_condition

DATASET: dict[str, Any] = {
    "dataset_id": "ds_1",
    "org_id": "og_1",
    "tags": ["prod", "cam"],
    "metadata": {"robot": "r2", "speed": "3", "nested": {"a": "deep"}},
}


@pytest.mark.parametrize(
    ("required_tag", "required_metadata", "expected"),
    [
        (["prod"], None, True),
        (["prod", "cam"], None, True),
        (["prod", "dev"], None, False),
        (["Prod"], None, False),
        (None, {"robot": "r2"}, True),
        (None, {"robot": "r3"}, False),
        (None, {"speed": 3}, True),  # the stored string is parsed as the number
        (None, {"nested.a": "deep"}, True),
        (None, {"absent": "x"}, False),
        (["prod"], {"robot": "r2"}, True),
        (["prod"], {"robot": "r3"}, False),
        (["dev"], {"robot": "r2"}, False),
    ],
)
def test_sugar_semantics(
    required_tag: list[str] | None, required_metadata: dict[str, Any] | None, expected: bool
) -> None:
    condition = compile_condition(required_tag=required_tag, required_metadata=required_metadata)
    assert condition.dialect == "roboto"
    assert condition(DATASET, None, None) is expected


def test_sugar_is_the_condition_it_stands_for() -> None:
    sugar = compile_condition(required_tag=["prod"], required_metadata={"robot": "r2"})
    spelled_out = compile_condition(
        {
            "operator": "AND",
            "conditions": [
                {"field": "tags", "comparator": "CONTAINS", "value": "prod"},
                {"field": "metadata.robot", "comparator": "EQUALS", "value": "r2"},
            ],
        }
    )
    for dataset in (DATASET, {**DATASET, "tags": []}, {**DATASET, "metadata": {}}):
        assert sugar.explain(dataset, None, None) == spelled_out.explain(dataset, None, None)


def test_sugar_never_references_the_file() -> None:
    condition = compile_condition(required_tag=["a", "b"], required_metadata={"k": 1})
    assert condition.references_file is False


def test_empty_sugar_is_no_condition() -> None:
    condition = compile_condition(required_tag=[], required_metadata={})
    assert condition.dialect == "none"
    assert condition(DATASET, None, None) is True


def test_sugar_is_exclusive_with_condition() -> None:
    with pytest.raises(ConditionError) as caught:
        compile_condition({"field": "tags", "comparator": "EXISTS"}, required_tag=["prod"])
    assert caught.value.path == "condition"
    assert "cannot be combined with required_tag or required_metadata" in caught.value.reason


def test_sugar_works_without_file_fields() -> None:
    condition = compile_condition(required_metadata={"file.x": 1}, allow_file_fields=False)
    assert condition({**DATASET, "metadata": {"file": {"x": 1}}}, None, None) is True


@pytest.mark.parametrize(
    ("kwargs", "path", "reason"),
    [
        ({"required_tag": "prod"}, "required_tag", "must be a list of tags"),
        ({"required_tag": ["prod", 3]}, "required_tag[1]", "non-empty string"),
        ({"required_tag": ["prod", ""]}, "required_tag[1]", "non-empty string"),
        ({"required_metadata": ["robot"]}, "required_metadata", "must be an object"),
        ({"required_metadata": {"robot": None}}, "required_metadata.robot", "needs a value"),
        (
            {"required_metadata": {"robot": ["r2"]}},
            "required_metadata.robot",
            "string, number or boolean",
        ),
        ({"required_metadata": {"": "x"}}, "required_metadata.", "empty segment"),
        ({"required_metadata": {"a..b": "x"}}, "required_metadata.a..b", "empty segment"),
    ],
)
def test_sugar_errors(kwargs: dict[str, Any], path: str, reason: str) -> None:
    with pytest.raises(ConditionError) as caught:
        compile_condition(**kwargs)
    assert caught.value.path == path
    assert reason in caught.value.reason
