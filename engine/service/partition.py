"""One input partition: its state, its evaluator and its transactional producer.

Every batch of the partition is one transaction: invocation requests, evaluation records, dead
letters, the partition's state changes, the next input offset (in the changelog and as the group's
consumed offset) are committed together or not at all.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer, TopicPartition

from engine.errors import EventError
from engine.evaluator import EvaluationStats, Evaluator
from engine.events import Event, parse_event
from engine.registry import TriggerRegistry
from engine.service.changelog import PartitionState, offset_record
from engine.service.settings import ServiceSettings
from engine.service.topic_reader import Record

log = logging.getLogger(__name__)

Headers = list[tuple[str, bytes]]
Delivery = Awaitable[Any]
_ABORT_TIMEOUT_S = 10.0


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

    async def process(self, records: list[Record]) -> BatchOutcome:
        """Process and commit `records` (in offset order) in one transaction.

        On an error the transaction is aborted and the error raised; the in-memory state then
        holds changes that were never committed, so the caller must discard this worker."""
        outcome = BatchOutcome()
        self._evaluator.stats = outcome.stats
        await self.producer.begin_transaction()
        try:
            deliveries: list[Delivery] = []
            for record in records:
                deliveries.extend(await self._process_record(record, outcome))
            next_offset = records[-1].offset + 1
            deliveries.extend(await self._send_state_changes(next_offset))
            delivered = await asyncio.gather(*deliveries, return_exceptions=True)
            for result in delivered:
                if isinstance(result, BaseException):
                    raise result
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
        self.restored.changelog_end = delivered[-1].offset + 2
        return outcome

    async def close(self) -> None:
        await self.producer.stop()

    async def _process_record(self, record: Record, outcome: BatchOutcome) -> list[Delivery]:
        outcome.events += 1
        try:
            event = self._event(record)
            result = self._evaluator.process(event)
        except EventError as exc:
            outcome.dead_letters += 1
            error = EventError(exc.thing, exc.place or self._place(record), exc.reason)
            return [await self._send_dead_letter(record, error)]
        source = _output_headers(record, event)
        key = event.dataset_id.encode()
        settings = self._settings
        sends = [
            self.producer.send(settings.invocations_topic, orjson.dumps(r), key, headers=source)
            for r in result.invocations
        ]
        sends += [
            self.producer.send(settings.evaluations_topic, orjson.dumps(r), key, headers=source)
            for r in result.evaluations
        ]
        return [await send for send in sends]

    def _event(self, record: Record) -> Event:
        if record.value is None:
            raise EventError("event", None, "the record has no value")
        return parse_event(record.value, max_bytes=self._settings.max_event_bytes)

    async def _send_dead_letter(self, record: Record, error: EventError) -> Delivery:
        return await self.producer.send(
            self._settings.dlq_topic,
            record.value,
            record.key,
            headers=_dead_letter_headers(record, error),
        )

    async def _send_state_changes(self, next_offset: int) -> list[Delivery]:
        topic, partition = self._settings.state_topic, self.tp.partition
        changes = [*self.restored.state.drain_changes(), offset_record(next_offset)]
        return [
            await self.producer.send(topic, value, key, partition=partition)
            for key, value in changes
        ]

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


def _output_headers(record: Record, event: Event) -> Headers:
    """Where an invocation or evaluation record comes from; the only place for wall-clock time."""
    return [
        ("source.topic", record.topic.encode()),
        ("source.partition", str(record.partition).encode()),
        ("source.offset", str(record.offset).encode()),
        ("event.id", event.id.encode()),
        ("processed.at", datetime.now(UTC).isoformat(timespec="milliseconds").encode()),
    ]


def _dead_letter_headers(record: Record, error: EventError) -> Headers:
    return [
        ("dlq.reason", str(error).encode()),
        ("dlq.source.topic", record.topic.encode()),
        ("dlq.source.partition", str(record.partition).encode()),
        ("dlq.source.offset", str(record.offset).encode()),
    ]
