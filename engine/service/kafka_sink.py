"""The records of one Kafka transaction: a `Sink` for a partition worker's batch of events.

Invocation requests and evaluation records are keyed by dataset and carry where their event came
from (invocation requests also CloudEvents binary-mode headers: `engine.cloudevents`); a
bad event is dead-lettered as it came, headers too, with why and where in headers of its own; the
state changes of the events join the partition's changelog (encoded by `engine.journal`),
and the worker's own changelog records (the next input offset) through `add`.

Every record is checked against its topic's limit (`engine.service.limits`) as it is added, so
nothing the broker would refuse is sent: a record too large as it is goes compressed in a batch of
its own, and one too large even so is not written: an output becomes a failed evaluation, a dead
letter is cut to fit (its headers say so), and a state change fails the batch with
`RecordTooLarge`, for the worker's owner to set its event aside.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import Counter
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from aiokafka.structs import RecordMetadata

from engine.cloudevents import invocation_headers
from engine.decisions import EventResult
from engine.errors import EventError
from engine.events import Event
from engine.journal import Journal
from engine.service.limits import Headers, WriteLimits
from engine.service.logs import partition_fields
from engine.sinks import Origin
from engine.vocabulary import Outcome, Status

log = logging.getLogger(__name__)

_PARTITIONER = DefaultPartitioner()  # the producer's own: the same key, the same partition
_VARINT_GROWTH = 4  # a length of 0 takes one byte as a varint; any length of a record, five
_RECORD_KINDS = {"invocation": "request", "evaluation": "record"}


class RecordTooLarge(Exception):
    """A record the transaction cannot do without (a state change) exceeds its topic's limit."""


