"""How fast this machine is right now, so that absolute numbers can be read in context.

At 100,000 triggers the hot path is bound by memory latency, not by the interpreter: each event
touches per-org index tables, patterns, triggers and conditions that are no longer in the CPU
cache. Shared machines vary (we have seen the same run differ 2x from one hour to the next), so
the harness measures, next to its results, the cost of a pure-interpreter loop step and of a
dependent random read from memory far larger than the CPU cache.
"""

from __future__ import annotations

import random
import time
from typing import Any

_CHAIN = 1 << 21  # 2 M entries: a list of 16 MB plus 56 MB of int objects, beyond the L3 cache
_STEPS = 1 << 20


def interpreter_ns() -> float:
    """ns per iteration of a trivial loop (no memory traffic)."""
    total = 0
    start = time.perf_counter_ns()
    for step in range(_STEPS):
        total += step
    return (time.perf_counter_ns() - start) / _STEPS


def memory_ns(seed: int = 7) -> float:
    """ns per step of a pointer chase through a random cycle: each step waits for a cache miss."""
    order = list(range(_CHAIN))
    random.Random(seed).shuffle(order)
    chain = [0] * _CHAIN
    for here, there in zip(order, order[1:] + order[:1], strict=True):
        chain[here] = there
    position = order[0]
    start = time.perf_counter_ns()
    for _ in range(_STEPS):
        position = chain[position]
    return (time.perf_counter_ns() - start) / _STEPS


def measure() -> dict[str, Any]:
    return {
        "interpreter_ns_per_step": round(interpreter_ns(), 1),
        "memory_ns_per_random_read": round(memory_ns(), 1),
    }
