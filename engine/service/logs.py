"""The service's log: one line per record on stderr, as text or as JSON, with the Kafka client
library's repetitions held back and its retried conditions not called errors.

While a broker is out of reach, aiokafka logs the same failures (a connection refused, a request
that timed out) many times a second for as long as the outage lasts. What the engine makes of it
is in its own log lines; of the library's, the first of each kind is kept, then one per interval
that says how many like it were held back.

The library also logs as errors conditions it retries itself, which a normal start against a new
broker or new topics goes through: the group coordinator not elected yet, a topic's metadata not
propagated yet. Those are lowered to what they are: information, or a warning while a broker does
not answer.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import orjson

CLIENT_LIBRARY = "aiokafka"
REPEAT_INTERVAL_S = 60.0
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")

# What a record of the client library logged as an error is, by its message template, when its
# arguments hold no error that the library does not retry.
TRANSIENT_CLIENT_ERRORS: dict[str, int] = {
    "Group Coordinator Request failed: %s": logging.INFO,
    "Topic %s not found in cluster metadata": logging.INFO,
    "Error sending %s to node %s [%s] -- marking coordinator dead": logging.INFO,
    "Heartbeat send request failed: %s. Will retry.": logging.WARNING,
    "Unable to update metadata from %s": logging.WARNING,
    "Unable connect to node with id %s: %s": logging.WARNING,
    'Unable connect to "%s:%s": %s': logging.WARNING,
    "Failed fetch messages from %s: %s": logging.WARNING,
    "Failed fetch offsets from %s: %s": logging.WARNING,
}
# The attributes of every record; the others are the fields its log call gave with `extra=`.
_RECORD_ATTRIBUTES = frozenset(
    [*vars(logging.LogRecord("", 0, "", 0, "", None, None)), "message", "asctime"]
)


@dataclass(slots=True)
class _Kind:
    shown_at: float
    held_back: int = 0


class RepeatLimiter(logging.Filter):
    """Passes the first record of each kind (logger, level and message template) of the loggers
    under `library`, then one per `interval_s` seconds at most, which ends with the number of
    records of that kind held back since the last one shown. Other loggers pass untouched."""

    def __init__(
        self,
        library: str = CLIENT_LIBRARY,
        interval_s: float = REPEAT_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self._library = library
        self._interval_s = interval_s
        self._clock = clock
        self._kinds: dict[tuple[str, int, str], _Kind] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not _under(record.name, self._library):
            return True
        key = (record.name, record.levelno, str(record.msg))
        now = self._clock()
        kind = self._kinds.get(key)
        if kind is None:
            self._kinds[key] = _Kind(now)
            return True
        if now - kind.shown_at < self._interval_s:
            kind.held_back += 1
            return False
        if kind.held_back:
            message = record.getMessage()
            record.msg = "%s (%d more like it in the last %.0f s)"
            record.args = (message, kind.held_back, now - kind.shown_at)
        kind.shown_at, kind.held_back = now, 0
        return True


def _under(name: str, library: str) -> bool:
    return name == library or name.startswith(f"{library}.")


class TransientClientErrors(logging.Filter):
    """Lowers the error records of the loggers under `library` whose message template is one of
    `levels` to the level it names, unless an argument is an error the library does not retry
    (its `retriable` is false). A lowered record passes only if its logger is enabled for its new
    level. Other records pass untouched."""

    def __init__(
        self, library: str = CLIENT_LIBRARY, levels: dict[str, int] = TRANSIENT_CLIENT_ERRORS
    ) -> None:
        super().__init__()
        self._library = library
        self._levels = levels

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.ERROR or not _under(record.name, self._library):
            return True
        level = self._levels.get(str(record.msg))
        if level is None or any(_not_retried(arg) for arg in _arguments(record)):
            return True
        record.levelno, record.levelname = level, logging.getLevelName(level)
        return logging.getLogger(record.name).isEnabledFor(level)


def _arguments(record: logging.LogRecord) -> tuple[object, ...]:
    args = record.args
    return args if isinstance(args, tuple) else ()


def _not_retried(argument: object) -> bool:
    return isinstance(argument, Exception) and getattr(argument, "retriable", None) is False


class JsonFormatter(logging.Formatter):
    """One JSON object per record: `time` (UTC, ISO 8601), `level`, `logger`, `message`, then the
    fields its log call gave with `extra=`, and `exception` (the traceback) when it has one."""

    def format(self, record: logging.LogRecord) -> str:
        created = datetime.fromtimestamp(record.created, UTC)
        fields: dict[str, Any] = {
            "time": created.isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in vars(record).items():
            if name not in _RECORD_ATTRIBUTES:
                fields.setdefault(name, value)
        if record.exc_info:
            fields["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            fields["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(fields, default=str).decode()


def partition_fields(topic: str, partition: int, **more: object) -> dict[str, object]:
    """The `extra=` fields of a record about a topic partition, and `more` (an offset, a reason)."""
    return {"topic": topic, "partition": partition, **more}


def configure_logging(level: str, log_format: LogFormat = "text") -> None:
    """The root logger at `level`, writing to stderr in `log_format`, the client library's
    retried conditions lowered and its repetitions held back."""
    handler = logging.StreamHandler(sys.stderr)
    text = log_format == "text"
    handler.setFormatter(logging.Formatter(LOG_FORMAT) if text else JsonFormatter())
    handler.addFilter(TransientClientErrors())
    handler.addFilter(RepeatLimiter())
    logging.basicConfig(level=level, handlers=[handler])


def quiet_client_library() -> None:
    """For one-shot commands, which report what fails them themselves: only the library's
    critical records are logged."""
    logging.getLogger(CLIENT_LIBRARY).setLevel(logging.CRITICAL)
