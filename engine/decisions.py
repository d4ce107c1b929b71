"""What the evaluation core decides: one `Decision` per trigger an event touches, and an event's
`EventResult`: the invocations it requests, the evaluation records it writes and the state changes
it made, for a driver's sink to write. msgspec Structs: made in C, one or two per event.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from engine.invocations import InvocationRequest
from engine.state import Change
from engine.vocabulary import Cause, Outcome, Reason, Status

if TYPE_CHECKING:
    from engine.compiled import CompiledTrigger


class Decision(msgspec.Struct, gc=False):
    outcome: Outcome
    reason: Reason | None
    status: Status
    detail: str | None
    files: Sequence[dict[str, Any]]  # the files the invocation is for (sorted), when invoked
    fired: str | None = None  # the fired key to mark, when invoked (`decide` has made it)
    fired_file: str | None = None  # with `fired` a per-file trigger's id: the file it fired for


class EventResult(msgspec.Struct, gc=False):
    invocations: list[InvocationRequest] = msgspec.field(default_factory=list)
    evaluations: list[dict[str, Any]] = msgspec.field(default_factory=list)
    changes: list[Change] = msgspec.field(default_factory=list)


# An event's decisions: (trigger, the file it was decided for (None: the dataset), decision, the
# cause it was decided under).
Decided = list[tuple["CompiledTrigger", dict[str, Any] | None, Decision, Cause]]
