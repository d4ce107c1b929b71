"""The `trigger-engine` command and `python -m engine`.

`run` ends cleanly on SIGTERM or SIGINT from its first moment: its imports take a noticeable part
of a second, so the signals are noted from the start (`engine.stop_signals`), and `run` looks at
the note once its event loop handles them, before it starts anything.
"""

from __future__ import annotations

import sys

from engine.stop_signals import ignore_stop_signals, note_stop_signals


def main() -> int:
    running = sys.argv[1:2] == ["run"]
    if running:
        note_stop_signals()
    try:
        from engine.cli import main as command_line

        return command_line()
    finally:
        if running:
            ignore_stop_signals()
