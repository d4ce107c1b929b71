"""Why did (or would) a trigger fire for a dataset or file? The same `decide` the evaluator uses.

`TriggerHistory` watches a replay for one trigger and dataset, so that `explain` can also say when
the trigger fired and why then: at an event whose file its inputs match, at the completion of an
upload, or — level-triggered (SPEC §4.1) — at a later event of a cause it listens to, once the
dataset satisfied it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.compiled import CompiledTrigger
from engine.decide import decide, upload_in_progress
from engine.decisions import EventResult
from engine.events import Event
from engine.memo import DatasetMemo
from engine.ready import may_fire
from engine.state import DatasetState
from engine.vocabulary import EVENT_KINDS, Cause, EventType, ForEach, Outcome, StateEffect


@dataclass(frozen=True, slots=True)
class Seen:
    """An event of the dataset, as the history tells it."""

    event_id: str
    event_type: EventType
    path: str | None  # the event's file
    cause: Cause | None
    snapshot: bool  # it carried a dataset snapshot

    def describe(self) -> str:
        kind = self.event_type.value
        about = f"{kind} of {self.path}" if self.path else kind
        return f"event {self.event_id!r} ({about})"


class TriggerHistory:
    """What a replay showed of one dataset trigger on one dataset: since when the dataset
    satisfied it, and the event it fired at."""

    def __init__(self, trigger: CompiledTrigger, dataset_id: str) -> None:
        self.trigger = trigger
        self.dataset_id = dataset_id
        self.satisfied_since: Seen | None = None
        self.fired_at: tuple[Seen, Seen | None, Cause] | None = None  # event, satisfied since

    def observe(
        self, event: Event, ds: DatasetState, memo: DatasetMemo | None, result: EventResult
    ) -> None:
        """Note an event of the dataset (after the evaluator processed it)."""
        if (
            self.trigger.per_file
            or event.dataset_id != self.dataset_id
            or memo is None
            or self.fired_at is not None
        ):
            return
        file = event.file
        path = None if file is None else ds.files.get(file["file_id"], file).get("relative_path")
        seen = Seen(event.id, event.type, path, event.cause, event.dataset is not None)
        trigger = self.trigger
        for request in result.invocations:
            if request["trigger"]["trigger_id"] == trigger.trigger_id:
                self.fired_at = (seen, self.satisfied_since, Cause(request["cause"]))
                return
        satisfied = may_fire(trigger, ds, memo)
        if not satisfied:
            self.satisfied_since = None
        elif self.satisfied_since is None:
            self.satisfied_since = seen

    def lines(self, ds: DatasetState) -> list[str]:
        if self.fired_at is None:
            if self.satisfied_since is None:
                return []
            since = self.satisfied_since.describe()
            why = (
                "an upload is open on the dataset"
                if ds.uploads.open
                else "no event of a cause it listens to came since"
            )
            return [f"satisfied since {since}, not fired yet: {why}"]
        seen, since, cause = self.fired_at
        return [f"fired at {seen.describe()}, cause {cause}: {self._why(seen, since)}"]

    def _why(self, seen: Seen, since: Seen | None) -> str:
        trigger = self.trigger
        if EVENT_KINDS[seen.event_type].effect is StateEffect.CLOSE_UPLOAD:
            return "the completion of the dataset's last open upload evaluates the waiting triggers"
        if seen.path is not None and trigger.globs.matches(seen.path):
            return "the event's file matches its required inputs"
        why = (
            "a dataset trigger is evaluated at every event of a cause it listens to, whatever file "
            "the event carries"
        )
        if since is None or since.event_id == seen.event_id:
            made = "its dataset snapshot" if seen.snapshot else "it"
            return f"{why}; the file does not match its inputs, and {made} completed the trigger"
        heard = (
            ""
            if since.cause is None or since.cause in trigger.causes
            else f", cause {since.cause} it does not listen to"
        )
        return (
            f"{why}; the file does not match its inputs, but the dataset satisfied it since "
            f"{since.describe()}{heard}"
        )


def explain(
    trigger: CompiledTrigger,
    ds: DatasetState,
    cause: Cause,
    file_id: str | None = None,
    history: TriggerHistory | None = None,
) -> list[str]:
    """Human-readable lines: inputs and their files, condition leaves, fired state, uploads,
    history, outcome."""
    spec = trigger.spec
    ingested_only = cause == Cause.FILE_INGEST
    file = ds.files.get(file_id) if file_id is not None else None
    if file_id is not None and file is None:
        raise KeyError(f"file {file_id!r} is not a current file of dataset {ds.dataset_id!r}")
    if spec.for_each == ForEach.DATASET_FILE and file is None:
        raise KeyError(f"trigger {spec.name!r} is for_each dataset_file: name a file with --file")
    target = file if spec.for_each == ForEach.DATASET_FILE else None
    lines = [
        f"trigger {spec.name} ({spec.trigger_id}) org {spec.org_id}: for_each {spec.for_each}, "
        f"causes {', '.join(spec.causes)}, {'enabled' if spec.enabled else 'DISABLED'}",
        f"dataset {ds.dataset_id}: tags {ds.record['tags']}, metadata {ds.record['metadata']}, "
        f"{len(ds.files)} current files{'' if ds.exists else ' (deleted)'}",
        f"cause {cause}" + (" (only ingested files count)" if ingested_only else ""),
        "required inputs:",
    ]
    counted = ds.current_files(ingested_only=ingested_only)
    paths = (
        sorted(f["relative_path"] for f in counted) if target is None else [file["relative_path"]]
    )
    for pattern, matched in trigger.globs.explain(paths):
        shown = ", ".join(matched) if matched else "(no file)"
        lines.append(f"  {pattern!r} -> {shown}")
    lines.append("condition:")
    trace = trigger.condition.explain(ds.record, target, None)
    lines.extend(f"  {line}" for line in trace.render())
    fired = ds.has_fired(spec.trigger_id, target["file_id"] if target else None)
    lines.append(f"already fired: {'yes' if fired else 'no'}")
    if history is not None:
        lines.extend(history.lines(ds))
    if target is not None and not trigger.globs.matches(target["relative_path"]):
        lines.append("outcome: not evaluated (the file does not match the required inputs)")
        return lines
    return [*lines, _outcome(trigger, ds, cause, target)]


def _outcome(
    trigger: CompiledTrigger, ds: DatasetState, cause: Cause, target: dict[str, Any] | None
) -> str:
    decision = decide(trigger, ds, DatasetMemo(), cause, target)
    if decision.outcome is Outcome.INVOKED:
        files = ", ".join(f["relative_path"] for f in decision.files)
        verdict = f"invoked_action with files {files}"
    else:
        verdict = f"{decision.outcome} ({decision.status}), reason {decision.reason}: "
        verdict += str(decision.detail)
    if target is None and ds.uploads.open and trigger.enabled:
        waiting = upload_in_progress(ds)
        remembered = ", ".join(ds.uploads.causes) or "none yet"
        return (
            f"outcome: skipped, reason {waiting.reason}: {waiting.detail}; causes remembered for "
            f"its completion: {remembered}; as things stand, it would then be {verdict}"
        )
    return f"outcome: {verdict}"
