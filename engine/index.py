"""TriggerIndex: which triggers can an event touch, without looping over all of them.

Triggers are bucketed by org, with a `GlobIndex` per org that finds the triggers whose required
inputs select a path at a cost that hardly depends on how many triggers the org has; the cause is
checked on the few found. (One index per org and cause would hold most triggers two or three times:
more to build, and more memory for each event to bring into the CPU cache.)
A file event asks about its file; a dataset-level cause asks about each current file of the dataset
(one lookup per file, not one glob test per trigger and file); a file's answer is remembered until
its path or the index changes.
"""

from __future__ import annotations

from operator import attrgetter
from typing import TYPE_CHECKING, Any

from engine.glob_index import GlobIndex, ShapeVerdicts, Vocabulary

if TYPE_CHECKING:
    from engine.compiled import CompiledTrigger
    from engine.memo import MatchMemo

_by_name = attrgetter("name")


class TriggerIndex:
    def __init__(self) -> None:
        self._by_org: dict[str, GlobIndex[CompiledTrigger]] = {}
        self._vocabulary = Vocabulary()
        self._verdicts = ShapeVerdicts()  # the org indexes' verdicts by path shape, one bound
        self.generation = 0  # changes with every add and remove: older memos are stale

    def add(self, trigger: CompiledTrigger) -> None:
        org_id = trigger.spec.org_id
        index = self._by_org.get(org_id)
        if index is None:
            index = self._by_org[org_id] = GlobIndex(self._vocabulary, _by_name, self._verdicts)
        index.add(trigger, trigger.globs)
        self.generation += 1

    def remove(self, trigger: CompiledTrigger) -> None:
        self._by_org[trigger.spec.org_id].remove(trigger)
        self.generation += 1

    def file_matches(
        self, org_id: str, file: dict[str, Any], memo: MatchMemo
    ) -> tuple[CompiledTrigger, ...]:
        """Every trigger of the org whose required inputs select the file's path, by name (whatever
        its causes: callers keep those listening to theirs). Remembered in the dataset's `memo`
        until the file's path or the index changes: the file's later events (ingested, metadata
        updated) and the dataset's metadata updates ask again without matching again."""
        file_id, path = file["file_id"], file["relative_path"]
        known = memo.get(file_id)
        if known is not None and known[0] == self.generation and known[1] == path:
            return known[2]
        index = self._by_org.get(org_id)
        found = () if index is None else index.match(path)
        memo[file_id] = (self.generation, path, found)
        return found
