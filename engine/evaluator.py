"""The evaluation core (SPEC §4): event -> state -> candidate triggers -> conditions -> requests.

It knows nothing of Kafka or files: replay and the service are thin drivers around `Evaluator`.
`decide` is pure (it reads state, never writes it), so `explain` can ask it the same question.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from operator import attrgetter, itemgetter
from typing import Any

from engine.events import Event
from engine.registry import CompiledTrigger, TriggerRegistry
from engine.state import DatasetState, StateStore, fired_key

INVOKED = "invoked_action"
SKIPPED = "skipped"
_by_path = itemgetter("relative_path")
_by_name = attrgetter("name")


@dataclass(slots=True)
class Decision:
    outcome: str  # invoked_action | skipped
    reason: str | None  # already_run | condition_not_met | no_matching_files | trigger_disabled
    status: str  # evaluated | failed
    detail: str | None
    files: list[dict[str, Any]]  # the files the invocation is for (sorted), when invoked


@dataclass(slots=True)
class EventResult:
    invocations: list[dict[str, Any]] = field(default_factory=list)
    evaluations: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True)
class EvaluationStats:
    events: int = 0
    invocations: int = 0
    evaluations: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    failed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "evaluations": self.evaluations,
            "invocations": self.invocations,
            "skipped": dict(sorted(self.skipped.items())),
            "failed": self.failed,
        }


def _skip(reason: str, detail: str) -> Decision:
    return Decision(SKIPPED, reason, "evaluated", detail, [])


def decide(
    trigger: CompiledTrigger,
    ds: DatasetState,
    cause: str,
    file: dict[str, Any] | None,
    event_context: dict[str, Any] | None = None,
    selected: list[dict[str, Any]] | None = None,
) -> Decision:
    """Would `trigger` fire for dataset `ds` (and `file`, for dataset_file triggers) now?

    `selected`, when the caller already knows it, is every file of `ds` the trigger's inputs
    select, sorted by path (for dataset triggers under causes other than file_ingest).
    """
    if not trigger.spec.enabled:
        return _skip("trigger_disabled", "trigger is disabled")
    if trigger.template is None:
        return Decision(SKIPPED, None, "failed", trigger.failure, [])
    if file is not None:
        if fired_key(trigger.trigger_id, file["file_id"]) in ds.fired:
            return _skip("already_run", f"already invoked for file {file['file_id']}")
        if not trigger.condition(ds.record, file, event_context):
            return _skip("condition_not_met", "condition is false for this dataset and file")
        return Decision(INVOKED, None, "evaluated", None, [file])
    if trigger.trigger_id in ds.fired:
        return _skip("already_run", f"already invoked for dataset {ds.dataset_id}")
    if not trigger.condition(ds.record, None, event_context):
        return _skip("condition_not_met", "condition is false for this dataset")
    if selected is None:
        current = ds.current_files(ingested_only=cause == "file_ingest")
        matches = trigger.globs.matches
        selected = sorted((f for f in current if matches(f["relative_path"])), key=_by_path)
    unsatisfied = trigger.globs.unsatisfied_by([f["relative_path"] for f in selected])
    if unsatisfied:
        listed = ", ".join(repr(p) for p in unsatisfied)
        return _skip("no_matching_files", f"no current file matches required input {listed}")
    return Decision(INVOKED, None, "evaluated", None, selected)


class Evaluator:
    """Applies events to state and decides, for each, which triggers fire."""

    def __init__(
        self,
        registry: TriggerRegistry,
        state: StateStore,
        *,
        record_evaluations: bool = True,
    ) -> None:
        self.registry = registry
        self.state = state
        self.record_evaluations = record_evaluations
        self.stats = EvaluationStats()

    def process(self, event: Event) -> EventResult:
        """Apply `event` to state, then evaluate; a bad event raises `EventError`, state intact."""
        ds = self.state.apply(event)
        self.stats.events += 1
        result = EventResult()
        cause = event.cause
        if cause is None:
            return result
        index = self.registry.index
        ctx = event.context()
        if event.file is not None:
            file = ds.files[event.file["file_id"]]
            for trigger in index.file_candidates(event.org_id, cause, file["relative_path"]):
                target = file if trigger.spec.for_each == "dataset_file" else None
                self._evaluate(trigger, ds, cause, target, event, ctx, result)
            return result
        # Like a file event's candidates: the triggers whose inputs select some current file.
        selections = index.selections(event.org_id, cause, sorted(ds.files.values(), key=_by_path))
        for trigger in sorted(selections, key=_by_name):
            selected = selections[trigger]
            if trigger.spec.for_each == "dataset":
                self._evaluate(trigger, ds, cause, None, event, ctx, result, selected)
                continue
            for file in selected:
                self._evaluate(trigger, ds, cause, file, event, ctx, result)
        return result

    def _evaluate(
        self,
        trigger: CompiledTrigger,
        ds: DatasetState,
        cause: str,
        file: dict[str, Any] | None,
        event: Event,
        ctx: dict[str, Any],
        result: EventResult,
        selected: list[dict[str, Any]] | None = None,
    ) -> None:
        decision = decide(trigger, ds, cause, file, ctx, selected)
        stats = self.stats
        stats.evaluations += 1
        file_id = file["file_id"] if file is not None else None
        if decision.outcome == INVOKED:
            template = trigger.template
            assert template is not None
            self.state.mark_fired(ds, fired_key(trigger.trigger_id, file_id))
            result.invocations.append(
                template.request(
                    event.org_id,
                    ds.dataset_id,
                    file_id,
                    decision.files,
                    cause,
                    event.id,
                    event.time,
                )
            )
            stats.invocations += 1
        elif decision.status == "failed":
            stats.failed += 1
        else:
            stats.skipped[decision.reason or ""] += 1
        if self.record_evaluations:
            result.evaluations.append(
                {
                    "trigger_id": trigger.trigger_id,
                    "trigger_name": trigger.name,
                    "dataset_id": ds.dataset_id,
                    "file_id": file_id,
                    "cause": cause,
                    "event_id": event.id,
                    "outcome": decision.outcome,
                    "reason": decision.reason,
                    "status": decision.status,
                    "detail": decision.detail,
                }
            )
