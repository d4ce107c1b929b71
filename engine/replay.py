"""Replay: the evaluation core driven by JSON Lines event logs (files, `.gz`, or `-` for stdin).

Each event goes to the evaluator and its result to a `Sink`; a bad event never stops a replay: it
goes to the sink's rejects with where it was and why.
"""

from __future__ import annotations

import gzip
import os
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar, cast

from engine.collector import long_lived
from engine.errors import ConfigError, EventError
from engine.evaluator import Evaluator
from engine.events import DEFAULT_MAX_EVENT_BYTES
from engine.progress import Progress
from engine.sinks import Origin, Sink

if TYPE_CHECKING:
    from engine.disk_state import DiskStateStore


@dataclass(slots=True)
class ReplaySummary:
    lines: int = 0
    rejected: int = 0

    def as_dict(self, evaluator: Evaluator) -> dict[str, Any]:
        return {"lines": self.lines, "rejected": self.rejected, **evaluator.stats.as_dict()}


def read_events(sources: Iterable[str]) -> EventFiles:
    """Every non-blank line of every source, in order, with its place."""
    return EventFiles(sources)


class EventFiles:
    """The events of JSON Lines files (`.gz`, or `-` for stdin), and how far reading has got in
    bytes (`engine.progress.InputBytes`): a compressed file counts its compressed bytes."""

    def __init__(self, sources: Iterable[str]) -> None:
        self.sources = tuple(sources)
        self._finished_bytes = 0  # of the files read to the end
        self._reading: IO[bytes] | None = None  # the (compressed) bytes of the file being read

    def __iter__(self) -> Iterator[Origin]:
        self._finished_bytes = 0
        with ExitStack() as stack:
            for source in self.sources:
                stream = stack.enter_context(_open(source))
                compressed = isinstance(stream, gzip.GzipFile)
                self._reading = cast(IO[bytes], stream.fileobj) if compressed else stream
                for number, line in enumerate(stream, start=1):
                    data = line.strip()
                    if data:
                        yield Origin(source, number, data)
                self._finished_bytes += self._reading.tell() if source != "-" else 0
                self._reading = None

    def size(self) -> int | None:
        """The files' bytes; None when one of them is stdin."""
        if "-" in self.sources:
            return None
        return sum(os.stat(source).st_size for source in self.sources)

    def position(self) -> int:
        """The bytes read so far (not meaningful with stdin, whose size is not known)."""
        reading = self._reading
        return self._finished_bytes + (reading.tell() if reading is not None else 0)


def _open(source: str) -> IO[bytes]:
    if source == "-":
        return open(sys.stdin.fileno(), "rb", closefd=False)
    if source.endswith(".gz"):
        return cast(IO[bytes], gzip.open(source, "rb"))  # a GzipFile reads like one
    return open(source, "rb")


def replay(
    events: Iterable[Origin],
    evaluator: Evaluator,
    sink: Sink,
    *,
    progress: Progress | None = None,
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
) -> ReplaySummary:
    """Evaluate `events` in order into `sink`, then flush it."""
    summary = ReplaySummary()
    process, emit, reject = evaluator.process, sink.emit, sink.reject
    with long_lived():  # the state the events build lives on, and the collector need not walk it
        for origin in events:
            summary.lines += 1
            try:
                event = origin.parse(max_event_bytes)
                result = process(event)
            except EventError as exc:
                summary.rejected += 1
                reject(origin, exc)
            else:
                emit(origin, event, result)
            if progress is not None:
                progress.tick(summary.lines, summary.rejected)
    sink.flush()
    if progress is not None:
        progress.close(summary.lines, summary.rejected)
    return summary


# With a disk store: the changes of this many events go to disk in one write.
COMMIT_EVENTS = 1000
T = TypeVar("T")


@contextmanager
def temporary_disk_store(
    state_dir: Path, cache_datasets: int, cache_files: int | None = None
) -> Iterator[DiskStateStore]:
    """A disk store in a new directory under `state_dir`, removed afterwards."""
    from engine.disk_state import DiskStateStore  # RocksDB is loaded only when asked for

    for flag, value in (
        ("--state-cache-datasets", cache_datasets),
        ("--state-cache-files", cache_files),
    ):
        if value is not None and value < 1:
            raise ConfigError(flag, None, f"{value} is not at least 1")
    state_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="replay-", dir=state_dir) as path:
        store = DiskStateStore(Path(path) / "state", cache_datasets, cache_files)
        try:
            yield store
        finally:
            store.close()


def committing(events: Iterable[T], store: DiskStateStore) -> Iterator[T]:
    """`events`, with the store's changes written to disk every `COMMIT_EVENTS`: an event
    is asked for once the one before is done."""
    for number, event in enumerate(events, 1):
        yield event
        if number % COMMIT_EVENTS == 0:
            store.commit(None, None)
