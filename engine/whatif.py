"""`whatif`: the invocations a candidate trigger set would add, remove or change over a history.

Nothing here evaluates: the history is replayed twice by `engine.replay.replay` with the
production `Evaluator`, once under the current triggers and once under the candidate, and the
invocation requests of the two runs are compared. The events are read once (see `engine.spool`),
so both runs see the same records; the current run's requests are held in memory until the
candidate run has matched them.

An invocation is its trigger (org and name) and its `invocation_id`. One the candidate run
requests and the current run does not is added; the reverse, removed; one both request with
different bytes, changed (a different payload, or the same unit fired at another event).
Identical requests do not count.

The report is keyed by trigger name, or by `org_id/name` for a name that belongs to several orgs
among the two trigger sets: a key depends on the trigger files alone, not on what changed. Each
entry lists a few examples of each kind of change: the first by dataset id, then file id.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import orjson

from engine.decisions import EventResult
from engine.errors import EventError
from engine.evaluator import Evaluator
from engine.events import DEFAULT_MAX_EVENT_BYTES, Event
from engine.invocations import InvocationRequest
from engine.progress import Progress
from engine.registry import TriggerRegistry
from engine.replay import ReplaySummary, replay
from engine.sinks import Origin, Sink
from engine.spool import spooled
from engine.state import StateStore
from engine.vocabulary import ForEach

EXAMPLES_PER_CHANGE = 3

# (org_id, trigger name, invocation_id, how many times the run requested it before)
InvocationKey = tuple[str, str, str, int]


class Change(StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    CHANGED = "changed"


@dataclass(frozen=True, slots=True)
class Requested:
    """One invocation request of a run: its unit and its bytes."""

    dataset_id: str
    file_id: str | None  # the file of a per-file invocation
    payload: bytes


@dataclass(frozen=True, slots=True)
class Difference:
    change: Change
    invocation_id: str
    dataset_id: str
    file_id: str | None
    fields: tuple[str, ...]  # the request's top-level fields that differ (changed only)

    def as_dict(self) -> dict[str, Any]:
        return {
            "change": self.change,
            "invocation_id": self.invocation_id,
            "dataset_id": self.dataset_id,
            "file_id": self.file_id,
            "fields": list(self.fields),
        }


@dataclass(slots=True)
class TriggerDifferences:
    org_id: str
    name: str
    found: dict[Change, list[Difference]] = field(
        default_factory=lambda: {change: [] for change in Change}
    )

    def examples(self) -> list[Difference]:
        """The first few of each kind of change, by dataset id, then file id."""
        chosen: list[Difference] = []
        for change in Change:
            ordered = sorted(self.found[change], key=_example_order)
            chosen.extend(ordered[:EXAMPLES_PER_CHANGE])
        return chosen

    def as_dict(self) -> dict[str, Any]:
        return {
            "org_id": self.org_id,
            "name": self.name,
            **{change.value: len(self.found[change]) for change in Change},
            "examples": [example.as_dict() for example in self.examples()],
        }


def _example_order(difference: Difference) -> tuple[str, str, str]:
    return (difference.dataset_id, difference.file_id or "", difference.invocation_id)


@dataclass(frozen=True, slots=True)
class WhatIfReport:
    events: int  # records read, rejected ones included
    rejected: dict[str, int]  # by run: "current", "candidate"
    triggers: dict[str, TriggerDifferences]  # by report key, in key order

    def as_dict(self) -> dict[str, Any]:
        return {
            "triggers": {key: found.as_dict() for key, found in self.triggers.items()},
            "events": self.events,
            "rejected": self.rejected,
        }

    def to_json(self) -> bytes:
        return orjson.dumps(self.as_dict(), option=orjson.OPT_INDENT_2) + b"\n"

    def table(self) -> str:
        """The counts per trigger, each followed by its examples."""
        rejected = " and ".join(f"{n} under the {run} triggers" for run, n in self.rejected.items())
        lines = [f"whatif: {self.events} events read, rejected {rejected}"]
        if not self.triggers:
            lines.append("no invocation would be added, removed or changed")
            return "\n".join(lines) + "\n"
        width = max(len("TRIGGER"), *map(len, self.triggers))
        lines.append(f"{'TRIGGER':<{width}}  {'ADDED':>7}  {'REMOVED':>7}  {'CHANGED':>7}")
        for key, found in self.triggers.items():
            counts = "  ".join(f"{len(found.found[change]):>7}" for change in Change)
            lines.append(f"{key:<{width}}  {counts}")
            lines.extend(_example_line(example) for example in found.examples())
        return "\n".join(lines) + "\n"


def _example_line(example: Difference) -> str:
    unit = (
        example.dataset_id if example.file_id is None else f"{example.dataset_id} {example.file_id}"
    )
    fields = f"  ({', '.join(example.fields)})" if example.fields else ""
    return f"  {example.change:<7}  {unit}{fields}"


class _Counted:
    """Invocation keys of one run: a repeated (trigger, invocation_id) gets the next count."""

    def __init__(self) -> None:
        self._seen: Counter[tuple[str, str, str]] = Counter()

    def key_of(self, request: InvocationRequest) -> InvocationKey:
        name = (request["org_id"], request["trigger"]["name"], request["invocation_id"])
        count = self._seen[name]
        self._seen[name] = count + 1
        return (*name, count)


def _requested(request: InvocationRequest) -> Requested:
    per_file = request["for_each"] == ForEach.DATASET_FILE
    file_id = request["input_data"]["files"][0]["file_id"] if per_file else None
    return Requested(request["data_source"]["data_source_id"], file_id, request.to_json())


class _CurrentRun:
    """A `Sink` keeping the current run's invocation requests by key."""

    def __init__(self) -> None:
        self.requests: dict[InvocationKey, Requested] = {}
        self._keys = _Counted()

    def emit(self, origin: Origin, event: Event, result: EventResult) -> None:
        for request in result.invocations:
            self.requests[self._keys.key_of(request)] = _requested(request)

    def reject(self, origin: Origin, error: EventError) -> None:
        """Counted by the replay summary."""

    def flush(self) -> None:
        """Nothing is buffered."""


