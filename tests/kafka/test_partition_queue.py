"""A partition worker's queue of fetched records, which fetching fills while a transaction
commits: no record queued twice, none already committed, the oldest taken first. No broker."""

from __future__ import annotations

from typing import cast

from aiokafka import AIOKafkaProducer, TopicPartition

from engine.actions import ActionCatalog
from engine.registry import TriggerRegistry
from engine.service.changelog import PartitionState
from engine.service.limits import WriteLimits
from engine.service.partition import PartitionWorker
from engine.service.settings import ServiceSettings
from engine.service.topic_reader import Record

TP = TopicPartition("dataset-events", 0)


def _worker(next_offset: int) -> PartitionWorker:
    producer = cast(AIOKafkaProducer, None)  # queueing never produces
    registry, settings = TriggerRegistry(ActionCatalog()), ServiceSettings()
    limits = WriteLimits(settings.producer_max_request_bytes, {})
    return PartitionWorker(TP, producer, PartitionState(0), next_offset, registry, settings, limits)


def _records(*offsets: int) -> list[Record]:
    return [
        Record(TP.topic, TP.partition, offset, 0, 0, None, b"{}", None, 0, 2, ())
        for offset in offsets
    ]


def _offsets(records: list[Record]) -> list[int]:
    return [record.offset for record in records]


def test_records_below_the_committed_offset_or_already_queued_are_skipped() -> None:
    worker = _worker(next_offset=10)
    worker.queue(_records(8, 9, 10, 11))
    worker.queue(_records(11, 12, 14))  # a fetch repeating one record; 13 is a gap in the log
    assert worker.queued == 4
    assert _offsets(worker.take(3)) == [10, 11, 12]
    worker.queue(_records(12, 15))  # 12 is in the batch being committed
    assert _offsets(worker.take(10)) == [14, 15]
    assert worker.queued == 0
    assert worker.take(10) == []
