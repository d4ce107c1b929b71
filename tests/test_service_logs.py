"""The service's log: the Kafka client library's repeated records are held back and counted, its
retried conditions are not errors, and the JSON format carries each record's fields."""

from __future__ import annotations

import logging
import sys

import orjson
import pytest
from aiokafka import errors as kafka_errors

from engine.cli import build_parser
from engine.errors import ConfigError
from engine.service.cli import cmd_run
from engine.service.logs import (
    JsonFormatter,
    RepeatLimiter,
    TransientClientErrors,
    partition_fields,
)


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


def test_the_client_library_retried_conditions_are_lowered_from_errors(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="aiokafka")
    lowering = TransientClientErrors("aiokafka")
    lookup = _record(
        "aiokafka.consumer.group_coordinator",
        "Group Coordinator Request failed: %s",
        kafka_errors.CoordinatorNotAvailableError(),
    )
    metadata = _record("aiokafka", "Unable to update metadata from %s", [1])
    assert lowering.filter(lookup) and lowering.filter(metadata)
    assert (lookup.levelname, metadata.levelname) == ("INFO", "WARNING")


def test_errors_the_client_library_does_not_retry_stay_errors() -> None:
    lowering = TransientClientErrors("aiokafka")
    fatal = _record(
        "aiokafka.consumer.group_coordinator",
        "Group Coordinator Request failed: %s",
        kafka_errors.GroupAuthorizationFailedError(),
    )
    unknown = _record("aiokafka.consumer.group_coordinator", "Heartbeat failed: %r", "boom")
    engine = _record("engine.service.service", "Unable to update metadata from %s", [1])
    for record in (fatal, unknown, engine):
        assert lowering.filter(record)
        assert record.levelno == logging.ERROR


def test_a_lowered_record_passes_only_if_its_logger_is_enabled_for_its_new_level(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="aiokafka")
    lookup = _record(
        "aiokafka.consumer.group_coordinator",
        "Group Coordinator Request failed: %s",
        kafka_errors.NodeNotReadyError(),
    )
    assert not TransientClientErrors("aiokafka").filter(lookup)
    assert lookup.levelno == logging.INFO


def test_json_lines_carry_time_level_logger_message_and_the_extra_fields() -> None:
    logger = logging.getLogger("engine.service.service")
    record = logger.makeRecord(
        logger.name,
        logging.WARNING,
        __file__,
        1,
        "transaction of %s from offset %d aborted",
        ("events/4", 17),
        None,
        extra=partition_fields("events", 4, offset=17, error="KafkaTimeoutError()"),
    )
    record.created = 0.25
    line = JsonFormatter().format(record)
    assert "\n" not in line
    assert orjson.loads(line) == {
        "time": "1970-01-01T00:00:00.250+00:00",
        "level": "WARNING",
        "logger": "engine.service.service",
        "message": "transaction of events/4 from offset 17 aborted",
        "topic": "events",
        "partition": 4,
        "offset": 17,
        "error": "KafkaTimeoutError()",
    }


def test_json_lines_carry_the_traceback_of_an_exception() -> None:
    try:
        raise ValueError("bad batch")
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "engine.service.service", logging.ERROR, __file__, 1, "failed", None, exc_info
    )
    fields = orjson.loads(JsonFormatter().format(record))
    assert fields["message"] == "failed"
    assert fields["exception"].startswith("Traceback (most recent call last):")
    assert fields["exception"].endswith("ValueError: bad batch")


def test_the_log_format_comes_from_the_flag_or_the_variable_and_is_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TRIGGER_ENGINE_LOG_FORMAT", raising=False)
    assert build_parser().parse_args(["run"]).log_format == "text"
    assert build_parser().parse_args(["run", "--log-format=JSON"]).log_format == "json"
    monkeypatch.setenv("TRIGGER_ENGINE_LOG_FORMAT", "json")
    assert build_parser().parse_args(["run"]).log_format == "json"
    monkeypatch.setenv("TRIGGER_ENGINE_LOG_FORMAT", "xml")
    with pytest.raises(ConfigError, match=r"--log-format.*'xml' is not one of"):
        cmd_run(build_parser().parse_args(["run"]))