class _CandidateRun:
    """A `Sink` comparing the candidate run's requests with the current run's as they come: a
    match leaves `current`, so what remains of it at the end was removed."""

    def __init__(self, current: dict[InvocationKey, Requested]) -> None:
        self.current = current
        self.differences: list[tuple[InvocationKey, Difference]] = []
        self._keys = _Counted()

    def emit(self, origin: Origin, event: Event, result: EventResult) -> None:
        for request in result.invocations:
            key = self._keys.key_of(request)
            now = _requested(request)
            before = self.current.pop(key, None)
            if before is None:
                self.differences.append((key, _difference(Change.ADDED, key, now)))
            elif before.payload != now.payload:
                fields = _differing_fields(before.payload, now.payload)
                self.differences.append((key, _difference(Change.CHANGED, key, now, fields)))

    def reject(self, origin: Origin, error: EventError) -> None:
        """Counted by the replay summary."""

    def flush(self) -> None:
        """Nothing is buffered."""


def _difference(
    change: Change, key: InvocationKey, requested: Requested, fields: tuple[str, ...] = ()
) -> Difference:
    return Difference(change, key[2], requested.dataset_id, requested.file_id, fields)


def _differing_fields(before: bytes, after: bytes) -> tuple[str, ...]:
    old, new = orjson.loads(before), orjson.loads(after)
    return tuple(name for name in {**old, **new} if old.get(name) != new.get(name))


def report_keys(*registries: TriggerRegistry) -> dict[tuple[str, str], str]:
    """(org_id, name) -> report key: the name, or `org_id/name` when several orgs use it."""
    orgs_of: dict[str, set[str]] = {}
    for registry in registries:
        for trigger in registry:
            orgs_of.setdefault(trigger.name, set()).add(trigger.spec.org_id)
    return {
        (org, name): name if len(orgs) == 1 else f"{org}/{name}"
        for name, orgs in orgs_of.items()
        for org in orgs
    }


def what_if(
    events: Iterable[Origin],
    current: TriggerRegistry,
    candidate: TriggerRegistry,
    *,
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
    show_progress: bool = False,
) -> WhatIfReport:
    """Replay `events` under each registry and compare the invocations requested."""

    def run(
        events: Iterable[Origin], registry: TriggerRegistry, sink: Sink, progress: Progress | None
    ) -> ReplaySummary:
        evaluator = Evaluator(registry, StateStore(), record_evaluations=False)
        return replay(events, evaluator, sink, progress=progress, max_event_bytes=max_event_bytes)

    def bar(name: str, total: int | None = None, source: object = None) -> Progress | None:
        label = f"whatif ({name})"
        return Progress.for_terminal(label, total, source=source) if show_progress else None

    current_run = _CurrentRun()
    with spooled() as spool:
        # The current run reads the files, and its bar follows their bytes; the candidate's
        # reads the spool, as many events as the current run counted.
        before = run(spool.recording(events), current, current_run, bar("current", source=events))
        candidate_run = _CandidateRun(current_run.requests)
        after = run(spool.replaying(), candidate, candidate_run, bar("candidate", before.lines))
    removed = [
        (key, _difference(Change.REMOVED, key, requested))
        for key, requested in candidate_run.current.items()
    ]
    keys = report_keys(current, candidate)
    triggers: dict[str, TriggerDifferences] = {}
    for (org, name, _, _), difference in [*candidate_run.differences, *removed]:
        key = keys[(org, name)]
        found = triggers.setdefault(key, TriggerDifferences(org, name))
        found.found[difference.change].append(difference)
    return WhatIfReport(
        events=before.lines,
        rejected={"current": before.rejected, "candidate": after.rejected},
        triggers=dict(sorted(triggers.items())),
    )
