"""The two ways a condition can fail: invalid when compiled, or a JsonLogic runtime error."""

from __future__ import annotations

from typing import Any


class ConditionError(Exception):
    """A condition is invalid; `path` is where in it (`condition.conditions[2].comparator`)."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class JsonLogicError(Exception):
    """A JsonLogic rule failed while evaluating, as the standard defines it.

    `payload` is the error object of the official suites: `{"type": "NaN"}`,
    `{"type": "Invalid Arguments"}`, or whatever a `throw` raised.
    """

    def __init__(self, payload: dict[str, Any]) -> None:
        self.payload = payload
        super().__init__(str(payload.get("type", payload)))


def nan_error() -> JsonLogicError:
    return JsonLogicError({"type": "NaN"})


def invalid_arguments() -> JsonLogicError:
    return JsonLogicError({"type": "Invalid Arguments"})
