"""The naive baseline and the literal reference: for every event, loop over every trigger of the
event's org and apply the evaluation rule as the specification words it (§4.1, §4.2).

Per trigger and event it does the obvious thing: `pathspec`'s `match_file` on the trigger's
compiled `PathSpec` (compiled once per trigger, as any sane naive engine would), then the condition
*interpreted* by walking its dict (`benchmarks.interpreters`). It keeps its own dataset state, open
uploads and fired keys, written from the rules of events and evaluation, and shares nothing with
the engine but its vocabulary, so that `tests/test_differential.py` compares two independent
implementations of the same contract.

The rule, for an event of cause C on dataset D, after the event is applied:
- a per-file trigger listening to C decides for the event's file if it matches, or (a dataset
  cause) for every current file of D that matches, by path;
- a dataset trigger listening to C decides for D whatever file the event carries, unless an upload
  is open on D: then the event's cause is remembered instead, and the completion that closes D's
  last open upload decides each dataset trigger once, under the first remembered cause (in arrival
  order) it listens to and is satisfied under.
A decision invokes unless the unit fired before, the condition is false, or (dataset triggers) a
positive required input is matched by no selected current file. Invocations come in trigger-name
order, then file path.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from pathspec import PathSpec
from pathspec.patterns.gitignore.spec import GitIgnoreSpecPattern

from benchmarks.interpreters import jsonlogic_holds, roboto_holds
from engine.vocabulary import DEFAULT_CAUSES, EVENT_KINDS, Cause, EventType, ForEach

Json = dict[str, Any]

ROBOTO_KEYS = frozenset({"field", "comparator", "value", "operator", "conditions"})
_FILE_DEFAULTS: Json = {
    "size": None,
    "tags": [],
    "metadata": {},
    "ingestion_status": "not_ingested",
}
_by_path = itemgetter("relative_path")


@dataclass(frozen=True, slots=True, order=True)
class Invocation:
    """What an invocation is for, when and why: the comparison key between engine and baseline."""

    org_id: str
    trigger: str
    dataset_id: str
    file_id: str | None  # for dataset_file triggers
    files: tuple[str, ...]  # file ids, in relative-path order
    cause: str
    event_id: str  # the event that fired it (for a deferred dataset trigger: the completion)

    @classmethod
    def from_request(cls, request: Json) -> Invocation:
        """The key of an engine invocation request."""
        files = tuple(f["file_id"] for f in request["input_data"]["files"])
        per_file = request["for_each"] == ForEach.DATASET_FILE
        return cls(
            request["org_id"],
            request["trigger"]["name"],
            request["data_source"]["data_source_id"],
            files[0] if per_file else None,
            files,
            str(request["cause"]),
            request["event_id"],
        )


# Compiled once per distinct list: triggers with the same required inputs share the PathSpec, which
# shortens the baseline's build and leaves its per-event work (one `match_file` per trigger) as is.
@functools.cache
def _gitignore(patterns: tuple[str, ...]) -> PathSpec:
    return PathSpec.from_lines(GitIgnoreSpecPattern, patterns)


@dataclass(slots=True)
class NaiveTrigger:
    org_id: str
    name: str
    for_each: str
    causes: frozenset[str]
    enabled: bool
    spec: PathSpec  # all required inputs: the gitignore verdict
    positives: tuple[PathSpec, ...]  # each positive pattern alone: has a selected file matched it?
    dialect: str  # "none" | "roboto" | "jsonlogic"
    condition: Json | None

    @classmethod
    def from_definition(cls, definition: Json) -> NaiveTrigger:
        inputs = [p for p in definition["required_inputs"] if p.strip() and p[0] != "#"]
        condition = _shorthand(definition.get("required_tag"), definition.get("required_metadata"))
        condition = condition or definition.get("condition")
        dialect = "none"
        if condition is not None:
            dialect = "roboto" if ROBOTO_KEYS & condition.keys() else "jsonlogic"
        return cls(
            org_id=definition["org_id"],
            name=definition["name"],
            for_each=definition.get("for_each", ForEach.DATASET),
            causes=frozenset(definition.get("causes", DEFAULT_CAUSES)),
            enabled=definition.get("enabled", True),
            spec=_gitignore(tuple(inputs)),
            positives=tuple(_gitignore((p,)) for p in inputs if not p.startswith("!")),
            dialect=dialect,
            condition=condition,
        )

    def holds(self, dataset: Json, file: Json | None, event: Json) -> bool:
        if self.condition is None:
            return True
        if self.dialect == "roboto":
            return roboto_holds(self.condition, dataset, file)
        return jsonlogic_holds(self.condition, {"dataset": dataset, "file": file, "event": event})


def _shorthand(tags: list[str] | None, metadata: Json | None) -> Json | None:
    leaves = [{"field": "tags", "comparator": "CONTAINS", "value": t} for t in tags or ()]
    leaves += [
        {"field": f"metadata.{key}", "comparator": "EQUALS", "value": value}
        for key, value in (metadata or {}).items()
    ]
    return {"operator": "AND", "conditions": leaves} if leaves else None


@dataclass(slots=True)
class _Uploads:
    open: set[str] = field(default_factory=set)  # transaction ids
    closed: set[str] = field(default_factory=set)  # completed or discarded: never reopened
    causes: list[str] = field(default_factory=list)  # remembered while any is open, in order


@dataclass(slots=True)
class _Dataset:
    record: Json  # {dataset_id, org_id, tags, metadata}: what conditions read
    files: dict[str, Json] = field(default_factory=dict)
    fired: set[tuple[str, str | None]] = field(default_factory=set)  # (trigger, file id or None)
    uploads: _Uploads = field(default_factory=_Uploads)


class NaiveEngine:
    """Every trigger of the org, every event: the cost the index exists to avoid."""

    def __init__(self, definitions: Iterable[Json]) -> None:
        self._by_org: dict[str, list[NaiveTrigger]] = {}
        for definition in definitions:
            trigger = NaiveTrigger.from_definition(definition)
            self._by_org.setdefault(trigger.org_id, []).append(trigger)
        for triggers in self._by_org.values():
            triggers.sort(key=lambda t: t.name)
        self._datasets: dict[str, _Dataset] = {}

    def triggers_of(self, org_id: str) -> int:
        return len(self._by_org.get(org_id, ()))

    def process(self, event: Json) -> list[Invocation]:
        """Apply a (valid) event to the baseline's state and return the invocations it causes."""
        dataset, released = self._apply(event)
        found = self._evaluate(event, dataset, released)
        dataset.fired.update((i.trigger, i.file_id) for i in found)
        return found

    def adopt(self, event: Json, invocations: Iterable[Invocation]) -> None:
        """Apply a (valid) event to state without evaluating it, and mark `invocations` (decided
        elsewhere for this event) as fired: a caller that checks only some events of a stream
        keeps the baseline's state in step over the others."""
        dataset, _ = self._apply(event)
        dataset.fired.update((i.trigger, i.file_id) for i in invocations)

    def _evaluate(self, event: Json, dataset: _Dataset, released: list[str]) -> list[Invocation]:
        org_id, context = event["orgid"], event_context(event)
        if event["type"] == EventType.DATASET_UPLOAD_COMPLETED:
            return self._deferred(org_id, dataset, released, context)
        cause = _cause_of(event["type"])
        if cause is None:
            return []
        if EVENT_KINDS[event["type"]].carries_file:
            files = [dataset.files[event["data"]["file"]["file_id"]]]
        else:
            files = sorted(dataset.files.values(), key=_by_path)
        found: list[Invocation | None] = []
        for trigger in self._by_org.get(org_id, ()):
            if cause not in trigger.causes:
                continue
            if trigger.for_each == ForEach.DATASET_FILE:
                found.extend(
                    _for_file(trigger, dataset, f, cause, context)
                    for f in files
                    if trigger.spec.match_file(_by_path(f))
                )
            elif not dataset.uploads.open:
                found.append(_for_dataset(trigger, dataset, cause, context))
        return [i for i in found if i is not None]

    def _deferred(
        self, org_id: str, dataset: _Dataset, released: list[str], context: Json
    ) -> list[Invocation]:
        """The evaluation point of the causes remembered while D's uploads were open."""
        found: list[Invocation] = []
        for trigger in self._by_org.get(org_id, ()):
            if trigger.for_each != ForEach.DATASET:
                continue
            for cause in released:
                if cause not in trigger.causes:
                    continue
                invocation = _for_dataset(trigger, dataset, cause, context)
                if invocation is not None:
                    found.append(invocation)
                    break
        return found

    def _apply(self, event: Json) -> tuple[_Dataset, list[str]]:
        """Apply the event to its dataset; also return the remembered causes it releases (a
        completion closing the dataset's last open upload)."""
        data = event.get("data") or {}
        dataset_id, event_type = event["datasetid"], event["type"]
        dataset = self._datasets.get(dataset_id)
        if dataset is None:
            record = {
                "dataset_id": dataset_id,
                "org_id": event["orgid"],
                "tags": [],
                "metadata": {},
            }
            dataset = self._datasets[dataset_id] = _Dataset(record)
        uploads = dataset.uploads
        if event_type == EventType.DATASET_DELETED:
            dataset.files.clear()  # fired keys stay: a re-created dataset does not re-fire
            uploads.closed |= uploads.open  # discarded, with what they remembered
            uploads.open.clear()
            uploads.causes.clear()
            return dataset, []
        snapshot = data.get("dataset")
        if snapshot is not None:
            dataset.record = {
                "dataset_id": dataset_id,
                "org_id": event["orgid"],
                "tags": snapshot.get("tags", []),
                "metadata": snapshot.get("metadata", {}),
            }
        if event_type == EventType.DATASET_UPLOAD_COMPLETED:
            return dataset, _close(uploads, event["transactionid"])
        if EVENT_KINDS[event_type].carries_file:
            _apply_file(dataset, event_type, data["file"])
            transaction = event.get("transactionid")
            unseen = transaction not in uploads.open and transaction not in uploads.closed
            if transaction is not None and unseen:
                uploads.open.add(transaction)
        cause = _cause_of(event_type)
        if uploads.open and cause is not None and cause not in uploads.causes:
            uploads.causes.append(cause)
        return dataset, []


