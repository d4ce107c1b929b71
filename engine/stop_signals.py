"""SIGTERM and SIGINT before the service's event loop handles them: noted, nothing more.

The default action would end the process by the signal instead of with a status. Noting rather
than raising: an exception thrown into whatever code happens to run (an extension module's import,
say) could leave the interpreter in a state it does not survive.
"""

from __future__ import annotations

import signal
from types import FrameType

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_noted: list[int] = []


def _note(signum: int, frame: FrameType | None) -> None:
    _noted.append(signum)


def note_stop_signals() -> None:
    """From now until an event loop handles them, SIGTERM and SIGINT are noted."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, _note)


def stop_noted() -> bool:
    """Whether SIGTERM or SIGINT arrived while they were only noted."""
    return bool(_noted)


def ignore_stop_signals() -> None:
    """For a process that is over and has its status: the interpreter's exit would give the
    signals their default action back, which ends the process by the signal."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
