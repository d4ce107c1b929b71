"""The ready set: per dataset, the dataset triggers that may fire at its next evaluation point.

The rule (SPEC §4.1) evaluates every dataset trigger of the org at every event of a cause it
listens to, whatever file the event carries. Almost all of those evaluations are skips that the
dataset's state proves without evaluating: a dataset trigger fires only while it is enabled, has
not fired for the dataset, its condition holds on the record and each positive input pattern
selects a current file. So each dataset keeps, in its memo, the triggers for which none of that is
disproved — a superset of the satisfied, unfired ones, never missing one:

- a file written can only satisfy the triggers its path matches: those decided at its event are
  added unless their decision disproves them, the others unless `may_fire` does, at the cost of
  the lookup the file's own decisions make anyway;
- a record change can satisfy any trigger that selects a current file: the set is rebuilt from
  those, which the memo also keeps (a registry change rebuilds both, one remembered path lookup
  per file);
- a file removed, a fire or a record change can only disprove: members are dropped when a
  decision shows it, or at the rebuild.

An event then decides the triggers its file matches (and records them, as before) plus the ready
ones listening to its cause, which record only when they fire. The cost is the ready set's size,
not the number of the org's dataset triggers.
"""

from __future__ import annotations

from collections.abc import Iterable

from engine.compiled import CompiledTrigger
from engine.decide import condition_holds
from engine.decisions import Decision
from engine.index import TriggerIndex
from engine.memo import DatasetMemo
from engine.state import DatasetState
from engine.vocabulary import Cause, Outcome, Reason

Ready = dict[CompiledTrigger, None]  # insertion-ordered set


def ready_triggers(index: TriggerIndex, ds: DatasetState, memo: DatasetMemo) -> Ready:
    """The dataset's ready set, rebuilt if the record or the registry changed since it was."""
    selecting = selecting_triggers(index, ds, memo)
    ready = memo.ready
    if ready is None:
        ready = memo.ready = {t: None for t in selecting if may_fire(t, ds, memo)}
    return ready


def selecting_triggers(index: TriggerIndex, ds: DatasetState, memo: DatasetMemo) -> Ready:
    """The dataset triggers whose inputs select some current file of the dataset, and perhaps
    some that selected a file since removed (a superset: removals are not followed)."""
    selecting = memo.selecting
    if selecting is None or memo.generation != index.generation:
        selecting = memo.selecting = {}
        for file in ds.files.values():
            for trigger in index.file_matches(ds.org_id, file, memo.matches):
                if not trigger.per_file:
                    selecting[trigger] = None
        memo.generation = index.generation
        memo.ready = None
    return selecting


def may_fire(trigger: CompiledTrigger, ds: DatasetState, memo: DatasetMemo) -> bool:
    """False when the state proves the dataset trigger cannot fire at any evaluation point."""
    if not trigger.enabled or trigger.trigger_id in ds.fired:
        return False
    if trigger.dataset_condition and not condition_holds(trigger, ds, memo, None, None):
        return False
    return not memo.selections.get(trigger.globs, False, ds.files).unsatisfied()


def file_written(
    memo: DatasetMemo,
    ds: DatasetState,
    matching: Iterable[CompiledTrigger],
    generation: int,
    decided_bits: int,
) -> None:
    """A file was written whose path the `matching` triggers select: they select a file now, and
    the ready set gains those it may satisfy. Those listening to `decided_bits` are decided at
    this event, and `settle` follows their decisions instead."""
    selecting, ready = memo.selecting, memo.ready
    if selecting is None or memo.generation != generation:
        return  # rebuilt when next asked
    for trigger in matching:
        if trigger.per_file:
            continue
        selecting[trigger] = None
        if trigger.cause_bits & decided_bits or ready is None or trigger in ready:
            continue
        if may_fire(trigger, ds, memo):
            ready[trigger] = None


def settle(memo: DatasetMemo, trigger: CompiledTrigger, decision: Decision, cause: Cause) -> None:
    """Follow a dataset trigger's decision: drop it from the ready set if the decision disproved
    it for good, else hold it there (it may fire at a later event)."""
    ready = memo.ready
    if ready is None or decision.reason is Reason.UPLOAD_IN_PROGRESS:  # not evaluated
        return
    if cause is Cause.MANUAL:  # an invoke ignores the condition and the rule's fired key
        return
    if _disproves(trigger, decision, cause):
        ready.pop(trigger, None)
    else:
        ready[trigger] = None


def _disproves(trigger: CompiledTrigger, decision: Decision, cause: Cause) -> bool:
    if decision.outcome is Outcome.INVOKED:
        return True  # fired: already_run from now on
    reason = decision.reason
    if reason is Reason.ALREADY_RUN or reason is Reason.TRIGGER_DISABLED:
        return True
    if reason is Reason.CONDITION_NOT_MET:
        return trigger.dataset_condition  # a condition reading the event may hold at the next
    # Under file_ingest only ingested files count: every current file may still select.
    return reason is Reason.NO_MATCHING_FILES and cause != Cause.FILE_INGEST
