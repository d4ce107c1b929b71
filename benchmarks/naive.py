"""The naive baseline: for every event, loop over every trigger of the event's org.

Per trigger and event it does the obvious thing: `pathspec`'s `match_file` on the trigger's
compiled `PathSpec` (compiled once per trigger, as any sane naive engine would), then the condition
*interpreted* by walking its dict (`benchmarks.interpreters`). It keeps its own dataset state and
fired keys, written from the rules of events and evaluation, so that `tests/test_differential.py`
compares two independent implementations of the same contract.
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
from engine.vocabulary import DEFAULT_CAUSES, EVENT_KINDS

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
    """What an invocation is for: the comparison key between engine and baseline."""

    org_id: str
    trigger: str
    dataset_id: str
    file_id: str | None  # for dataset_file triggers
    files: tuple[str, ...]  # file ids, in relative-path order

    @classmethod
    def from_request(cls, request: Json) -> Invocation:
        """The key of an engine invocation request."""
        files = tuple(f["file_id"] for f in request["input_data"]["files"])
        per_file = request["for_each"] == "dataset_file"
        return cls(
            request["org_id"],
            request["trigger"]["name"],
            request["data_source"]["data_source_id"],
            files[0] if per_file else None,
            files,
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
            for_each=definition.get("for_each", "dataset"),
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
class _Dataset:
    record: Json  # {dataset_id, org_id, tags, metadata}: what conditions read
    files: dict[str, Json] = field(default_factory=dict)
    fired: set[tuple[str, str | None]] = field(default_factory=set)  # (trigger, file id or None)


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
        dataset = self._apply(event)
        cause = EVENT_KINDS[event["type"]].cause
        if cause is None:
            return []
        context = event_context(event)
        if event["type"].startswith("file."):
            file = dataset.files[event["data"]["file"]["file_id"]]
            found = self.file_event(
                event["orgid"], cause, dataset.record, dataset.files.values(), file, context
            )
        else:
            found = self._dataset_event(event["orgid"], cause, dataset, context)
        # Fired before: already_run, no invocation (filtering afterwards decides the same).
        found = [i for i in found if (i.trigger, i.file_id) not in dataset.fired]
        dataset.fired.update((i.trigger, i.file_id) for i in found)
        return found

    def file_event(
        self,
        org_id: str,
        cause: str,
        dataset: Json,
        files: Iterable[Json],
        file: Json,
        context: Json,
    ) -> list[Invocation]:
        """Invocations for a file event, fired keys aside: every trigger of the org is tested
        against the path."""
        found: list[Invocation] = []
        path = file["relative_path"]
        for trigger in self._by_org.get(org_id, ()):
            if cause not in trigger.causes or not trigger.spec.match_file(path):
                continue
            if trigger.for_each == "dataset_file":
                invocation = _for_file(trigger, dataset, file, context)
            else:
                invocation = _for_dataset(trigger, dataset, files, cause, context)
            if invocation is not None:
                found.append(invocation)
        return found

    def _dataset_event(
        self, org_id: str, cause: str, dataset: _Dataset, context: Json
    ) -> list[Invocation]:
        found: list[Invocation | None] = []
        for trigger in self._by_org.get(org_id, ()):
            if cause not in trigger.causes:
                continue
            if trigger.for_each == "dataset":
                files = dataset.files.values()
                found.append(_for_dataset(trigger, dataset.record, files, cause, context))
                continue
            matching = [f for f in dataset.files.values() if trigger.spec.match_file(_by_path(f))]
            found.extend(
                _for_file(trigger, dataset.record, f, context)
                for f in sorted(matching, key=_by_path)
            )
        return [i for i in found if i is not None]

    def _apply(self, event: Json) -> _Dataset:
        data = event.get("data") or {}
        dataset_id = event["datasetid"]
        dataset = self._datasets.get(dataset_id)
        if dataset is None:
            record = {
                "dataset_id": dataset_id,
                "org_id": event["orgid"],
                "tags": [],
                "metadata": {},
            }
            dataset = self._datasets[dataset_id] = _Dataset(record)
        if event["type"] == "dataset.deleted":
            dataset.files.clear()  # fired keys stay: a re-created dataset does not re-fire
            return dataset
        snapshot = data.get("dataset")
        if snapshot is not None:
            dataset.record = {
                "dataset_id": dataset_id,
                "org_id": event["orgid"],
                "tags": snapshot.get("tags", []),
                "metadata": snapshot.get("metadata", {}),
            }
        given = data.get("file")
        if given is not None:
            _apply_file(dataset, event["type"], given)
        return dataset


def _apply_file(dataset: _Dataset, event_type: str, given: Json) -> None:
    file_id = given["file_id"]
    if event_type == "file.deleted":
        dataset.files.pop(file_id, None)
        return
    base = _FILE_DEFAULTS if event_type == "file.uploaded" else dataset.files[file_id]
    merged = {**base, **given}
    if event_type == "file.ingested":
        merged["ingestion_status"] = "ingested"
    dataset.files[file_id] = merged


def _for_file(
    trigger: NaiveTrigger,
    dataset: Json,
    file: Json,
    context: Json,
) -> Invocation | None:
    if not trigger.enabled:
        return None
    if not trigger.holds(dataset, file, context):
        return None
    file_id = file["file_id"]
    return Invocation(trigger.org_id, trigger.name, dataset["dataset_id"], file_id, (file_id,))


def _for_dataset(
    trigger: NaiveTrigger,
    dataset: Json,
    files: Iterable[Json],
    cause: str,
    context: Json,
) -> Invocation | None:
    if not trigger.enabled:
        return None
    if not trigger.holds(dataset, None, context):
        return None
    if cause == "file_ingest":
        files = [f for f in files if f["ingestion_status"] == "ingested"]
    selected = sorted((f for f in files if trigger.spec.match_file(_by_path(f))), key=_by_path)
    for positive in trigger.positives:
        if not any(positive.match_file(_by_path(f)) for f in selected):
            return None  # a required input no selected file satisfies
    ids = tuple(f["file_id"] for f in selected)
    return Invocation(trigger.org_id, trigger.name, dataset["dataset_id"], None, ids)


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
