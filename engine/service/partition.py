"""One input partition: its state, its evaluator and its transactional producer.

Every batch of the partition is one transaction: invocation requests, evaluation records, dead
letters, the partition's state changes, the next input offset (in the changelog and as the group's
consumed offset) are committed together or not at all. A record whose transactions keep failing is
set aside the same way: its dead letter and the next offset, in one transaction.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from aiokafka import AIOKafkaProducer, TopicPartition

from engine.errors import EventError
from engine.evaluator import EvaluationStats, Evaluator
from engine.registry import TriggerRegistry
from engine.service.changelog import PartitionState, offset_record
from engine.service.kafka_sink import KafkaTransactionSink
from engine.service.limits import WriteLimits
from engine.service.logs import partition_fields
from engine.service.settings import ServiceSettings
from engine.service.topic_reader import Record
from engine.sinks import Origin, Sink

log = logging.getLogger(__name__)

_ABORT_TIMEOUT_S = 10.0


@dataclass(slots=True)
class BatchOutcome:
    events: int = 0
    dead_letters: int = 0
    stats: EvaluationStats = field(default_factory=EvaluationStats)
    commit_seconds: float = 0.0
    too_large: Counter[str] = field(default_factory=Counter)  # outputs not written, by kind
    truncated: int = 0  # dead letters cut to fit


async def open_producer(
    settings: ServiceSettings, partition: int, limits: WriteLimits | None = None
) -> AIOKafkaProducer:
    """A started transactional producer whose init_transactions has completed: any earlier
    producer of this partition is fenced and its open transaction completed or aborted. Its
    batches fit the topics of `limits` (None: for a few small records)."""
    batch_bytes = settings.producer_batch_bytes
    producer = AIOKafkaProducer(
        **settings.kafka.client_options(),
        transactional_id=settings.transactional_id(partition),
        enable_idempotence=True,
        acks="all",
        max_batch_size=batch_bytes if limits is None else limits.producer_batch_bytes(batch_bytes),
        max_request_size=settings.producer_max_request_bytes,
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
        limits: WriteLimits,
    ) -> None:
        self.tp = tp
        self.producer = producer
        self.restored = restored
        self.next_offset = next_offset  # records below it are processed and committed
        self._settings = settings
        self._limits = limits
        self._evaluator = Evaluator(
            registry,
            restored.state,
            record_evaluations=bool(settings.evaluations_topic),
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

        def fill(sink: KafkaTransactionSink) -> None:
            for record in records:
                self._process_record(record, outcome, sink)
            sink.flush()  # the events' state changes, before the offset record closes them

        await self._transaction(records[-1].offset + 1, fill, outcome)
        return outcome

    async def set_aside(self, record: Record, reason: str) -> BatchOutcome:
        """Commit `record` as a dead letter with `reason`, unprocessed: for a record whose
        transactions keep failing. The state is left as it is."""
        outcome = BatchOutcome(events=1, dead_letters=1)
        error = EventError("event", None, reason)
        await self._transaction(
            record.offset + 1, lambda sink: sink.reject(_origin(record), error), outcome
        )
        return outcome

    async def _transaction(
        self,
        next_offset: int,
        fill: Callable[[KafkaTransactionSink], None],
        outcome: BatchOutcome,
    ) -> None:
        """One transaction: what `fill` adds to the sink, then the input offset `next_offset`."""
        settings = self._settings
        await self.producer.begin_transaction()
        changelog = TopicPartition(settings.state_topic, self.tp.partition)
        try:
            sink = await KafkaTransactionSink.open(
                self.producer,
                invocations_topic=settings.invocations_topic,
                evaluations_topic=settings.evaluations_topic,
                dead_letter_topic=settings.dlq_topic,
                changelog=changelog,
                limits=self._limits,
            )
            fill(sink)
            sink.add(changelog, *offset_record(next_offset))
            await sink.send()
            ends = await sink.delivered()
            started = time.perf_counter()
            await self.producer.send_offsets_to_transaction(
                {self.tp: next_offset}, settings.group_id
            )
            await self.producer.commit_transaction()
            outcome.commit_seconds = time.perf_counter() - started
            outcome.too_large, outcome.truncated = sink.too_large, sink.truncated
        except asyncio.CancelledError:
            raise  # shutdown deadline: the partition's next init_transactions aborts it
        except BaseException:
            self.restored.aborted()
            await self._abort()
            raise
        self.next_offset = next_offset
        # The offset record is the transaction's last write to the changelog partition and only
        # the commit marker follows it: nothing else can be appended while this producer holds
        # the partition's transactional id. So this is the partition's end offset from now until
        # someone else writes to it, which is what a parked state is checked against (and where
        # a disk store's checkpoint says it is complete up to).
        self.restored.committed(ends[changelog] + 1, next_offset)

    async def close(self) -> None:
        await self.producer.stop()

    def _process_record(self, record: Record, outcome: BatchOutcome, sink: Sink) -> None:
        outcome.events += 1
        origin = _origin(record)
        try:
            event = origin.parse(self._settings.max_event_bytes)
            result = self._evaluator.process(event)
        except EventError as exc:
            outcome.dead_letters += 1
            sink.reject(origin, exc)
        else:
            sink.emit(origin, event, result)

    async def _abort(self) -> None:
        """Best effort: a fenced or disconnected producer cannot abort, and then the next owner's
        init_transactions aborts the transaction instead."""
        try:
            async with asyncio.timeout(_ABORT_TIMEOUT_S):
                await asyncio.shield(self.producer.abort_transaction())
        except Exception as exc:  # any failure here leaves the abort to the next owner
            log.warning(
                "aborting the transaction of %s failed: %r",
                self.tp,
                exc,
                extra=partition_fields(*self.tp, error=repr(exc)),
            )


def _origin(record: Record) -> Origin:
    return Origin(
        record.topic,
        record.offset,
        record.value,
        record.partition,
        record.key,
        tuple(record.headers),
    )
