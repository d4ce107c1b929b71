"""Operator commands (SPEC §4.4): a backfill or an invoke is an event, ordered with the data it
acts on, so that the service applies it exactly once and a replay of the log reproduces it.

This module finds what a command acts on and decides it with `engine.decide`; the evaluator makes
the invocations and records, as for any event. A command that cannot be carried out (an unknown
trigger, a dataset not in state, a file id where none belongs) is bad input: `EventError`.
"""

from __future__ import annotations

from collections.abc import Iterator

from engine.compiled import CompiledTrigger
from engine.decide import decide, decide_invoke, deferred, upload_in_progress
from engine.decisions import Decided
from engine.errors import EventError
from engine.events import Command, Event
from engine.memo import DatasetMemo, MemoStore
from engine.registry import TriggerRegistry
from engine.state import DatasetState, StateStore, manual_key
from engine.vocabulary import Cause


def command_trigger(registry: TriggerRegistry, event: Event, command: Command) -> CompiledTrigger:
    trigger = registry.get(event.org_id, command.name)
    if trigger is None:
        where = f"event {event.id!r} field 'data.trigger.name'"
        raise EventError(where, None, f"no trigger {command.name!r} in org {event.org_id!r}")
    return trigger


def backfill(
    trigger: CompiledTrigger, state: StateStore, memos: MemoStore, event: Event, command: Command
) -> Iterator[tuple[DatasetState, DatasetMemo, Decided]]:
    """Each dataset of the org in state, by id, with the trigger's decisions for it: cause
    `backfill` whatever the trigger's causes, every current file counts, `already_run` unless
    `rerun`; a dataset with an open upload is skipped, `upload_in_progress`. Datasets whose files
    the trigger's inputs do not select are not evaluated (nothing to record, nothing to fire)."""
    for ds in state.datasets_of(event.org_id):
        memo = memos.following(ds, ())
        selected = memo.selections.get(trigger.globs, False, ds.files).files(ds.files)
        if not selected:
            continue
        if ds.uploads.open:
            yield (
                ds,
                memo,
                [(trigger, None, deferred(trigger, upload_in_progress(ds)), Cause.BACKFILL)],
            )
            continue
        targets = selected if trigger.per_file else [None]
        rerun = command.rerun
        yield (
            ds,
            memo,
            [
                (
                    trigger,
                    f,
                    decide(trigger, ds, memo, Cause.BACKFILL, f, event, rerun=rerun),
                    Cause.BACKFILL,
                )
                for f in targets
            ],
        )


def invoke(
    trigger: CompiledTrigger, state: StateStore, memos: MemoStore, event: Event, command: Command
) -> tuple[DatasetState, DatasetMemo, Decided]:
    """The invoke's dataset and its one decision: not deferred by an open upload, whatever the
    condition, causes and automatic fired key; deduplicated by idempotency id."""
    ds = _invoked_dataset(state, event)
    file_id = command.file_id
    if trigger.per_file and file_id is None:
        reason = f"required to invoke {trigger.name!r}, which is for_each dataset_file"
        raise EventError(f"event {event.id!r} field 'data.file_id'", None, reason)
    if not trigger.per_file and file_id is not None:
        reason = f"not allowed: {trigger.name!r} is for_each dataset (it invokes for the dataset)"
        raise EventError(f"event {event.id!r} field 'data.file_id'", None, reason)
    memo = memos.following(ds, ())
    assert command.idempotency_id is not None  # the event checks require it
    decision = decide_invoke(
        trigger, ds, memo, file_id, manual_key(trigger.trigger_id, command.idempotency_id)
    )
    file = None if file_id is None else ds.files.get(file_id, {"file_id": file_id})
    return ds, memo, [(trigger, file, decision, Cause.MANUAL)]


def _invoked_dataset(state: StateStore, event: Event) -> DatasetState:
    ds = state.get(event.dataset_id)
    where = f"event {event.id!r} field 'datasetid'"
    if ds is None or not ds.exists:
        raise EventError(where, None, f"dataset {event.dataset_id!r} is not in state")
    if ds.org_id != event.org_id:
        reason = f"dataset {event.dataset_id!r} belongs to org {ds.org_id!r}, not {event.org_id!r}"
        raise EventError(where, None, reason)
    return ds
