"""How the engine uses Python's cyclic garbage collector.

The engine allocates two kinds of objects the collector only wastes time on: the registry, millions
of long-lived objects made at load, and dataset state, acyclic dicts and lists that live as long as
their dataset. Neither ever becomes cyclic garbage, but each collection walks every object of the
generations it collects, and touches the objects they point to (cold ones, at 100,000 triggers).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused() -> Iterator[None]:
    """The collector off for the duration, then on again if it was."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@contextmanager
def bulk_load() -> Iterator[None]:
    """Loading many triggers allocates millions of long-lived objects. Collections during the load
    only rescan them (they tripled build time at 100,000 triggers), so the collector pauses, and
    what was loaded is frozen out of later collections, which then stay short on the hot path."""
    with paused():
        try:
            yield
        finally:
            gc.freeze()