def _cause_of(event_type: str) -> str | None:
    cause = EVENT_KINDS[EventType(event_type)].cause
    return None if cause is None else cause.value


def _close(uploads: _Uploads, transaction: str) -> list[str]:
    if transaction not in uploads.open:
        return []  # unknown or already closed
    uploads.open.remove(transaction)
    uploads.closed.add(transaction)
    if uploads.open:
        return []
    released, uploads.causes = uploads.causes, []
    return released


def _apply_file(dataset: _Dataset, event_type: str, given: Json) -> None:
    file_id = given["file_id"]
    if event_type == EventType.FILE_DELETED:
        dataset.files.pop(file_id, None)
        return
    base = _FILE_DEFAULTS
    if event_type != EventType.FILE_UPLOADED:
        base = dataset.files.get(file_id, _FILE_DEFAULTS)
    merged = {**base, **given}
    if event_type == EventType.FILE_INGESTED:
        merged["ingestion_status"] = "ingested"
    dataset.files[file_id] = merged


def _for_file(
    trigger: NaiveTrigger, dataset: _Dataset, file: Json, cause: str, context: Json
) -> Invocation | None:
    file_id = file["file_id"]
    if not trigger.enabled or (trigger.name, file_id) in dataset.fired:
        return None
    if not trigger.holds(dataset.record, file, context):
        return None
    dataset_id = dataset.record["dataset_id"]
    return Invocation(
        trigger.org_id, trigger.name, dataset_id, file_id, (file_id,), cause, context["id"]
    )


def _for_dataset(
    trigger: NaiveTrigger, dataset: _Dataset, cause: str, context: Json
) -> Invocation | None:
    if not trigger.enabled or (trigger.name, None) in dataset.fired:
        return None
    if not trigger.holds(dataset.record, None, context):
        return None
    files: Iterable[Json] = dataset.files.values()
    if cause == Cause.FILE_INGEST:
        files = [f for f in files if f["ingestion_status"] == "ingested"]
    selected = sorted((f for f in files if trigger.spec.match_file(_by_path(f))), key=_by_path)
    for positive in trigger.positives:
        if not any(positive.match_file(_by_path(f)) for f in selected):
            return None  # a required input no selected file satisfies
    ids = tuple(f["file_id"] for f in selected)
    dataset_id = dataset.record["dataset_id"]
    return Invocation(trigger.org_id, trigger.name, dataset_id, None, ids, cause, context["id"])


def event_context(event: Json) -> Json:
    """The `event` root JsonLogic conditions read."""
    return {
        "id": event["id"],
        "type": event["type"],
        "source": event.get("source", ""),
        "time": event.get("time"),
        "orgid": event["orgid"],
        "datasetid": event["datasetid"],
    }
