"""Why did (or would) a trigger fire for a dataset or file? The same `decide` the evaluator uses."""

from __future__ import annotations

from engine.compiled import CompiledTrigger
from engine.decide import decide
from engine.memo import DatasetMemo
from engine.state import DatasetState, fired_key
from engine.vocabulary import Cause, ForEach, Outcome


def explain(
    trigger: CompiledTrigger, ds: DatasetState, cause: Cause, file_id: str | None = None
) -> list[str]:
    """Human-readable lines: inputs and their files, condition leaves, fired state, outcome."""
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
    key = fired_key(spec.trigger_id, target["file_id"] if target else None)
    lines.append(f"already fired: {'yes' if key in ds.fired else 'no'}")
    if target is not None and not trigger.globs.matches(target["relative_path"]):
        lines.append("outcome: not evaluated (the file does not match the required inputs)")
        return lines
    decision = decide(trigger, ds, DatasetMemo(), cause, target)
    if decision.outcome is Outcome.INVOKED:
        files = ", ".join(f["relative_path"] for f in decision.files)
        lines.append(f"outcome: invoked_action with files {files}")
    else:
        lines.append(
            f"outcome: {decision.outcome} ({decision.status}), reason {decision.reason}: "
            f"{decision.detail}"
        )
    return lines
