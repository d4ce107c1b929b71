"""A progress bar for terminals (tqdm): shown only when stderr is a TTY, redrawn a few times a
second.

The bar advances by the input's bytes when the input can tell its size and how far reading has got
(`InputBytes`: event files), else by the items done out of a known total, else it shows the count
and rate only. Rates shown here are for people; nothing in the output files depends on the clock.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Protocol, TextIO, runtime_checkable

from tqdm import tqdm

_REDRAW_SECONDS = 0.2
_BAR_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining}{postfix}"
_COUNT_FORMAT = "{desc}: {elapsed}{postfix}"


@runtime_checkable
class InputBytes(Protocol):
    """An input that knows its size in bytes (None: unknown) and how many it has read."""

    def size(self) -> int | None: ...

    def position(self) -> int: ...


class Progress:
    """`tick` after each item; the bar is looked at once per 1024 items, so it costs the items
    nothing measurable."""

    def __init__(
        self,
        label: str,
        total: int | None = None,
        *,
        position: Callable[[], int] | None = None,
        stream: TextIO | None = None,
        redraw_seconds: float = _REDRAW_SECONDS,
    ) -> None:
        self._position = position
        self._start = time.monotonic()
        self._bar = tqdm(
            desc=label,
            total=total,
            file=stream or sys.stderr,
            bar_format=_COUNT_FORMAT if total is None else _BAR_FORMAT,
            mininterval=redraw_seconds,
            miniters=1,
            leave=True,
        )

    @classmethod
    def for_terminal(
        cls, label: str, total: int | None = None, *, source: object = None
    ) -> Progress | None:
        """A bar on stderr if it is a terminal, else None. It follows `source`'s bytes when
        `source` measures them (`InputBytes`), else the items done out of `total`."""
        if not sys.stderr.isatty():
            return None
        if isinstance(source, InputBytes):
            size = source.size()
            return cls(label, size, position=source.position if size is not None else None)
        return cls(label, total)

    def tick(self, done: int, rejected: int = 0) -> None:
        if done & 0x3FF:  # look at the bar once per 1024 items
            return
        self._advance(done, rejected)

    def close(self, done: int, rejected: int = 0) -> None:
        self._advance(done, rejected)
        self._bar.close()  # draws the bar as it ends

    def _advance(self, done: int, rejected: int) -> None:
        rate = done / max(time.monotonic() - self._start, 1e-9)
        postfix = f"{done:,} events ({rate:,.0f}/s)"
        if rejected:
            postfix += f", {rejected:,} rejected"
        self._bar.set_postfix_str(postfix, refresh=False)
        at = self._position() if self._position is not None else done
        self._bar.update(at - self._bar.n)  # redraws when the last draw is old enough
