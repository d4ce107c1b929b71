"""TriggerIndex: which triggers can an event touch, without looping over all of them.

Triggers are bucketed by org and by cause. For file events a `GlobIndex` per (org, cause) finds the
triggers whose required inputs match the file's path at a cost that hardly depends on how many
triggers the org has. Dataset-level causes need every trigger of the org with that cause; that list
is kept sorted and cached until the org's triggers change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.glob_index import GlobIndex

if TYPE_CHECKING:
    from engine.registry import CompiledTrigger

FILE_CAUSES = frozenset({"file_upload", "file_ingest", "file_metadata_update"})


def _by_name(trigger: CompiledTrigger) -> str:
    return trigger.name


class TriggerIndex:
    def __init__(self) -> None:
        self._by_file_cause: dict[tuple[str, str], GlobIndex[CompiledTrigger]] = {}
        self._by_cause: dict[tuple[str, str], dict[str, CompiledTrigger]] = {}
        self._sorted: dict[tuple[str, str], list[CompiledTrigger]] = {}

    def add(self, trigger: CompiledTrigger) -> None:
        org_id = trigger.spec.org_id
        for cause in trigger.causes:
            bucket = (org_id, cause)
            self._by_cause.setdefault(bucket, {})[trigger.key] = trigger
            self._sorted.pop(bucket, None)
            if cause in FILE_CAUSES:
                self._by_file_cause.setdefault(bucket, GlobIndex()).add(trigger, trigger.globs)

    def remove(self, trigger: CompiledTrigger) -> None:
        org_id = trigger.spec.org_id
        for cause in trigger.causes:
            bucket = (org_id, cause)
            self._by_cause[bucket].pop(trigger.key, None)
            self._sorted.pop(bucket, None)
            if cause in FILE_CAUSES:
                self._by_file_cause[bucket].remove(trigger)

    def file_candidates(self, org_id: str, cause: str, path: str) -> list[CompiledTrigger]:
        """Triggers of the org listening to `cause` whose required inputs match `path`, by name."""
        index = self._by_file_cause.get((org_id, cause))
        if index is None:
            return []
        matched = index.match(path)
        if len(matched) > 1:
            matched.sort(key=_by_name)
        return matched

    def cause_triggers(self, org_id: str, cause: str) -> list[CompiledTrigger]:
        """Every trigger of the org listening to `cause`, by name."""
        bucket = (org_id, cause)
        ordered = self._sorted.get(bucket)
        if ordered is None:
            ordered = sorted(self._by_cause.get(bucket, {}).values(), key=_by_name)
            self._sorted[bucket] = ordered
        return ordered
