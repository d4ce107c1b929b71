"""One input partition: its state, its evaluator and its transactional producer.

Every batch of the partition is one transaction: invocation requests, evaluation records, dead
letters, the partition's state changes, the next input offset (in the changelog and as the group's
consumed offset) are committed together or not at all.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.structs import RecordMetadata

from engine.errors import EventError
from engine.evaluator import EvaluationStats, Evaluator
from engine.events import Event, parse_event
from engine.registry import TriggerRegistry
from engine.service.changelog import PartitionState, offset_record
from engine.service.settings import ServiceSettings
from engine.service.topic_reader import Record

log = logging.getLogger(__name__)

Headers = list[tuple[str, bytes]]
_ABORT_TIMEOUT_S = 10.0
_PARTITIONER = DefaultPartitioner()  # the producer's own: the same key, the same partition


@dataclass(slots=True)
class BatchOutcome:
    events: int = 0
    dead_letters: int = 0
    stats: EvaluationStats = field(default_factory=EvaluationStats)
    commit_seconds: float = 0.0


async def open_producer(settings: ServiceSettings, partition: int) -> AIOKafkaProducer:
    """A started transactional producer whose init_transactions has completed: any earlier
    producer of this partition is fenced and its open transaction completed or aborted."""
    producer = AIOKafkaProducer(
        **settings.kafka.client_options(),
        transactional_id=settings.transactional_id(partition),
        enable_idempotence=True,
        acks="all",
        max_batch_size=settings.producer_batch_bytes,
    )
    try:
        await producer.start()
        # An empty transaction waits for the producer id (init_transactions) and sends nothing.
        await producer.begin_transaction()
        await producer.commit_transaction()
    except BaseException:
        await producer.stop()
        raise
    return producer


class PartitionWorker:
    def __init__(
        self,
        tp: TopicPartition,
        producer: AIOKafkaProducer,
        restored: PartitionState,
        next_offset: int,
        registry: TriggerRegistry,
        settings: ServiceSettings,
    ) -> None:
        self.tp = tp
        self.producer = producer
        self.restored = restored
        self.next_offset = next_offset  # records below it are processed and committed
        self._settings = settings
        self._evaluator = Evaluator(
            registry, restored.state, record_evaluations=bool(settings.evaluations_topic)
        )
        self._queued: list[Record] = []  # fetched, not yet taken into a batch
        self._queued_to = next_offset  # records below it are queued, in a batch or committed

    @property
    def queued(self) -> int:
        return len(self._queued)

    def queue(self, records: list[Record]) -> None:
        """Queue fetched records (in offset order) for the next batches. A record below what is
        queued already is skipped: no event may be processed twice."""
        fresh = [r for r in records if r.offset >= self._queued_to]
        if fresh:
            self._queued.extend(fresh)
            self._queued_to = fresh[-1].offset + 1

    def take(self, limit: int) -> list[Record]:
        """The oldest queued records, at most `limit`, for one batch."""
        taken, self._queued = self._queued[:limit], self._queued[limit:]
        return taken

    async def process(self, records: list[Record]) -> BatchOutcome:
        """Process and commit `records` (in offset order) in one transaction.

        On an error the transaction is aborted and the error raised; the in-memory state then
        holds changes that were never committed, so the caller must discard this worker."""
        outcome = BatchOutcome()
        self._evaluator.stats = outcome.stats
        await self.producer.begin_transaction()
        try:
            outputs = _Outputs(self.producer, await self._partitions())
            for record in records:
                self._process_record(record, outcome, outputs)
            next_offset = records[-1].offset + 1
            changelog = TopicPartition(self._settings.state_topic, self.tp.partition)
            for key, value in [*self.restored.journal.drain(), offset_record(next_offset)]:
                outputs.add(changelog, key, value)
            await outputs.send()
            ends = await outputs.delivered()
            started = time.perf_counter()
            await self.producer.send_offsets_to_transaction(
                {self.tp: next_offset}, self._settings.group_id
            )
            await self.producer.commit_transaction()
            outcome.commit_seconds = time.perf_counter() - started
        except asyncio.CancelledError:
            raise  # shutdown deadline: the partition's next init_transactions aborts it
        except BaseException:
            await self._abort()
            raise
        self.next_offset = self.restored.input_offset = next_offset
        # The offset record is the transaction's last write to the changelog partition and only
        # the commit marker follows it: nothing else can be appended while this producer holds
        # the partition's transactional id. So this is the partition's end offset from now until
        # someone else writes to it, which is what a parked state is checked against.
        self.restored.changelog_end = ends[changelog] + 1
        return outcome

    async def close(self) -> None:
        await self.producer.stop()

    async def _partitions(self) -> dict[str, list[int]]:
        """The partitions of the topics written by key, as the producer knows them now."""
        settings = self._settings
        topics = [settings.invocations_topic, settings.evaluations_topic]
        return {t: sorted(await self.producer.partitions_for(t)) for t in topics if t}

    def _process_record(self, record: Record, outcome: BatchOutcome, outputs: _Outputs) -> None:
        outcome.events += 1
        try:
            event = self._event(record)
            result = self._evaluator.process(event)
            self.restored.journal.extend(result.changes)
        except EventError as exc:
            outcome.dead_letters += 1
            error = EventError(exc.thing, exc.place or self._place(record), exc.reason)
            outputs.dead_letter(
                self._settings.dlq_topic, record, _dead_letter_headers(record, error)
            )
            return
        if not (result.invocations or result.evaluations):
            return  # most events: no headers to build
        source = _output_headers(record, event)
        key = event.dataset_id.encode()
        settings = self._settings
        for invocation in result.invocations:
            outputs.keyed(settings.invocations_topic, key, invocation.to_json(), source)
        for evaluation in result.evaluations:
            outputs.keyed(settings.evaluations_topic, key, orjson.dumps(evaluation), source)

    def _event(self, record: Record) -> Event:
        if record.value is None:
            raise EventError("event", None, "the record has no value")
        return parse_event(record.value, max_bytes=self._settings.max_event_bytes)

    async def _abort(self) -> None:
        """Best effort: a fenced or disconnected producer cannot abort, and then the next owner's
        init_transactions aborts the transaction instead."""
        try:
            async with asyncio.timeout(_ABORT_TIMEOUT_S):
                await asyncio.shield(self.producer.abort_transaction())
        except Exception as exc:  # any failure here leaves the abort to the next owner
            log.warning("aborting the transaction of %s failed: %r", self.tp, exc)

    @staticmethod
    def _place(record: Record) -> str:
        return f"{record.topic}/{record.partition}@{record.offset}"


class _Outputs:
    """What one transaction writes, appended straight to record batches, one open batch per
    output partition. `producer.send` costs a coroutine, a metadata lookup, a partitioner call
    and a future per record, which made up a fifth of the engine's time; the batches hold the
    same records (keys, values, headers, the default partitioner's partitions) in the same order
    per partition."""

    def __init__(self, producer: AIOKafkaProducer, partitions: dict[str, list[int]]) -> None:
        self._producer = producer
        self._partitions = partitions  # of the topics written by key
        self._by_key: dict[tuple[str, bytes], TopicPartition] = {}  # the partitioner's choices
        self._batches: dict[TopicPartition, list[BatchBuilder]] = {}
        self._dead_letters: list[tuple[str, Record, Headers]] = []
        self._sent: list[Awaitable[RecordMetadata]] = []
        self._last: dict[TopicPartition, int] = {}  # where each partition's last batch is in _sent

    def keyed(self, topic: str, key: bytes, value: bytes, headers: Headers) -> None:
        tp = self._by_key.get((topic, key))
        if tp is None:
            partitions = self._partitions[topic]
            tp = TopicPartition(topic, _PARTITIONER(key, partitions, partitions))
            self._by_key[topic, key] = tp
        self.add(tp, key, value, headers)

    def add(
        self, tp: TopicPartition, key: bytes, value: bytes | None, headers: Headers | None = None
    ) -> None:
        batches = self._batches.setdefault(tp, [])
        if batches:
            appended = batches[-1].append(timestamp=None, key=key, value=value, headers=headers)
            if appended is not None:
                return
        batch = self._producer.create_batch()  # the first record always fits, whatever its size
        batch.append(timestamp=None, key=key, value=value, headers=headers)
        batches.append(batch)

    def dead_letter(self, topic: str, record: Record, headers: Headers) -> None:
        """Rare, and a key may be missing: these go through `producer.send` as they are."""
        self._dead_letters.append((topic, record, headers))

    async def send(self) -> None:
        """Hand everything to the producer."""
        producer = self._producer
        for topic, record, headers in self._dead_letters:
            self._sent.append(await producer.send(topic, record.value, record.key, headers=headers))
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


def _output_headers(record: Record, event: Event) -> Headers:
    """Where an invocation or evaluation record comes from; the only place for wall-clock time."""
    return [
        ("source.topic", record.topic.encode()),
        ("source.partition", str(record.partition).encode()),
        ("source.offset", str(record.offset).encode()),
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


def _dead_letter_headers(record: Record, error: EventError) -> Headers:
    return [
        ("dlq.reason", str(error).encode()),
        ("dlq.source.topic", record.topic.encode()),
        ("dlq.source.partition", str(record.partition).encode()),
        ("dlq.source.offset", str(record.offset).encode()),
    ]