class KafkaTransactionSink:
    """What one transaction writes, appended straight to record batches, one open batch per
    output partition: `producer.send` would cost a coroutine, a metadata lookup, a partitioner
    call and a future per record. The batches hold the same records (keys, values, headers, the
    default partitioner's partitions) in the same order per partition. Nothing leaves before
    `send`, which hands everything to the producer's open transaction."""

    def __init__(
        self,
        producer: AIOKafkaProducer,
        partitions: dict[str, list[int]],
        *,
        invocations_topic: str,
        evaluations_topic: str,
        dead_letter_topic: str,
        changelog: TopicPartition,
        limits: WriteLimits,
    ) -> None:
        self._producer = producer
        self._partitions = partitions  # of the topics written by key, and of the dead letters
        self._invocations_topic = invocations_topic
        self._evaluations_topic = evaluations_topic
        self._dead_letter_topic = dead_letter_topic
        self._changelog = changelog
        self._limits = limits
        self._journal = Journal()  # the state changes not yet in the changelog's batches
        self._by_key: dict[tuple[str, bytes], TopicPartition] = {}  # the partitioner's choices
        self._batches: dict[TopicPartition, list[BatchBuilder]] = {}
        self._sent: list[Awaitable[RecordMetadata]] = []
        self._last: dict[TopicPartition, int] = {}  # where each partition's last batch is in _sent
        self.too_large: Counter[str] = Counter()  # outputs not written for their size, by kind
        self.truncated = 0  # dead letters written truncated

    @classmethod
    async def open(
        cls,
        producer: AIOKafkaProducer,
        *,
        invocations_topic: str,
        evaluations_topic: str,
        dead_letter_topic: str,
        changelog: TopicPartition,
        limits: WriteLimits,
    ) -> KafkaTransactionSink:
        """A sink for the producer's open transaction, with the partitions of the topics written
        by key as the producer knows them now; an empty evaluations topic is not written."""
        partitions = {
            topic: sorted(await producer.partitions_for(topic))
            for topic in (invocations_topic, evaluations_topic, dead_letter_topic)
            if topic
        }
        return cls(
            producer,
            partitions,
            invocations_topic=invocations_topic,
            evaluations_topic=evaluations_topic,
            dead_letter_topic=dead_letter_topic,
            changelog=changelog,
            limits=limits,
        )

    def emit(self, origin: Origin, event: Event, result: EventResult) -> None:
        self._journal.extend(result.changes)
        if not (result.invocations or result.evaluations):
            return  # most events: no headers to build
        source = _output_headers(origin, event)
        key = event.dataset_id.encode()
        spans_datasets = not event.kind.has_datasetid  # a backfill: outputs keyed by dataset
        unwritten: dict[int, str] = {}  # why, by the invocation's place in the result
        for at, invocation in enumerate(result.invocations):
            if spans_datasets:
                key = invocation.dataset_id.encode()
            headers = [*source, *invocation_headers(invocation)]
            why = self._keyed(self._invocations_topic, key, invocation.to_json(), headers)
            if why is not None:
                unwritten[at] = self._too_large("invocation", origin, why)
        evaluations = result.evaluations
        if unwritten:
            evaluations = _failed_invocations(evaluations, unwritten)
        for evaluation in evaluations:
            if spans_datasets:
                key = evaluation["dataset_id"].encode()
            why = self._keyed(self._evaluations_topic, key, orjson.dumps(evaluation), source)
            if why is not None:
                failed = {**evaluation, "status": Status.FAILED}
                failed["detail"] = self._too_large("evaluation", origin, why)
                # Only ids are left that could be too large: then nothing is written for it.
                self._keyed(self._evaluations_topic, key, orjson.dumps(failed), source)

    def reject(self, origin: Origin, error: EventError) -> None:
        """The event as it came, in the dead-letter partition of its input partition; cut to what
        the topic takes when it is too large."""
        placed = EventError(error.thing, error.place or _place(origin), error.reason)
        headers = _dead_letter_headers(origin, placed)
        partitions = self._partitions[self._dead_letter_topic]
        tp = TopicPartition(
            self._dead_letter_topic, partitions[(origin.partition or 0) % len(partitions)]
        )
        # As it came includes its headers: a binary-mode event's attributes are there.
        if self._append(tp, origin.key, origin.data, [*origin.headers, *headers]) is not None:
            self.truncated += 1
            self.add(tp, *self._truncated(tp.topic, origin, headers))

    def flush(self) -> None:
        """The state changes emitted so far join the changelog's batches; every record leaves
        with the transaction, by `send`."""
        for key, value in self._journal.drain():
            self.add(self._changelog, key, value)

    def add(
        self,
        tp: TopicPartition,
        key: bytes | None,
        value: bytes | None,
        headers: Headers | None = None,
    ) -> None:
        """A record for a given partition, such as a changelog record; `RecordTooLarge` when its
        topic cannot take it."""
        size = self._append(tp, key, value, headers)
        if size is not None:
            raise RecordTooLarge(
                f"a record of {len(value or b'')} bytes for {tp.topic}/{tp.partition}: "
                + _over(size, self._limits.limit(tp.topic), tp.topic)
            )

    async def send(self) -> None:
        """Hand everything to the producer."""
        producer = self._producer
        for tp, batches in self._batches.items():
            for batch in batches:  # in order: each waits until the one before is on its way
                self._sent.append(
                    await producer.send_batch(batch, tp.topic, partition=tp.partition)
                )
            self._last[tp] = len(self._sent) - 1

    async def delivered(self) -> dict[TopicPartition, int]:
        """Once the broker has everything sent (else its error): the next offset of each
        partition written."""
        delivered = await asyncio.gather(*self._sent, return_exceptions=True)
        for result in delivered:
            if isinstance(result, BaseException):
                raise result
        return {
            tp: delivered[at].offset + self._batches[tp][-1].record_count()
            for tp, at in self._last.items()
        }

    def _keyed(self, topic: str, key: bytes, value: bytes, headers: Headers) -> str | None:
        """Add a record keyed by dataset; None, else why it could not be."""
        tp = self._by_key.get((topic, key))
        if tp is None:
            partitions = self._partitions[topic]
            tp = TopicPartition(topic, _PARTITIONER(key, partitions, partitions))
            self._by_key[topic, key] = tp
        size = self._append(tp, key, value, headers)
        if size is None:
            return None
        return f"{len(value)} bytes, {_over(size, self._limits.limit(topic), topic)}"

    def _append(
        self, tp: TopicPartition, key: bytes | None, value: bytes | None, headers: Headers | None
    ) -> int | None:
        """Append a record to the partition's open batch, or to a new one; None when it is in,
        else the size of the batch it needs, above the topic's limit (and nothing appended)."""
        batches = self._batches.get(tp)
        if batches:
            appended = batches[-1].append(timestamp=None, key=key, value=value, headers=headers)
            if appended is not None:
                return None  # a batch's own size is capped below every topic's limit
        batch = self._producer.create_batch()
        batch.append(timestamp=None, key=key, value=value, headers=headers)  # the first fits
        limit = self._limits.limit(tp.topic)
        if batch.size() > limit:
            size = self._limits.compressed_size(key, value, headers or [])
            if size > limit:
                return size
            batch = self._limits.compressed_batch()
            batch.append(timestamp=None, key=key, value=value, headers=headers)
        self._batches.setdefault(tp, []).append(batch)
        return None

    def _truncated(
        self, topic: str, origin: Origin, headers: Headers
    ) -> tuple[bytes | None, bytes, Headers]:
        """A dead letter that fits: the value's head (the key too is dropped when it alone leaves
        no room), the dead letter's own headers saying so, without the record's."""
        data = origin.data or b""
        headers = [
            *headers,
            ("dlq.truncated", b"true"),
            ("dlq.original.bytes", str(len(data)).encode()),
        ]
        limit = self._limits.limit(topic) - _VARINT_GROWTH
        key = origin.key
        room = limit - DefaultRecordBatchBuilder.estimate_size_in_bytes(key, b"", headers)
        if room < 0:
            key = None
            room = limit - DefaultRecordBatchBuilder.estimate_size_in_bytes(key, b"", headers)
        return key, data[: max(room, 0)], headers

    def _too_large(self, output: str, origin: Origin, why: str) -> str:
        self.too_large[output] += 1
        reason = f"{output} {_RECORD_KINDS[output]} of {why}"
        log.warning(
            "not written, from the event at %s: %s",
            _place(origin),
            reason,
            extra=partition_fields(
                origin.source, origin.partition or 0, offset=origin.position, reason=reason
            ),
        )
        return reason


