"""Input selections, kept up to date: which current files of a dataset a trigger's inputs select.

A dataset-level trigger fires once every positive pattern of its inputs is matched by a selected
file, and its invocation lists every selected file by path. Recomputing that on each candidate
event costs a glob test per file of the dataset: O(files) per event, O(files²) per dataset while
it fills up (a trigger waiting for `metadata.json` would rescan thousands of frames on every
frame). Instead, each dataset keeps a journal of the file ids whose records changed, and each
selection catches up with the entries written since it was last asked: O(changes) per question.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field
from typing import Any

from engine.globs import GlobSet

FileRecord = dict[str, Any]
# (relative path, file id, indexes of the positive patterns that match the path on their own)
_Entry = tuple[str, str, tuple[int, ...]]


@dataclass(slots=True)
class Selection:
    """The files of one dataset that one `GlobSet` selects (ingested ones only, if asked)."""

    globs: GlobSet
    ingested_only: bool
    seen: int = 0  # journal entries applied
    entries: list[_Entry] = field(default_factory=list)  # sorted
    by_file: dict[str, _Entry] = field(default_factory=dict)
    hits: list[int] = field(default_factory=list)  # per positive pattern: entries it matches
    # `files()`, kept in step with `entries` (same order: no two selected files share a path);
    # None until asked, or once two selected files share a path.
    listed: list[FileRecord] | None = None

    def __post_init__(self) -> None:
        self.hits = [0] * len(self.globs.positives)

    def update(self, file_id: str, record: FileRecord | None, wanted: bool) -> None:
        """Bring one file's membership up to date with its current record (None: deleted), which
        the selection `wants` or not (the caller has asked)."""
        old = self.by_file.get(file_id)
        if old is not None:
            if wanted and record is not None and old[0] == record["relative_path"]:
                if self.listed is not None:
                    self.listed[bisect_left(self.entries, old)] = record
                return
            self._drop(old)
        if wanted and record is not None:
            self._add(record, file_id)

    def unsatisfied(self) -> list[str]:
        """Positive patterns (as given) that no selected file matches."""
        positives = self.globs.positives
        return [positives[i].source for i, count in enumerate(self.hits) if not count]

    def files(self, current: dict[str, FileRecord]) -> list[FileRecord]:
        """The selected records sorted by path; equal paths keep the dataset's file order."""
        if self.listed is not None:
            return list(self.listed)  # a copy: `listed` changes with later events
        ordered = [current[file_id] for _path, file_id, _ in self.entries]
        paths = [path for path, _, _ in self.entries]
        if len(set(paths)) != len(paths):
            rank = {file_id: n for n, file_id in enumerate(current)}
            ordered.sort(key=lambda f: (f["relative_path"], rank[f["file_id"]]))
            return ordered
        self.listed = ordered
        return list(ordered)

    def wants(self, record: FileRecord) -> bool:
        """Whether the selection holds a file with this record."""
        if self.ingested_only and record["ingestion_status"] != "ingested":
            return False
        return self.globs.matches(record["relative_path"])

    def fill(self, files: dict[str, FileRecord]) -> None:
        """Start from every current file (an empty selection, one sort)."""
        wants, entry = self.wants, self._entry
        self.entries = sorted(entry(r["relative_path"], i) for i, r in files.items() if wants(r))
        for each in self.entries:
            self._count(each)

    def _add(self, record: FileRecord, file_id: str) -> None:
        path = record["relative_path"]
        entry = self._entry(path, file_id)
        entries = self.entries
        at = bisect_left(entries, entry)
        entries.insert(at, entry)
        self._count(entry)
        if self.listed is not None:
            shared = (at and entries[at - 1][0] == path) or (
                at + 1 < len(entries) and entries[at + 1][0] == path
            )
            if shared:
                self.listed = None
            else:
                self.listed.insert(at, record)

    def _entry(self, path: str, file_id: str) -> _Entry:
        positives = self.globs.positives
        if len(positives) == 1:  # it selects the path, so its only positive pattern matched
            return (path, file_id, (0,))
        matched = tuple(i for i, p in enumerate(positives) if p.regex.search(path) is not None)
        return (path, file_id, matched)

    def _count(self, entry: _Entry) -> None:
        self.by_file[entry[1]] = entry
        for i in entry[2]:
            self.hits[i] += 1

    def _drop(self, entry: _Entry) -> None:
        at = bisect_left(self.entries, entry)
        del self.entries[at]
        if self.listed is not None:
            del self.listed[at]
        del self.by_file[entry[1]]
        for i in entry[2]:
            self.hits[i] -= 1


class SelectionCache:
    """A dataset's selections and the journal they catch up from.

    The journal is dropped (with the selections, which then start over from the current files)
    once it is much longer than the dataset has files, so it never outgrows the dataset.
    """

    __slots__ = ("_journal", "_selections")

    def __init__(self) -> None:
        self._journal: list[str] = []
        self._selections: dict[tuple[GlobSet, bool], Selection] = {}

    def changed(self, file_id: str, files: dict[str, FileRecord]) -> None:
        """`file_id`'s record was written or deleted."""
        if self._selections:
            self._journal.append(file_id)
            if len(self._journal) > 64 + 4 * len(files):
                self.reset()

    def reset(self) -> None:
        self._journal.clear()
        self._selections.clear()

    def get(self, globs: GlobSet, ingested_only: bool, files: dict[str, FileRecord]) -> Selection:
        """The selection, caught up with every change to `files`."""
        key = (globs, ingested_only)
        selection = self._selections.get(key)
        if selection is None:
            selection = self._selections[key] = Selection(globs, ingested_only)
            selection.fill(files)
        else:
            by_file, wants = selection.by_file, selection.wants
            for file_id in self._journal[selection.seen :]:
                record = files.get(file_id)
                wanted = record is not None and wants(record)
                # Most changes are to files the selection neither holds nor wants.
                if wanted or file_id in by_file:
                    selection.update(file_id, record, wanted)
        selection.seen = len(self._journal)
        return selection
