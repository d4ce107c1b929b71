"""Replay: the evaluation core driven by JSON Lines event logs (files, `.gz`, or `-` for stdin).

A bad event never stops a replay: it goes to the rejects sink with its source, line and reason.
"""

from __future__ import annotations

import gzip
import sys
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import IO, Any, cast

import msgspec
import orjson

from engine.collector import long_lived
from engine.errors import EventError
from engine.evaluator import Evaluator
from engine.events import DEFAULT_MAX_EVENT_BYTES, parse_event
from engine.invocations import InvocationRequest
from engine.progress import Progress


class RawEvent(msgspec.Struct, gc=False):  # made in C, like `Event`: one per line
    source: str
    line: int
    data: bytes


@dataclass(slots=True)
class ReplaySummary:
    lines: int = 0
    rejected: int = 0

    def as_dict(self, evaluator: Evaluator) -> dict[str, Any]:
        return {"lines": self.lines, "rejected": self.rejected, **evaluator.stats.as_dict()}


def read_events(sources: Iterable[str]) -> Iterator[RawEvent]:
    """Every non-blank line of every source, in order, with its place."""
    with ExitStack() as stack:
        for source in sources:
            stream = stack.enter_context(_open(source))
            for number, line in enumerate(stream, start=1):
                data = line.strip()
                if data:
                    yield RawEvent(source, number, data)


def _open(source: str) -> IO[bytes]:
    if source == "-":
        return open(sys.stdin.fileno(), "rb", closefd=False)
    if source.endswith(".gz"):
        return cast(IO[bytes], gzip.open(source, "rb"))  # a GzipFile reads like one
    return open(source, "rb")


_dumps = orjson.dumps


class Sink:
    """Buffered JSON Lines writer; None means the records are not wanted.

    The buffer is written out by size, not by record count: joining a few MiB gets freshly mapped
    pages from the allocator every time, and on a VM those page faults cost more than encoding.
    """

    def __init__(self, stream: IO[bytes] | None, *, flush_bytes: int = 1 << 16) -> None:
        self._stream = stream
        self._buffer: list[bytes] = []
        self._size = 0
        self._flush_bytes = flush_bytes

    @property
    def enabled(self) -> bool:
        return self._stream is not None

    def write(self, records: Iterable[dict[str, Any]]) -> None:
        self.write_json(map(_dumps, records))

    def write_json(self, documents: Iterable[bytes]) -> None:
        """Like `write`, for records already encoded (compact JSON, no newline)."""
        if self._stream is None:
            return
        append = self._buffer.append
        size = self._size
        for document in documents:
            append(document)
            append(b"\n")
            size += len(document) + 1
        self._size = size
        if size >= self._flush_bytes:
            self.flush()

    def flush(self) -> None:
        if self._stream is not None and self._buffer:
            self._stream.write(b"".join(self._buffer))
            self._buffer.clear()
            self._size = 0
            self._stream.flush()


def reject_record(raw: RawEvent, error: EventError) -> dict[str, Any]:
    return {
        "source": raw.source,
        "line": raw.line,
        "reason": str(error),
        "event": raw.data.decode("utf-8", errors="replace"),
    }


def replay(
    events: Iterable[RawEvent],
    evaluator: Evaluator,
    out: Sink,
    *,
    evaluations: Sink,
    rejects: Sink,
    progress: Progress | None = None,
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
) -> ReplaySummary:
    summary = ReplaySummary()
    process = evaluator.process
    to_json = InvocationRequest.to_json
    with long_lived():  # the state the events build lives on, and the collector need not walk it
        for raw in events:
            summary.lines += 1
            try:
                result = process(parse_event(raw.data, max_bytes=max_event_bytes))
            except EventError as exc:
                summary.rejected += 1
                rejects.write([reject_record(raw, exc)])
            else:
                if result.invocations:
                    out.write_json(map(to_json, result.invocations))
                if result.evaluations:
                    evaluations.write(result.evaluations)
            if progress is not None:
                progress.tick(summary.lines, summary.rejected)
    for sink in (out, evaluations, rejects):
        sink.flush()
    if progress is not None:
        progress.close(summary.lines, summary.rejected)
    return summary
