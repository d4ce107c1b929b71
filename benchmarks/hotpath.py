"""The hot path: whole-event evaluation, the indexed engine against the naive literal reference.

Engine side: `Evaluator.process` (no evaluation records) on every event of the workload, in stream
order, from a fresh state each pass, so that state, open uploads and fired keys evolve as in
replay. Each call is timed, applying the event to state included, and parsing the event
(`event_from_dict`) not; the latencies count the evaluated events (`workload.EVALUATED_EVENTS`:
every event with a cause, and every upload completion), while creations and deletions, which only
change state, are processed all the same, untimed.

Baseline side (the first pass only): a `NaiveEngine`, fresh, sees every event too and keeps its own
state. On an evenly spaced sample of the evaluated events, sized to a time budget (the result says
how many), its `process` is timed, applying the event and looping over every trigger of the org,
and its invocations must equal the engine's for that event exactly (trigger, dataset, file, files,
cause, event id, in order), or the run fails with `Disagreement`. On every other event it `adopt`s,
untimed: it applies the event to its own state (files, record, open uploads, remembered causes) and
takes the engine's invocations for that event as fired. So at a sampled event both sides decide
from the same fired keys, and the comparison there is exact; the engine's decisions on the events
in between are not checked here (the differential tests check every event).

Each pass runs under the collector policy of the engine's replay (`engine.collector.long_lived`):
the cyclic garbage collector does not walk the dataset state that the events build (acyclic, and
long-lived). Left on, its full collections over that growing state, cold with many triggers,
land inside the timed calls, and none of that is evaluation.
"""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from benchmarks.naive import Invocation, NaiveEngine
from benchmarks.workload import EVALUATED_EVENTS, Workload
from engine.actions import ActionCatalog
from engine.collector import long_lived
from engine.decisions import EventResult
from engine.evaluator import Evaluator
from engine.events import event_from_dict
from engine.index import TriggerIndex
from engine.models import Action, Trigger
from engine.registry import TriggerRegistry, load_registry
from engine.state import StateStore

# What the baseline costs per trigger of the event's org and evaluated event, with the workload's
# conditions and datasets, for sizing its sample before running it (an estimate: the sample only
# has to fit its time budget roughly).
NAIVE_US_PER_TRIGGER = 3.5
MIN_BASELINE_EVENTS = 20
INCREMENTAL_SAMPLES = 25


class Disagreement(AssertionError):
    """The engine and the baseline decided different invocations for the same event."""


@dataclass(frozen=True, slots=True)
class BuildTimes:
    model_validation_s: float  # trigger dicts -> pydantic `Trigger` models
    registry_build_s: float  # `load_registry`: compile and index every trigger
    add_one_us: float  # median `put` of one more trigger into the full registry
    remove_one_us: float  # median `delete` of one trigger from the full registry


@dataclass(frozen=True, slots=True)
class Latencies:
    events: int
    total_s: float
    p50_us: float
    p99_us: float

    @property
    def events_per_s(self) -> float:
        return self.events / self.total_s if self.total_s else math.inf

    @property
    def mean_us(self) -> float:
        return self.total_s * 1e6 / self.events if self.events else 0.0

    @classmethod
    def of(cls, samples_ns: list[int]) -> Latencies:
        ordered = sorted(samples_ns)
        p50, p99 = nearest_rank(ordered, 0.5), nearest_rank(ordered, 0.99)
        return cls(len(ordered), sum(ordered) / 1e9, p50 / 1e3, p99 / 1e3)


def nearest_rank(ordered: Sequence[float], quantile: float) -> float:
    """The nearest-rank quantile of sorted samples (0 for no samples)."""
    if not ordered:
        return 0.0
    return ordered[max(0, math.ceil(quantile * len(ordered)) - 1)]


@dataclass(frozen=True, slots=True)
class HotPathResult:
    engine: Latencies
    baseline: Latencies
    evaluations_per_event: float  # the engine's decisions (invocations and skips) per event
    invocations_per_event: float

    @property
    def speedup(self) -> float:
        return self.engine.events_per_s / self.baseline.events_per_s


def build_registry(workload: Workload) -> tuple[TriggerRegistry, BuildTimes]:
    """The engine's registry for the workload, timing each step of getting there."""
    catalog = ActionCatalog([Action.model_validate(a) for a in workload.actions])
    start = time.perf_counter()
    triggers = [Trigger.model_validate(t) for t in workload.triggers]
    validated = time.perf_counter()
    registry = load_registry([(t, "benchmark workload") for t in triggers], catalog)
    built = time.perf_counter()
    add_us, remove_us = _incremental_costs(registry, workload)
    return registry, BuildTimes(validated - start, built - validated, add_us, remove_us)


def forget_directories(index: TriggerIndex) -> None:
    """Forget what `index` remembers per directory (its verdicts by path shape, and its
    vocabulary's literals by directory), to meet the next events as a stream of new datasets
    would: a benchmark passes over the same events several times, and no pass may be served what
    the one before learnt of the very same directories. The engine never needs this, so the
    benchmark reaches into the index's memos itself."""
    index._verdicts.clear()
    index._vocabulary._directories.clear()


