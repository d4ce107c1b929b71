"""CompiledCondition.explain: the result, and every leaf / operator node with what it found."""

from __future__ import annotations

from typing import Any

from conditions import MISSING, compile_condition

DATASET: dict[str, Any] = {
    "dataset_id": "ds_1",
    "org_id": "og_1",
    "tags": ["prod"],
    "metadata": {"speed": "fast", "nothing": None},
}
FILE: dict[str, Any] = {"file_id": "fl_1", "relative_path": "run1/a.jpg"}


def test_no_condition() -> None:
    trace = compile_condition(None).explain(DATASET, FILE, None)
    assert (trace.dialect, trace.result, trace.steps) == ("none", True, ())
    assert trace.render() == ["no condition: always true"]


def test_roboto_trace_shows_every_leaf_with_the_value_found() -> None:
    condition = compile_condition(
        {
            "operator": "OR",
            "conditions": [
                {"field": "metadata.speed", "comparator": "GREATER_THAN", "value": 2},
                {
                    "operator": "NOT",
                    "conditions": [
                        {"field": "file.relative_path", "comparator": "LIKE", "value": "%.png"}
                    ],
                },
                {"field": "metadata.nothing", "comparator": "IS_NULL"},
                {"field": "metadata.absent", "comparator": "EXISTS"},
            ],
        }
    )
    trace = condition.explain(DATASET, FILE, None)
    assert trace.result is True
    assert trace.render() == [
        "roboto condition is true",
        "  OR -> true",
        '    dataset.metadata.speed GREATER_THAN 2 -> false (actual: "fast")',
        "    NOT -> true",
        '      file.relative_path LIKE "%.png" -> false (actual: "run1/a.jpg")',
        "    dataset.metadata.nothing IS_NULL -> true (actual: null)",
        "    dataset.metadata.absent EXISTS -> false (actual: missing)",
    ]
    leaf = trace.steps[1]
    assert (leaf.kind, leaf.location, leaf.subject) == (
        "leaf",
        "condition.conditions[0]",
        "dataset.metadata.speed",
    )
    assert (leaf.comparator, leaf.expected, leaf.actual, leaf.result) == (
        "GREATER_THAN",
        2,
        "fast",
        False,
    )
    assert trace.steps[-1].actual is MISSING
    assert trace.steps[-2].actual is None


def test_roboto_trace_evaluates_leaves_a_short_circuit_would_skip() -> None:
    condition = compile_condition(
        {
            "operator": "AND",
            "conditions": [
                {"field": "tags", "comparator": "CONTAINS", "value": "dev"},
                {"field": "tags", "comparator": "CONTAINS", "value": "prod"},
            ],
        }
    )
    trace = condition.explain(DATASET, None, None)
    assert trace.result is False
    assert [step.result for step in trace.steps] == [False, False, True]


def test_trace_agrees_with_the_condition() -> None:
    condition = compile_condition({"field": "tags", "comparator": "CONTAINS", "value": "prod"})
    assert condition.explain(DATASET, None, None).result is condition(DATASET, None, None) is True


def test_jsonlogic_trace_lists_operator_nodes_parents_first() -> None:
    condition = compile_condition(
        {
            "and": [
                {"some": [{"var": "dataset.tags"}, {"==": [{"var": ""}, "prod"]}]},
                {"==": [{"var": "event.type"}, "file.uploaded"]},
            ]
        }
    )
    trace = condition.explain(DATASET, FILE, {"type": "file.uploaded"})
    assert trace.result is True
    assert trace.error is None
    lines = trace.render()
    assert lines[0] == "jsonlogic condition is true"
    assert lines[1].startswith('  {"and":[{"some":') and lines[1].endswith("... -> true")
    # Iterator bodies run once per item and are not traced: the `==` inside `some` is absent.
    assert lines[2:] == [
        '    {"some":[{"var":"dataset.tags"},{"==":[{"var":""},"prod"]}]} -> true',
        '      {"var":"dataset.tags"} -> ["prod"] (truthy)',
        '    {"==":[{"var":"event.type"},"file.uploaded"]} -> true',
        '      {"var":"event.type"} -> "file.uploaded" (truthy)',
    ]
    assert [step.location for step in trace.steps] == [
        "condition",
        "condition.and[0]",
        "condition.and[0].some[0]",
        "condition.and[1]",
        "condition.and[1].==[0]",
    ]
    assert [step.comparator for step in trace.steps] == ["and", "some", "var", "==", "var"]


def test_jsonlogic_trace_reports_the_error_that_made_it_false() -> None:
    condition = compile_condition(
        {
            "or": [
                {"<": [{"var": "dataset.metadata.speed"}, 5]},
                {"in": ["prod", {"var": "dataset.tags"}]},
            ]
        }
    )
    trace = condition.explain(DATASET, None, None)
    assert trace.result is False
    assert trace.error == '{"type": "NaN"}'
    assert trace.render() == [
        'jsonlogic condition is false (evaluation failed: {"type": "NaN"})',
        '  {"or":[{"<":[{"var":"dataset.metadata.speed"},5]},'
        '{"in":["prod",{"var":"dataset.tags"}]}]} -> error {"type": "NaN"}',
        '    {"<":[{"var":"dataset.metadata.speed"},5]} -> error {"type": "NaN"}',
        '      {"var":"dataset.metadata.speed"} -> "fast" (truthy)',
    ]


def test_jsonlogic_trace_of_a_falsy_value() -> None:
    trace = compile_condition({"var": "dataset.metadata.nothing"}).explain(DATASET, None, None)
    assert trace.result is False
    assert trace.render() == [
        "jsonlogic condition is false",
        '  {"var":"dataset.metadata.nothing"} -> null (falsy)',
    ]
