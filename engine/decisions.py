"""What the evaluation core decides: one `Decision` per trigger an event touches, and an event's
`EventResult`. msgspec Structs, made in C (one or two per event); kept out of `engine.evaluator`,
which is compiled with mypyc, and mypyc does not compile msgspec's class bodies.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from engine.invocations import InvocationRequest


class Decision(msgspec.Struct, gc=False):  # made in C, like `Event`: one or two per event
    outcome: str  # invoked_action | skipped
    reason: str | None  # already_run | condition_not_met | no_matching_files | trigger_disabled
    status: str  # evaluated | failed
    detail: str | None
    files: Sequence[dict[str, Any]]  # the files the invocation is for (sorted), when invoked
    fired: str | None = None  # the fired-state key to mark, when invoked (`decide` has made it)


class EventResult(msgspec.Struct, gc=False):
    invocations: list[InvocationRequest] = msgspec.field(default_factory=list)
    evaluations: list[dict[str, Any]] = msgspec.field(default_factory=list)
