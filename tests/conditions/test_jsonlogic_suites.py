"""The official JsonLogic suites (tests/data/jsonlogic/suites), one test per case.

An expected `error` passes when evaluating raises `JsonLogicError` with that payload, or, for
`{"type": "Invalid Arguments"}`, when the rule's shape is already rejected at compile time.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conditions.errors import ConditionError, JsonLogicError
from conditions.jsonlogic import compile_rule

SUITES = Path(__file__).parent.parent / "data" / "jsonlogic" / "suites"

# Per-operator suite files that belong to the classic operator set, plus val/throw (used by them).
CLASSIC_FILES = [
    "compatible.json",
    "control/and.json",
    "control/doublebang.json",
    "control/if.json",
    "control/not.json",
    "control/or.json",
    "comparison/greaterThan.json",
    "comparison/greaterThanEquals.json",
    "comparison/lessThan.json",
    "comparison/lessThanEquals.json",
    "comparison/softEquals.json",
    "comparison/softNotEquals.json",
    "comparison/strictEquals.json",
    "comparison/strictNotEquals.json",
    "string/cat.json",
    "string/in.json",
    "string/substr.json",
    "array/all.json",
    "array/filter.json",
    "array/map.json",
    "array/merge.json",
    "array/none.json",
    "array/reduce.json",
    "array/some.json",
    "arithmetic/divide.json",
    "arithmetic/minus.json",
    "arithmetic/modulo.json",
    "arithmetic/multiply.json",
    "arithmetic/plus.json",
    "truthiness.json",
    "additional.json",
    "chained.json",
    "val.json",
    "val-compat.json",
    "throw.json",
]


def _cases() -> list[Any]:
    params = []
    for name in CLASSIC_FILES:
        entries = json.loads((SUITES / name).read_text(encoding="utf-8"))
        cases = [entry for entry in entries if isinstance(entry, dict)]
        for number, case in enumerate(cases, start=1):
            label = f"{name}#{number} {case.get('description', json.dumps(case['rule']))}"
            params.append(pytest.param(case, id=label))
    return params


def same_json(got: Any, expected: Any) -> bool:
    """JSON equality that tells true from 1 and 0 from false (Python's == does not)."""
    if isinstance(expected, bool) or expected is None:
        return got is expected
    if isinstance(expected, (int, float)):
        return type(got) in (int, float) and got == expected
    if isinstance(expected, list):
        return (
            isinstance(got, list)
            and len(got) == len(expected)
            and all(same_json(g, e) for g, e in zip(got, expected, strict=True))
        )
    if isinstance(expected, dict):
        return (
            isinstance(got, dict)
            and got.keys() == expected.keys()
            and all(same_json(got[k], expected[k]) for k in expected)
        )
    return type(got) is type(expected) and got == expected


def test_the_compatible_suite_has_all_278_cases() -> None:
    entries = json.loads((SUITES / "compatible.json").read_text(encoding="utf-8"))
    assert sum(isinstance(entry, dict) for entry in entries) == 278


@pytest.mark.parametrize("case", _cases())
def test_official_case(case: dict[str, Any]) -> None:
    if "error" not in case:
        value = compile_rule(case["rule"]).evaluate(case.get("data"))
        assert same_json(value, case["result"]), f"got {value!r}"
        return
    try:
        compile_rule(case["rule"]).evaluate(case.get("data"))
    except ConditionError:
        assert case["error"] == {"type": "Invalid Arguments"}
    except JsonLogicError as exc:
        assert exc.payload == case["error"]
    else:
        pytest.fail(f"expected error {case['error']}")
