"""The evaluation core: event -> state -> candidate triggers -> conditions -> requests.

It knows nothing of Kafka or files: replay and the service are thin drivers around `Evaluator`.
Each event is applied to state, then the triggers it evaluates (SPEC §4.1, §4.2) are decided with
`engine.decide`: those its file matches, or, for a dataset-level cause, those selecting a current
file (the decisions an event records); the ready dataset triggers (`engine.ready`) listening to
its cause; or, at the completion of a dataset's last open upload, the dataset triggers listening
to the causes remembered meanwhile.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from operator import attrgetter, itemgetter
from typing import Any

from engine.commands import backfill, command_trigger, invoke
from engine.compiled import CompiledTrigger
from engine.decide import decide, deferred, upload_in_progress
from engine.decisions import Decided, Decision, EventResult
from engine.events import Command, Event
from engine.index import TriggerIndex
from engine.invocations import InvocationRequest
from engine.memo import DatasetMemo, MemoStore
from engine.ready import file_written, ready_triggers, selecting_triggers, settle
from engine.registry import TriggerRegistry
from engine.state import DatasetState, StateStore
from engine.vocabulary import CAUSE_BITS, Cause, Outcome, Status

_by_path = itemgetter("relative_path")
_by_name = attrgetter("name")


def _by_name_of_trigger(decided: tuple[CompiledTrigger, Any, Decision, Cause]) -> str:
    return decided[0].name


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
            "skipped": {str(reason): n for reason, n in sorted(self.skipped.items())},
            "failed": self.failed,
        }


def file_decisions(
    matching: tuple[CompiledTrigger, ...],
    ds: DatasetState,
    memo: DatasetMemo,
    event: Event,
    cause: Cause,
    file: dict[str, Any],
    waiting: Decision | None = None,
) -> Decided:
    """The decisions of the triggers the event's file matches (`matching`: those an event
    records); pure like `decide` (each trigger reads only its own fired keys, so deciding all
    before marking any is the same). `waiting` is what dataset triggers record while uploads are
    open."""
    decided: Decided = []
    bit = CAUSE_BITS[cause]
    for trigger in matching:
        if not trigger.cause_bits & bit:
            continue
        if trigger.per_file:
            decision = decide(trigger, ds, memo, cause, file, event)
            decided.append((trigger, file, decision, cause))
        else:
            if waiting is None:
                decision = decide(trigger, ds, memo, cause, None, event)
            else:
                decision = deferred(trigger, waiting)
            decided.append((trigger, None, decision, cause))
    return decided


def ready_decisions(
    index: TriggerIndex,
    ds: DatasetState,
    memo: DatasetMemo,
    event: Event,
    cause: Cause,
    decided: Decided,
) -> Decided:
    """The ready dataset triggers listening to `cause` that `decided` does not hold yet, that
    fire: a dataset trigger is evaluated at every event of its causes, whatever file the event
    carries (SPEC §4.1). Their skips are not recorded, since their inputs do not match the
    event's file."""
    bit = CAUSE_BITS[cause]
    listening = [t for t in ready_triggers(index, ds, memo) if t.cause_bits & bit]
    if not listening:
        return []
    known = {trigger for trigger, _, _, _ in decided}
    fired: Decided = []
    for trigger in listening:
        if trigger in known:
            continue
        decision = decide(trigger, ds, memo, cause, None, event)
        if decision.outcome is Outcome.INVOKED:
            fired.append((trigger, None, decision, cause))
        else:
            settle(memo, trigger, decision, cause)
    return fired


def dataset_decisions(
    index: TriggerIndex,
    ds: DatasetState,
    memo: DatasetMemo,
    event: Event,
    cause: Cause,
    waiting: Decision | None = None,
) -> Decided:
    """A dataset-level cause: the triggers whose inputs select some current file (every dataset
    trigger that can fire among them), each decided for the dataset or for each file it
    selects."""
    selections: dict[CompiledTrigger, list[dict[str, Any]]] = {}
    bit = CAUSE_BITS[cause]
    for file in sorted(ds.files.values(), key=_by_path):
        for trigger in index.file_matches(event.org_id, file, memo.matches):
            if trigger.cause_bits & bit:
                selections.setdefault(trigger, []).append(file)
    decided: Decided = []
    for trigger in sorted(selections, key=_by_name):
        selected = selections[trigger]
        if trigger.per_file:
            decided.extend(
                (trigger, f, decide(trigger, ds, memo, cause, f, event), cause) for f in selected
            )
        elif waiting is None:
            decision = decide(trigger, ds, memo, cause, None, event, selected)
            decided.append((trigger, None, decision, cause))
        else:
            decided.append((trigger, None, deferred(trigger, waiting), cause))
    return decided


