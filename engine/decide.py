"""One decision: would a trigger fire for a unit — a dataset, or one of its files — now?

`decide` is pure: it reads state and never changes it (it only memoizes what it derives from
state: condition verdicts, input selections), so the evaluator, `explain` and the ready set
(`engine.ready`) all ask it the same question.
"""

from __future__ import annotations

from typing import Any

from engine.compiled import CompiledTrigger
from engine.decisions import Decision
from engine.events import Event
from engine.memo import DatasetMemo
from engine.state import DatasetState
from engine.vocabulary import Cause, Outcome, Reason, Status


def skip(reason: Reason, detail: str) -> Decision:
    return Decision(Outcome.SKIPPED, reason, Status.EVALUATED, detail, ())


# The skips that say the same thing every time are made once.
_DISABLED = skip(Reason.TRIGGER_DISABLED, "trigger is disabled")
_FILE_CONDITION_FALSE = skip(
    Reason.CONDITION_NOT_MET, "condition is false for this dataset and file"
)
_DATASET_CONDITION_FALSE = skip(Reason.CONDITION_NOT_MET, "condition is false for this dataset")


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
    rerun: bool = False,
) -> Decision:
    """Would `trigger` fire for dataset `ds` (and `file`, for dataset_file triggers) now?

    `selected`, when the caller already knows it (dataset_metadata_update), is every current file
    of `ds` the trigger's inputs select, sorted by path. A `rerun` (backfill) fires again where
    the trigger fired before.
    """
    if not trigger.enabled:
        return _DISABLED
    if trigger.template is None:
        return Decision(Outcome.SKIPPED, None, Status.FAILED, trigger.failure, ())
    if file is not None:
        file_id = file["file_id"]
        if trigger.trigger_id in ds.fired_files.get(file_id, ()) and not rerun:
            return skip(Reason.ALREADY_RUN, f"already invoked for file {file_id}")
        if not condition_holds(trigger, ds, memo, file, event):
            return _FILE_CONDITION_FALSE
        return Decision(
            Outcome.INVOKED, None, Status.EVALUATED, None, (file,), trigger.trigger_id, file_id
        )
    if trigger.trigger_id in ds.fired and not rerun:
        return skip(Reason.ALREADY_RUN, f"already invoked for dataset {ds.dataset_id}")
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


def decide_invoke(
    trigger: CompiledTrigger,
    ds: DatasetState,
    memo: DatasetMemo,
    file_id: str | None,
    key: str,
) -> Decision:
    """An operator's invoke (SPEC §4.4): the trigger's action for the dataset (or its file
    `file_id`) now, whatever its condition, causes and automatic fired key, with the current files
    its inputs match; `key` (a `manual_key`) deduplicates invokes."""
    if trigger.template is None:
        return Decision(Outcome.SKIPPED, None, Status.FAILED, trigger.failure, ())
    if key in ds.fired:
        return skip(Reason.ALREADY_RUN, "already invoked with this idempotency id")
    if file_id is not None:
        file = ds.files.get(file_id)
        if file is None:
            return skip(Reason.NO_MATCHING_FILES, f"file {file_id} is not a current file")
        if not trigger.globs.matches(file["relative_path"]):
            detail = f"file {file_id} does not match the required inputs"
            return skip(Reason.NO_MATCHING_FILES, detail)
        return Decision(Outcome.INVOKED, None, Status.EVALUATED, None, (file,), key)
    files = memo.selections.get(trigger.globs, False, ds.files).files(ds.files)
    if not files:
        return skip(Reason.NO_MATCHING_FILES, "no current file matches the required inputs")
    return Decision(Outcome.INVOKED, None, Status.EVALUATED, None, files, key)


def deferred(trigger: CompiledTrigger, waiting: Decision) -> Decision:
    """A dataset trigger's record while uploads are open (`waiting`: `upload_in_progress`), unless
    it is disabled."""
    return waiting if trigger.enabled else _DISABLED


def upload_in_progress(ds: DatasetState) -> Decision:
    """What a dataset trigger records while uploads are open on its dataset (SPEC §4.2): it is
    not evaluated, and waits for the completion of the last one."""
    opened = ", ".join(f"{tid!r} (open since event {ev!r})" for tid, ev in ds.uploads.open.items())
    return skip(Reason.UPLOAD_IN_PROGRESS, f"waits for the upload to complete: {opened}")


def _no_matching_files(unsatisfied: list[str]) -> Decision:
    listed = ", ".join(repr(p) for p in unsatisfied)
    return skip(Reason.NO_MATCHING_FILES, f"no current file matches required input {listed}")
