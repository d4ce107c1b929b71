"""The service's log: the Kafka client library's repeated records are held back and counted."""

from __future__ import annotations

import logging

from engine.service.logs import RepeatLimiter


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _record(
    name: str, message: str, *args: object, level: int = logging.ERROR
) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, message, args, None)


def _shown(limiter: RepeatLimiter, record: logging.LogRecord) -> str | None:
    return record.getMessage() if limiter.filter(record) else None


def test_the_first_of_each_kind_passes_then_one_per_interval_with_the_count_held_back() -> None:
    clock = _Clock()
    limiter = RepeatLimiter("aiokafka", interval_s=60.0, clock=clock)
    refused = "Unable connect to node with id %s: %s"
    shown = []
    for second in range(150):  # a broker out of reach for 150 s, two failures a second
        clock.now = float(second)
        for node in (1, 2):
            shown.append(_shown(limiter, _record("aiokafka", refused, node, "refused")))
    assert [line for line in shown if line is not None] == [
        "Unable connect to node with id 1: refused",
        "Unable connect to node with id 1: refused (119 more like it in the last 60 s)",
        "Unable connect to node with id 1: refused (119 more like it in the last 60 s)",
    ]


def test_kinds_are_told_apart_by_logger_level_and_template() -> None:
    limiter = RepeatLimiter("aiokafka", interval_s=60.0, clock=_Clock())
    records = [
        _record("aiokafka", "Unable to update metadata from %s", [1]),
        _record("aiokafka.consumer.fetcher", "Unable to update metadata from %s", [1]),
        _record("aiokafka", "Unable to update metadata from %s", [1], level=logging.WARNING),
        _record("aiokafka", "Failed fetch messages from %s: %s", 1, "closed"),
    ]
    assert all(limiter.filter(record) for record in records)
    assert not any(limiter.filter(record) for record in records)


def test_other_loggers_are_never_held_back() -> None:
    limiter = RepeatLimiter("aiokafka", interval_s=60.0, clock=_Clock())
    for name in ("engine.service.service", "aiokafkaesque", "root"):
        assert all(limiter.filter(_record(name, "the broker is unreachable")) for _ in range(5))
