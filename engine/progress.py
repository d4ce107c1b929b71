"""A progress line for terminals: shown only when stderr is a TTY, redrawn a few times a second.

Rates shown here are for people; nothing in the output files depends on the clock.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

_BAR_WIDTH = 24


class Progress:
    def __init__(self, label: str, total: int | None = None, stream: TextIO | None = None) -> None:
        self._label = label
        self._total = total
        self._stream = stream or sys.stderr
        self._start = time.monotonic()
        self._next_draw = self._start

    @classmethod
    def for_terminal(cls, label: str, total: int | None = None) -> Progress | None:
        return cls(label, total) if sys.stderr.isatty() else None

    def tick(self, done: int, rejected: int = 0) -> None:
        if done & 0x3FF:  # look at the clock once per 1024 items
            return
        now = time.monotonic()
        if now >= self._next_draw:
            self._next_draw = now + 0.2
            self._draw(done, rejected, now)

    def close(self, done: int, rejected: int = 0) -> None:
        self._draw(done, rejected, time.monotonic())
        self._stream.write("\n")
        self._stream.flush()

    def _draw(self, done: int, rejected: int, now: float) -> None:
        rate = done / max(now - self._start, 1e-9)
        bar = ""
        if self._total:
            filled = min(_BAR_WIDTH, _BAR_WIDTH * done // self._total)
            bar = f"[{'#' * filled}{'.' * (_BAR_WIDTH - filled)}] "
        line = f"\r{self._label} {bar}{done:,} ({rate:,.0f}/s)"
        if rejected:
            line += f", {rejected:,} rejected"
        self._stream.write(line)
        self._stream.flush()
