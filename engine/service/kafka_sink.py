"""The records of one Kafka transaction: a `Sink` for a partition worker's batch of events.

Invocation requests and evaluation records are keyed by dataset and carry where their event came
from; a bad event is dead-lettered as it came, with why and where in its headers; the state
changes of the events join the partition's changelog (encoded by `engine.service.journal`), and
the worker's own changelog records (the next input offset) through `add`.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable
from datetime import UTC, datetime

import orjson
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.structs import RecordMetadata

from engine.decisions import EventResult
from engine.errors import EventError
from engine.events import Event
from engine.service.journal import Journal
from engine.sinks import Origin

Headers = list[tuple[str, bytes]]
_PARTITIONER = DefaultPartitioner()  # the producer's own: the same key, the same partition


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
    ) -> None:
        self._producer = producer
        self._partitions = partitions  # of the topics written by key
        self._invocations_topic = invocations_topic
        self._evaluations_topic = evaluations_topic
        self._dead_letter_topic = dead_letter_topic
        self._changelog = changelog
        self._journal = Journal()  # the state changes not yet in the changelog's batches
        self._by_key: dict[tuple[str, bytes], TopicPartition] = {}  # the partitioner's choices
        self._batches: dict[TopicPartition, list[BatchBuilder]] = {}
        self._dead_letters: list[tuple[Origin, Headers]] = []
        self._sent: list[Awaitable[RecordMetadata]] = []
        self._last: dict[TopicPartition, int] = {}  # where each partition's last batch is in _sent

    @classmethod
    async def open(
        cls,
        producer: AIOKafkaProducer,
        *,
        invocations_topic: str,
        evaluations_topic: str,
        dead_letter_topic: str,
        changelog: TopicPartition,
    ) -> KafkaTransactionSink:
        """A sink for the producer's open transaction, with the partitions of the topics written
        by key as the producer knows them now; an empty evaluations topic is not written."""
        partitions = {
            topic: sorted(await producer.partitions_for(topic))
            for topic in (invocations_topic, evaluations_topic)
            if topic
        }
        return cls(
            producer,
            partitions,
            invocations_topic=invocations_topic,
            evaluations_topic=evaluations_topic,
            dead_letter_topic=dead_letter_topic,
            changelog=changelog,
        )

    def emit(self, origin: Origin, event: Event, result: EventResult) -> None:
        self._journal.extend(result.changes)
        if not (result.invocations or result.evaluations):
            return  # most events: no headers to build
        source = _output_headers(origin, event)
        key = event.dataset_id.encode()
        for invocation in result.invocations:
            self._keyed(self._invocations_topic, key, invocation.to_json(), source)
        for evaluation in result.evaluations:
            self._keyed(self._evaluations_topic, key, orjson.dumps(evaluation), source)

    def reject(self, origin: Origin, error: EventError) -> None:
        """Rare, and a key may be missing: dead letters go through `producer.send` as they are."""
        placed = EventError(error.thing, error.place or _place(origin), error.reason)
        self._dead_letters.append((origin, _dead_letter_headers(origin, placed)))

    def flush(self) -> None:
        """The state changes emitted so far join the changelog's batches; every record leaves
        with the transaction, by `send`."""
        for key, value in self._journal.drain():
            self.add(self._changelog, key, value)

    def add(
        self, tp: TopicPartition, key: bytes, value: bytes | None, headers: Headers | None = None
    ) -> None:
        """A record for a given partition, such as a changelog record."""
        batches = self._batches.setdefault(tp, [])
        if batches:
            appended = batches[-1].append(timestamp=None, key=key, value=value, headers=headers)
            if appended is not None:
                return
        batch = self._producer.create_batch()  # the first record always fits, whatever its size
        batch.append(timestamp=None, key=key, value=value, headers=headers)
        batches.append(batch)

    async def send(self) -> None:
        """Hand everything to the producer."""
        producer = self._producer
        for origin, headers in self._dead_letters:
            self._sent.append(
                await producer.send(
                    self._dead_letter_topic, origin.data, origin.key, headers=headers
                )
            )
        for tp, batches in self._batches.items():
            for batch in batches:  # in order: each waits until the one before is on its way
                self._sent.append(
                    await producer.send_batch(batch, tp.topic, partition=tp.partition)
                )
            self._last[tp] = len(self._sent) - 1

    async def delivered(self) -> dict[TopicPartition, int]:
        """Once the broker has everything sent (else its error): the next offset of each
        partition written by batch."""
        delivered = await asyncio.gather(*self._sent, return_exceptions=True)
        for result in delivered:
            if isinstance(result, BaseException):
                raise result
        return {
            tp: delivered[at].offset + self._batches[tp][-1].record_count()
            for tp, at in self._last.items()
        }

    def _keyed(self, topic: str, key: bytes, value: bytes, headers: Headers) -> None:
        tp = self._by_key.get((topic, key))
        if tp is None:
            partitions = self._partitions[topic]
            tp = TopicPartition(topic, _PARTITIONER(key, partitions, partitions))
            self._by_key[topic, key] = tp
        self.add(tp, key, value, headers)


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
