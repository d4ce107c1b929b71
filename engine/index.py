"""TriggerIndex: which triggers can an event touch, without looping over all of them.

Triggers are bucketed by org and by cause, with a `GlobIndex` per bucket that finds the triggers
whose required inputs select a path at a cost that hardly depends on how many triggers the org has.
A file event asks about its file; a dataset-level cause asks about each current file of the dataset
(one lookup per file, not one glob test per trigger and file).
"""

from __future__ import annotations

from collections.abc import Iterable
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from engine.glob_index import GlobIndex

if TYPE_CHECKING:
    from engine.registry import CompiledTrigger

_by_name = attrgetter("name")


class TriggerIndex:
    def __init__(self) -> None:
        self._globs: dict[tuple[str, str], GlobIndex[CompiledTrigger]] = {}

    def add(self, trigger: CompiledTrigger) -> None:
        org_id = trigger.spec.org_id
        for cause in trigger.causes:
            bucket = (org_id, cause)
            self._globs.setdefault(bucket, GlobIndex()).add(trigger, trigger.globs)

    def remove(self, trigger: CompiledTrigger) -> None:
        org_id = trigger.spec.org_id
        for cause in trigger.causes:
            bucket = (org_id, cause)
            self._globs[bucket].remove(trigger)

    def file_candidates(self, org_id: str, cause: str, path: str) -> list[CompiledTrigger]:
        """Triggers of the org listening to `cause` whose required inputs match `path`, by name."""
        index = self._globs.get((org_id, cause))
        if index is None:
            return []
        matched = index.match(path)
        if len(matched) > 1:
            matched.sort(key=_by_name)
        return matched

    def selections(
        self, org_id: str, cause: str, files: Iterable[dict[str, Any]]
    ) -> dict[CompiledTrigger, list[dict[str, Any]]]:
        """For each trigger of the bucket, the `files` (in the order given) its inputs select, in
        no particular order of triggers."""
        index = self._globs.get((org_id, cause))
        selected: dict[CompiledTrigger, list[dict[str, Any]]] = {}
        if index is not None:
            for file in files:
                for trigger in index.match(file["relative_path"]):
                    selected.setdefault(trigger, []).append(file)
        return selected
