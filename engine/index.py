"""TriggerIndex: which triggers can an event touch, without looping over all of them.

Triggers are bucketed by org, with a `GlobIndex` per org that finds the triggers whose required
inputs select a path at a cost that hardly depends on how many triggers the org has; the cause is
checked on the few found. (One index per org and cause would hold most triggers two or three times:
more to build, and more memory for each event to bring into the CPU cache.)
A file event asks about its file; a dataset-level cause asks about each current file of the dataset
(one lookup per file, not one glob test per trigger and file).
"""

from __future__ import annotations

from collections.abc import Iterable
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from engine.glob_index import GlobIndex, Vocabulary

if TYPE_CHECKING:
    from engine.registry import CompiledTrigger

_by_name = attrgetter("name")


class TriggerIndex:
    def __init__(self) -> None:
        self._by_org: dict[str, GlobIndex[CompiledTrigger]] = {}
        self._vocabulary = Vocabulary()

    def add(self, trigger: CompiledTrigger) -> None:
        org_id = trigger.spec.org_id
        index = self._by_org.get(org_id)
        if index is None:
            index = self._by_org[org_id] = GlobIndex(self._vocabulary)
        index.add(trigger, trigger.globs)

    def remove(self, trigger: CompiledTrigger) -> None:
        self._by_org[trigger.spec.org_id].remove(trigger)

    def file_candidates(self, org_id: str, cause: str, path: str) -> list[CompiledTrigger]:
        """Triggers of the org listening to `cause` whose required inputs match `path`, by name."""
        index = self._by_org.get(org_id)
        if index is None:
            return []
        matched = [trigger for trigger in index.match(path) if cause in trigger.causes]
        if len(matched) > 1:
            matched.sort(key=_by_name)
        return matched

    def selections(
        self, org_id: str, cause: str, files: Iterable[dict[str, Any]]
    ) -> dict[CompiledTrigger, list[dict[str, Any]]]:
        """For each trigger of the org listening to `cause`, the `files` (in the order given) its
        inputs select, in no particular order of triggers."""
        index = self._by_org.get(org_id)
        selected: dict[CompiledTrigger, list[dict[str, Any]]] = {}
        if index is not None:
            for file in files:
                for trigger in index.match(file["relative_path"]):
                    if cause in trigger.causes:
                        selected.setdefault(trigger, []).append(file)
        return selected