def _incremental_costs(registry: TriggerRegistry, workload: Workload) -> tuple[float, float]:
    """Median cost of adding then removing one trigger of the biggest org, full registry."""
    org = max(workload.triggers_per_org, key=workload.triggers_per_org.__getitem__)
    adds: list[int] = []
    removes: list[int] = []
    for k in range(INCREMENTAL_SAMPLES):
        # A pattern never seen before, so that nothing is served from a compile cache.
        trigger = Trigger(
            org_id=org,
            name=f"bench-incremental-{k}",
            action="detect",
            required_inputs=[f"**/incremental_{k}/*.jpg"],
            for_each="dataset_file",
            required_tag=["prod"],
        )
        start = time.perf_counter_ns()
        registry.put(trigger, place="benchmark")
        added = time.perf_counter_ns()
        registry.delete(org, trigger.name)
        adds.append(added - start)
        removes.append(time.perf_counter_ns() - added)
    return nearest_rank(sorted(adds), 0.5) / 1e3, nearest_rank(sorted(removes), 0.5) / 1e3


def baseline_stride(workload: Workload, naive: NaiveEngine, budget_s: float) -> int:
    """Every how many evaluated events the baseline runs, to stay within about `budget_s`."""
    orgs = [e["orgid"] for e in workload.events if e["type"] in EVALUATED_EVENTS]
    estimate_s = sum(naive.triggers_of(org) for org in orgs) * NAIVE_US_PER_TRIGGER / 1e6
    wanted = max(MIN_BASELINE_EVENTS, int(len(orgs) * budget_s / max(estimate_s, 1e-9)))
    return max(1, len(orgs) // wanted)


def run_hot_path(
    workload: Workload,
    registry: TriggerRegistry,
    naive: NaiveEngine,
    *,
    baseline_budget_s: float,
    rounds: int = 1,
    tick: Callable[[int], None] | None = None,
) -> HotPathResult:
    """Time the engine on every evaluated event and the baseline on a sample; check they agree.

    The engine runs `rounds` passes over the events (a fresh state each time) and its median
    pass, by total time, is reported, which damps interference from other processes; the
    baseline (fresh: it has seen no event yet) runs in the first pass only.
    """
    stride = baseline_stride(workload, naive, baseline_budget_s)
    passes = [
        _pass(workload, registry, naive if number == 0 else None, stride, tick, number)
        for number in range(rounds)
    ]
    first = passes[0]
    median = sorted(passes, key=lambda p: sum(p.engine_ns))[len(passes) // 2]
    events = max(1, len(first.engine_ns))
    return HotPathResult(
        Latencies.of(median.engine_ns),
        Latencies.of(first.baseline_ns),
        first.evaluations / events,
        first.invocations / events,
    )


def alternating_means(
    sides: Sequence[tuple[Workload, TriggerRegistry]], pairs: int
) -> list[list[float]]:
    """Mean us per evaluated event of each side's engine passes, the sides timed in turn, `pairs`
    times.

    The order turns around every pair (first to last, then last to first), so that a steady drift
    in the machine's speed weighs on every side alike. Each row holds one pair's means, in the
    order of `sides`.
    """
    rows: list[list[float]] = []
    for number in range(pairs):
        row = [0.0] * len(sides)
        order = range(len(sides)) if number % 2 == 0 else reversed(range(len(sides)))
        for side in order:
            workload, registry = sides[side]
            timed = _pass(workload, registry, None, 1, None, 0).engine_ns
            row[side] = sum(timed) / max(1, len(timed)) / 1e3
        rows.append(row)
    return rows


@dataclass(slots=True)
class _Pass:
    engine_ns: list[int] = field(default_factory=list)  # per evaluated event
    baseline_ns: list[int] = field(default_factory=list)  # per sampled event
    evaluations: int = 0
    invocations: int = 0


def _pass(
    workload: Workload,
    registry: TriggerRegistry,
    naive: NaiveEngine | None,
    stride: int,
    tick: Callable[[int], None] | None,
    number: int,
) -> _Pass:
    """One pass over the events: the engine on each, the baseline (if any) timed every `stride`
    evaluated events and following along on the others (see the module docstring)."""
    done = _Pass()
    ticked = number * workload.evaluated_events  # progress counts over all passes
    evaluator = Evaluator(registry, StateStore(), record_evaluations=False)
    process = evaluator.process
    forget_directories(registry.index)  # this pass's directories are new to it, as in a live stream
    gc.collect()
    with long_lived():  # the collector policy replay runs under: see the module docstring
        for raw in workload.events:
            event = event_from_dict(raw)
            start = time.perf_counter_ns()
            result = process(event)
            elapsed = time.perf_counter_ns() - start
            done.invocations += len(result.invocations)
            evaluated = raw["type"] in EVALUATED_EVENTS
            n = len(done.engine_ns)
            if evaluated:
                done.engine_ns.append(elapsed)
            if naive is not None:
                sampled = evaluated and n % stride == 0
                _follow(naive, raw, result, done.baseline_ns if sampled else None)
            if evaluated and tick is not None:
                tick(ticked + n + 1)
    done.evaluations = evaluator.stats.evaluations
    return done


def _follow(
    naive: NaiveEngine, raw: dict[str, Any], result: EventResult, timings: list[int] | None
) -> None:
    """The baseline's turn at an event: timed and compared (`timings` given), else adopting the
    engine's invocations untimed."""
    by_engine = [Invocation.from_request(request) for request in result.invocations]
    if timings is None:
        naive.adopt(raw, by_engine)
        return
    start = time.perf_counter_ns()
    by_naive = naive.process(raw)
    timings.append(time.perf_counter_ns() - start)
    if by_naive != by_engine:
        raise Disagreement(f"event {raw['id']}: engine {by_engine} != baseline {by_naive}")
