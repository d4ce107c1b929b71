"""What the evaluator derives from a dataset's facts and remembers, never persisted.

A dataset's files and events ask the same questions again and again until the facts they read
change: the verdicts of conditions that read only the dataset record, the triggers each file's
path matches, and the dataset-level triggers' input selections. A `DatasetMemo` keeps those
answers (and the ready set built from them, `engine.ready`) and follows the dataset's state
changes (`engine.state.Change`) to drop what they make stale. Losing a memo loses nothing but
time: it is rebuilt from the facts when asked.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from engine.json_identity import identical_json
from engine.selections import SelectionCache
from engine.state import Change, DatasetState, DatasetWritten, FileRemoved, FileWritten

if TYPE_CHECKING:
    from engine.compiled import CompiledTrigger

# file id -> (index generation, path, the triggers matching the path): `TriggerIndex.file_matches`
MatchMemo = dict[str, tuple[int, str, tuple["CompiledTrigger", ...]]]


@dataclass(slots=True)
class DatasetMemo:
    verdicts: dict[object, bool] = field(default_factory=dict)  # by `CompiledCondition.token`
    matches: MatchMemo = field(default_factory=dict)
    selections: SelectionCache = field(default_factory=SelectionCache)
    # `engine.ready`, as of index generation `generation`: the dataset triggers selecting some
    # file the dataset has had (None until asked), and those of them that may fire at the next
    # evaluation point (None until asked, and once the record changes).
    selecting: dict[CompiledTrigger, None] | None = None
    ready: dict[CompiledTrigger, None] | None = None
    generation: int = -1
    _verdicts_of: dict[str, Any] | None = None  # the record `verdicts` were read from

    def follow(self, ds: DatasetState, changes: Iterable[Change]) -> None:
        """Drop what `changes` (the latest made to `ds`) make stale."""
        for change in changes:
            if change.__class__ is FileWritten:
                self.selections.changed(change.record["file_id"], ds.files)
            elif change.__class__ is FileRemoved:
                self.matches.pop(change.file_id, None)
                self.selections.changed(change.file_id, ds.files)
            elif change.__class__ is DatasetWritten and not change.exists:
                self.matches.clear()
                self.selections.reset()
                self.selecting = self.ready = None
        record = ds.record
        if record is not self._verdicts_of:
            # File events often carry an unchanged snapshot: the verdicts still hold for it.
            if self._verdicts_of is None or not identical_json(record, self._verdicts_of):
                self.verdicts.clear()
                self.ready = None
            self._verdicts_of = record


class MemoStore:
    """The memos of the datasets one evaluator has seen. Each is kept on its `DatasetState`, so it
    lives exactly as long as its dataset is in memory (a disk store drops both together) and is
    rebuilt when the dataset is read back."""

    __slots__ = ()

    def get(self, ds: DatasetState) -> DatasetMemo | None:
        return cast(DatasetMemo | None, ds.memo)

    def following(self, ds: DatasetState, changes: Iterable[Change]) -> DatasetMemo:
        """The dataset's memo, with `changes` followed."""
        memo = cast(DatasetMemo | None, ds.memo)
        if memo is None:
            memo = ds.memo = DatasetMemo()
        memo.follow(ds, changes)
        return memo
