"""How the engine uses Python's cyclic garbage collector.

The engine makes two kinds of objects in bulk: the registry, millions of objects made at load, and
dataset state, the dicts and lists a dataset's events build. Both live on (until the process ends,
or their owner drops them) and make no reference cycles, yet each collection walks every object of
the generations it collects, and touches the objects they point to (cold ones, at 100,000
triggers): collecting them is all cost and no gain.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def long_lived() -> Iterator[None]:
    """Around code that makes many long-lived objects and no reference cycles (a registry load, a
    replay): the collector pauses, and what was made is then frozen out of later collections.

    Collections during a load only rescan what it made (a large share of a big registry's build
    time); during a replay they walk its growing state again and again, and a collection after it
    would walk all of it once more (docs/performance.md has the figures).
    Reference counting still frees everything when its owner lets go; only cyclic garbage made
    meanwhile would stay. The tests check that evaluation makes none; reading a Kafka topic does
    make some (a topic-range replay makes a few, in its consumer's start and stop, none per event;
    the service's first read of the registry topic and its state restores use the same reader)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


def settle() -> None:
    """Between two rounds of a long-running process's work: the young generations are collected,
    then what is alive leaves the collector's sight, as a load's objects do after `long_lived`.
    The state a process keeps grows round after round, and full collections would walk all of it,
    a pause that grows with the state. Cyclic garbage made and dropped within a round is reclaimed
    here; only an object frozen alive that later dies in a cycle is not, and the service makes
    none per event (tested)."""
    gc.collect(1)
    gc.freeze()