def completion_decisions(
    index: TriggerIndex,
    ds: DatasetState,
    memo: DatasetMemo,
    event: Event,
    released: tuple[Cause, ...],
) -> Decided:
    """The completion of a dataset's last open upload (SPEC §4.2): each dataset trigger listening
    to a cause remembered meanwhile is evaluated once, and fires under the first such cause
    (in arrival order) under which it is satisfied; else its skip is the first cause's."""
    decided: Decided = []
    for trigger in sorted(selecting_triggers(index, ds, memo), key=_by_name):
        listened = [c for c in released if trigger.cause_bits & CAUSE_BITS[c]]
        if not listened or not memo.selections.get(trigger.globs, False, ds.files).entries:
            continue  # it listens to none of the causes, or selects no current file
        decisions = [(decide(trigger, ds, memo, c, None, event), c) for c in listened]
        fired = [(d, c) for d, c in decisions if d.outcome is Outcome.INVOKED]
        decision, cause = fired[0] if fired else decisions[0]
        decided.append((trigger, None, decision, cause))
    return decided


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
        # Derived from `state`, per dataset, and kept with it (see `engine.memo`).
        self.memos = MemoStore()

    def process(self, event: Event) -> EventResult:
        """Apply `event` to state, then evaluate; a bad event raises `EventError`, state intact.
        The result holds the state changes the event made, fired keys last."""
        if event.command is not None:
            return self._command(event, event.command)
        state = self.state
        ds = state.apply(event)
        released = state.released
        changes = state.take_changes()
        self.stats.events += 1
        result = EventResult(changes=changes)
        cause = event.cause
        if cause is None and not released:
            if changes:
                self.memos.following(ds, changes)
            return result
        memo = self.memos.following(ds, changes)
        decided = self._decisions(ds, memo, event, cause, released)
        self._conclude(result, decided, ds, memo, event)
        return result

    def _command(self, event: Event, command: Command) -> EventResult:
        """An operator command (`engine.commands`): it changes no dataset, only fired keys."""
        trigger = command_trigger(self.registry, event, command)
        if command.idempotency_id is not None:
            acted_on = [invoke(trigger, self.state, self.memos, event, command)]
        else:
            acted_on = list(backfill(trigger, self.state, self.memos, event, command))
        self.stats.events += 1
        result = EventResult()
        for ds, memo, decided in acted_on:
            self._conclude(result, decided, ds, memo, event)
        return result

    def _decisions(
        self,
        ds: DatasetState,
        memo: DatasetMemo,
        event: Event,
        cause: Cause | None,
        released: tuple[Cause, ...],
    ) -> Decided:
        index = self.registry.index
        if released:
            return completion_decisions(index, ds, memo, event, released)
        assert cause is not None
        waiting = upload_in_progress(ds) if ds.uploads.open else None
        if event.file is None:
            return dataset_decisions(index, ds, memo, event, cause, waiting)
        file = ds.files[event.file["file_id"]]
        matching = index.file_matches(event.org_id, file, memo.matches)
        decided_bits = 0 if waiting is not None else CAUSE_BITS[cause]
        file_written(memo, ds, matching, index.generation, decided_bits)
        decided = file_decisions(matching, ds, memo, event, cause, file, waiting)
        if waiting is None and (fired := ready_decisions(index, ds, memo, event, cause, decided)):
            decided.extend(fired)
            decided.sort(key=_by_name_of_trigger)
        return decided

    def _conclude(
        self,
        result: EventResult,
        decided: Decided,
        ds: DatasetState,
        memo: DatasetMemo,
        event: Event,
    ) -> None:
        """Make the invocations, mark their fired keys, count and record the decisions."""
        stats = self.stats
        invocations = result.invocations
        before = len(invocations)
        for trigger, target, decision, cause in decided:
            if not trigger.per_file:
                settle(memo, trigger, decision, cause)
            if decision.outcome is Outcome.INVOKED:
                invocations.append(self._invoke(trigger, target, decision, ds, cause, event))
            elif decision.status is Status.FAILED:
                stats.failed += 1
            else:
                stats.skipped[decision.reason or ""] += 1
        stats.evaluations += len(decided)
        if len(invocations) > before:
            stats.invocations += len(invocations) - before
            result.changes.extend(self.state.take_changes())
        if self.record_evaluations:
            result.evaluations.extend(
                evaluation_record(trigger, target, decision, ds, cause, event)
                for trigger, target, decision, cause in decided
            )

    def _invoke(
        self,
        trigger: CompiledTrigger,
        file: dict[str, Any] | None,
        decision: Decision,
        ds: DatasetState,
        cause: Cause,
        event: Event,
    ) -> InvocationRequest:
        """Mark the decision's fired key and make its invocation request."""
        template, fired = trigger.template, decision.fired
        assert template is not None and fired is not None
        if decision.fired_file is None:
            self.state.mark_fired(ds, fired)
        else:
            self.state.mark_file_fired(ds, fired, decision.fired_file)
        file_id = None if file is None else file["file_id"]
        command = event.command
        if command is None:
            return template.request(
                event.org_id, ds.dataset_id, file_id, decision.files, cause, event.id, event.time
            )
        return template.request(
            event.org_id,
            ds.dataset_id,
            file_id,
            decision.files,
            cause,
            event.id,
            event.time,
            command.source,
            command.invocation_key,
        )


def evaluation_record(
    trigger: CompiledTrigger,
    file: dict[str, Any] | None,
    decision: Decision,
    ds: DatasetState,
    cause: Cause,
    event: Event,
) -> dict[str, Any]:
    """One line of the evaluations output: a decision, and what it was about."""
    return {
        "trigger_id": trigger.trigger_id,
        "trigger_name": trigger.name,
        "dataset_id": ds.dataset_id,
        "file_id": None if file is None else file["file_id"],
        "cause": cause,
        "event_id": event.id,
        "outcome": decision.outcome,
        "reason": decision.reason,
        "status": decision.status,
        "detail": decision.detail,
    }
