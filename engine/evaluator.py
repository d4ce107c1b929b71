"""The evaluation core: event -> state -> candidate triggers -> conditions -> requests.

It knows nothing of Kafka or files: replay and the service are thin drivers around `Evaluator`.
`decide` is pure: it reads state and never changes it (it only memoizes what it derives from
state: condition verdicts, path matches, input selections), so `explain` can ask it the same
question.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from operator import attrgetter, itemgetter
from typing import Any

from engine.compiled import CompiledTrigger
from engine.decisions import Decision, EventResult
from engine.events import Event
from engine.index import TriggerIndex
from engine.invocations import InvocationRequest
from engine.memo import DatasetMemo, MemoStore
from engine.registry import TriggerRegistry
from engine.state import DatasetState, StateStore
from engine.vocabulary import CAUSE_BITS, Cause, Outcome, Reason, Status

_by_path = itemgetter("relative_path")
_by_name = attrgetter("name")


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


def _skip(reason: Reason, detail: str) -> Decision:
    return Decision(Outcome.SKIPPED, reason, Status.EVALUATED, detail, ())


# The skips that say the same thing every time are made once.
_DISABLED = _skip(Reason.TRIGGER_DISABLED, "trigger is disabled")
_FILE_CONDITION_FALSE = _skip(
    Reason.CONDITION_NOT_MET, "condition is false for this dataset and file"
)
_DATASET_CONDITION_FALSE = _skip(Reason.CONDITION_NOT_MET, "condition is false for this dataset")


def condition_holds(
    trigger: CompiledTrigger,
    ds: DatasetState,
    memo: DatasetMemo,
    file: dict[str, Any] | None,
    event: Event | None,
) -> bool:
    """The trigger's condition's verdict; one that reads only the dataset record is evaluated once
    per record and condition (a remembered verdict is found without reading the condition: with
    many triggers, every object read is likely a cache miss)."""
    if trigger.dataset_condition:
        verdicts = memo.verdicts
        token = trigger.condition_token
        verdict = verdicts.get(token)
        if verdict is None:
            verdict = verdicts[token] = trigger.condition.evaluate(ds.record, None, None)
        return verdict
    condition = trigger.condition
    context = event.context() if event is not None and condition.references_event else None
    return condition.evaluate(ds.record, file, context)


def decide(
    trigger: CompiledTrigger,
    ds: DatasetState,
    memo: DatasetMemo,
    cause: Cause,
    file: dict[str, Any] | None,
    event: Event | None = None,
    selected: list[dict[str, Any]] | None = None,
) -> Decision:
    """Would `trigger` fire for dataset `ds` (and `file`, for dataset_file triggers) now?

    `selected`, when the caller already knows it (dataset_metadata_update), is every current file
    of `ds` the trigger's inputs select, sorted by path.
    """
    if not trigger.enabled:
        return _DISABLED
    if trigger.template is None:
        return Decision(Outcome.SKIPPED, None, Status.FAILED, trigger.failure, ())
    if file is not None:
        fired = trigger.fired_prefix + file["file_id"]
        if fired in ds.fired:
            return _skip(Reason.ALREADY_RUN, f"already invoked for file {file['file_id']}")
        if not condition_holds(trigger, ds, memo, file, event):
            return _FILE_CONDITION_FALSE
        return Decision(Outcome.INVOKED, None, Status.EVALUATED, None, (file,), fired)
    if trigger.trigger_id in ds.fired:
        return _skip(Reason.ALREADY_RUN, f"already invoked for dataset {ds.dataset_id}")
    if not condition_holds(trigger, ds, memo, None, event):
        return _DATASET_CONDITION_FALSE
    if selected is None:
        ingested_only = cause == Cause.FILE_INGEST
        selection = memo.selections.get(trigger.globs, ingested_only, ds.files)
        if unsatisfied := selection.unsatisfied():
            return _no_matching_files(unsatisfied)
        files = selection.files(ds.files)
        return Decision(Outcome.INVOKED, None, Status.EVALUATED, None, files, trigger.trigger_id)
    if unsatisfied := trigger.globs.unsatisfied_by([f["relative_path"] for f in selected]):
        return _no_matching_files(unsatisfied)
    return Decision(Outcome.INVOKED, None, Status.EVALUATED, None, selected, trigger.trigger_id)


def _no_matching_files(unsatisfied: list[str]) -> Decision:
    listed = ", ".join(repr(p) for p in unsatisfied)
    return _skip(Reason.NO_MATCHING_FILES, f"no current file matches required input {listed}")


# (trigger, the file it was decided for (None: the dataset), decision)
Decided = list[tuple[CompiledTrigger, dict[str, Any] | None, Decision]]


def file_decisions(
    index: TriggerIndex,
    ds: DatasetState,
    memo: DatasetMemo,
    event: Event,
    cause: Cause,
    file: dict[str, Any],
) -> Decided:
    """Every trigger a file event touches, with its decision; pure like `decide` (each trigger
    reads only its own fired keys, so deciding all before marking any is the same)."""
    decided: Decided = []
    bit = CAUSE_BITS[cause]
    for trigger in index.file_matches(event.org_id, file, memo.matches):
        if not trigger.cause_bits & bit:
            continue
        target = file if trigger.per_file else None
        decided.append((trigger, target, decide(trigger, ds, memo, cause, target, event)))
    return decided


def dataset_decisions(
    index: TriggerIndex, ds: DatasetState, memo: DatasetMemo, event: Event, cause: Cause
) -> Decided:
    """A dataset-level cause: like a file event's candidates, the triggers whose inputs select
    some current file, each decided for the dataset or for each file it selects."""
    selections: dict[CompiledTrigger, list[dict[str, Any]]] = {}
    bit = CAUSE_BITS[cause]
    for file in sorted(ds.files.values(), key=_by_path):
        for trigger in index.file_matches(event.org_id, file, memo.matches):
            if trigger.cause_bits & bit:
                selections.setdefault(trigger, []).append(file)
    decided: Decided = []
    for trigger in sorted(selections, key=_by_name):
        selected = selections[trigger]
        if not trigger.per_file:
            decision = decide(trigger, ds, memo, cause, None, event, selected)
            decided.append((trigger, None, decision))
            continue
        decided.extend((trigger, f, decide(trigger, ds, memo, cause, f, event)) for f in selected)
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
        self.memos = MemoStore()  # derived from `state`, per dataset: see `engine.memo`

    def process(self, event: Event) -> EventResult:
        """Apply `event` to state, then evaluate; a bad event raises `EventError`, state intact.
        The result holds the state changes the event made, fired keys last."""
        state = self.state
        ds = state.apply(event)
        changes = state.take_changes()
        memo = self.memos.following(ds, changes)
        stats = self.stats
        stats.events += 1
        result = EventResult(changes=changes)
        cause = event.cause
        if cause is None:
            return result
        index = self.registry.index
        if event.file is not None:
            file = ds.files[event.file["file_id"]]
            decided = file_decisions(index, ds, memo, event, cause, file)
        else:
            decided = dataset_decisions(index, ds, memo, event, cause)
        invocations = result.invocations
        for trigger, target, decision in decided:
            if decision.outcome is Outcome.INVOKED:
                invocations.append(self._invoke(trigger, target, decision, ds, cause, event))
            elif decision.status is Status.FAILED:
                stats.failed += 1
            else:
                stats.skipped[decision.reason or ""] += 1
        stats.evaluations += len(decided)
        stats.invocations += len(invocations)
        if invocations:
            changes.extend(state.take_changes())
        if self.record_evaluations:
            result.evaluations = [
                evaluation_record(trigger, target, decision, ds, cause, event)
                for trigger, target, decision in decided
            ]
        return result

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
        self.state.mark_fired(ds, fired)
        file_id = None if file is None else file["file_id"]
        return template.request(
            event.org_id, ds.dataset_id, file_id, decision.files, cause, event.id, event.time
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
