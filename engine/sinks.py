"""Where evaluated events go: one narrow `Sink` interface, whatever the output.

A driver (replay, the Kafka service) reads an event, has the evaluator process it, and hands the
result to a sink, or the error of an event it could not take. Each sink turns those into its own
records: JSON Lines files (`JsonlSink`), lists (`MemorySink`), or the records of one Kafka
transaction (`engine.service.kafka_sink`). Of Kafka, only what a record carries is known here: its
key, and its headers when they hold a CloudEvent in binary mode (`engine.cloudevents`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import IO, Any, Protocol, runtime_checkable

import msgspec
import orjson

from engine.cloudevents import binary_mode_attributes
from engine.decisions import EventResult
from engine.errors import EventError
from engine.events import Event, event_from_binary, parse_event
from engine.invocations import InvocationRequest


class Origin(msgspec.Struct, gc=False):  # made in C, like `Event`: one per event read
    """Where an event was read, and its bytes as read: what a reject or dead letter keeps."""

    source: str  # an event log file (`-`: stdin), or a topic
    position: int  # the line in the file, or the offset in the topic partition
    data: bytes | None  # None: a Kafka record without a value
    partition: int | None = None  # the topic partition; None for a file
    key: bytes | None = None  # the Kafka record's key
    headers: tuple[tuple[str, bytes | None], ...] = ()  # the Kafka record's headers

    @property
    def stream(self) -> str:
        """The file, or `topic/partition`: what `position` counts in."""
        return self.source if self.partition is None else f"{self.source}/{self.partition}"

    def parse(self, max_bytes: int) -> Event:
        """The event, parsed and validated; `EventError` names what is wrong. A Kafka record must
        be keyed by its event's `datasetid`: the key chooses the partition, and a dataset's state
        lives in one partition only, so an event keyed otherwise would start a second state."""
        # A record with headers may be a CloudEvent in binary mode: attributes in the headers.
        attributes = binary_mode_attributes(self.headers) if self.headers else None
        if attributes is not None:
            event = event_from_binary(attributes, self.data or b"", max_bytes=max_bytes)
        elif self.data is None:
            raise EventError("event", None, "the record has no value")
        else:
            event = parse_event(self.data, max_bytes=max_bytes)
        # A backfill spans an org: it is written to every partition, each backfilling its own.
        keyed = event.kind.has_datasetid
        if self.partition is not None and keyed and self.key != event.dataset_id.encode():
            raise EventError(f"event {event.id!r} record key", None, self._key_problem(event))
        return event

    def _key_problem(self, event: Event) -> str:
        expected = f"its datasetid {event.dataset_id!r}"
        if self.key is None:
            return f"the record has no key; it must be {expected}"
        return f"{self.key.decode(errors='replace')!r} is not {expected}"


@runtime_checkable
class Sink(Protocol):
    """Takes what the evaluator made of each event, in the order the events were read."""

    def emit(self, origin: Origin, event: Event, result: EventResult) -> None:
        """The invocation requests and evaluation records of an evaluated event."""

    def reject(self, origin: Origin, error: EventError) -> None:
        """An event that could not be taken, and why."""

    def flush(self) -> None:
        """Write out whatever is buffered; the driver calls it once its events are done."""


_dumps = orjson.dumps
_to_json = InvocationRequest.to_json


class _JsonLines:
    """Buffered JSON Lines writer for one stream.

    The buffer is written out by size, not by record count: joining a few MiB gets freshly mapped
    pages from the allocator every time, and on a VM those page faults cost more than encoding.
    """

    def __init__(self, stream: IO[bytes], flush_bytes: int) -> None:
        self._stream = stream
        self._buffer: list[bytes] = []
        self._size = 0
        self._flush_bytes = flush_bytes

    def write(self, documents: Iterable[bytes]) -> None:
        """Documents already encoded: compact JSON, no newline."""
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
        if self._buffer:
            self._stream.write(b"".join(self._buffer))
            self._buffer.clear()
            self._size = 0
            self._stream.flush()


class JsonlSink:
    """JSON Lines streams: invocation requests, evaluation records and reject records, each
    written only when its stream is given."""

    def __init__(
        self,
        invocations: IO[bytes] | None = None,
        *,
        evaluations: IO[bytes] | None = None,
        rejects: IO[bytes] | None = None,
        flush_bytes: int = 1 << 16,
    ) -> None:
        self._invocations = None if invocations is None else _JsonLines(invocations, flush_bytes)
        self._evaluations = None if evaluations is None else _JsonLines(evaluations, flush_bytes)
        self._rejects = None if rejects is None else _JsonLines(rejects, flush_bytes)

    def emit(self, origin: Origin, event: Event, result: EventResult) -> None:
        if result.invocations and self._invocations is not None:
            self._invocations.write(map(_to_json, result.invocations))
        if result.evaluations and self._evaluations is not None:
            self._evaluations.write(map(_dumps, result.evaluations))

    def reject(self, origin: Origin, error: EventError) -> None:
        if self._rejects is not None:
            self._rejects.write([_dumps(_reject_record(origin, error))])

    def flush(self) -> None:
        for lines in (self._invocations, self._evaluations, self._rejects):
            if lines is not None:
                lines.flush()


def _reject_record(origin: Origin, error: EventError) -> dict[str, Any]:
    """A line of the rejects output: where the event was, why it was rejected, and the event."""
    data = origin.data or b""
    return {
        "source": origin.stream,
        "line": origin.position,
        "reason": str(error),
        "event": data.decode("utf-8", errors="replace"),
    }


class MemorySink:
    """Keeps everything in lists, in order: for tests, and for a library's own use of results."""

    def __init__(self) -> None:
        self.invocations: list[InvocationRequest] = []
        self.evaluations: list[dict[str, Any]] = []
        self.rejects: list[tuple[Origin, EventError]] = []

    def emit(self, origin: Origin, event: Event, result: EventResult) -> None:
        self.invocations.extend(result.invocations)
        self.evaluations.extend(result.evaluations)

    def reject(self, origin: Origin, error: EventError) -> None:
        self.rejects.append((origin, error))

    def flush(self) -> None:
        """Nothing is buffered."""