def _over(size: int, limit: int, topic: str) -> str:
    return f"{size} bytes as sent, exceeds the limit of {limit} bytes of topic {topic!r}"


def _failed_invocations(
    evaluations: list[dict[str, Any]], unwritten: dict[int, str]
) -> list[dict[str, Any]]:
    """The evaluation records, those of the invocations not written marked failed with the
    reason: the evaluator records the invoking decisions in the order of their invocations."""
    marked = []
    invoked = 0
    for evaluation in evaluations:
        if evaluation["outcome"] == Outcome.INVOKED:
            why = unwritten.get(invoked)
            invoked += 1
            if why is not None:
                evaluation = {**evaluation, "status": Status.FAILED, "detail": why}
        marked.append(evaluation)
    return marked


def _output_headers(origin: Origin, event: Event) -> Headers:
    """Where an invocation or evaluation record comes from; the only place for wall-clock time."""
    return [
        ("source.topic", origin.source.encode()),
        ("source.partition", str(origin.partition).encode()),
        ("source.offset", str(origin.position).encode()),
        ("event.id", event.id.encode()),
        ("processed.at", _iso_millis(time.time_ns() // 1_000_000)),
    ]


@functools.lru_cache(maxsize=1)
def _iso_millis(epoch_ms: int) -> bytes:
    """ISO 8601 UTC with milliseconds; cached, since the events of a batch mostly share one."""
    moment = datetime.fromtimestamp(epoch_ms // 1000, UTC).replace(
        microsecond=epoch_ms % 1000 * 1000
    )
    return moment.isoformat(timespec="milliseconds").encode()


def _place(origin: Origin) -> str:
    return f"{origin.stream}@{origin.position}"


def _dead_letter_headers(origin: Origin, error: EventError) -> Headers:
    return [
        ("dlq.reason", str(error).encode()),
        ("dlq.source.topic", origin.source.encode()),
        ("dlq.source.partition", str(origin.partition).encode()),
        ("dlq.source.offset", str(origin.position).encode()),
    ]
