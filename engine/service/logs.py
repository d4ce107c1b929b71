"""The service's log: one line per record on stderr, with the Kafka client library's repetitions
held back.

While a broker is out of reach, aiokafka logs the same failures (a connection refused, a request
that timed out) many times a second for as long as the outage lasts. What the engine makes of it
is in its own log lines; of the library's, the first of each kind is kept, then one per interval
that says how many like it were held back.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

CLIENT_LIBRARY = "aiokafka"
REPEAT_INTERVAL_S = 60.0
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


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
        if record.name != self._library and not record.name.startswith(f"{self._library}."):
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


def configure_logging(level: str) -> None:
    """The root logger at `level`, writing to stderr through the repeat limiter."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(RepeatLimiter())
    logging.basicConfig(level=level, handlers=[handler])


def quiet_client_library() -> None:
    """For one-shot commands, which report what fails them themselves: only the library's
    critical records are logged."""
    logging.getLogger(CLIENT_LIBRARY).setLevel(logging.CRITICAL)
