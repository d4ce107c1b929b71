"""The hot path: matching + conditions per file event, indexed engine against the naive baseline.

Both sides see each file event against the same dataset state, the state as of that event (events
are applied in stream order, outside the timed region). The engine side is the engine's own
`file_decisions` (the index's candidates, then `decide` for each); the baseline side loops over
every trigger of the event's org. Neither marks anything as fired, so both decide on the same
state and every decision is a full evaluation (never a cheap `already_run`).

Each pass runs under the collector policy of the engine's replay (`engine.collector.long_lived`):
the cyclic garbage collector does not walk the dataset state that the events build (acyclic, and
long-lived). Left on, its full collections over that growing state, cold with many triggers,
land inside the timed calls, and none of that is matching or conditions.

The baseline is slow at large trigger counts by design: it runs on an evenly spaced sample of the
file events, sized to a time budget, and the result says how many it ran. On every sampled event
the two sides must decide exactly the same invocations, or the run fails.
"""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from benchmarks.naive import Invocation, NaiveEngine, event_context
from benchmarks.workload import EVALUATED_FILE_EVENTS, Workload
from engine.actions import ActionCatalog
from engine.collector import long_lived
from engine.evaluator import Decided, file_decisions
from engine.events import Event, event_from_dict
from engine.index import TriggerIndex
from engine.memo import DatasetMemo, MemoStore
from engine.models import Action, Trigger
from engine.registry import TriggerRegistry, load_registry
from engine.state import DatasetState, StateStore
from engine.vocabulary import Cause, Outcome

# What one naive trigger test costs with the workload's conditions, for sizing the baseline's
# sample before running it (an estimate: the sample only has to fit its time budget roughly).
NAIVE_US_PER_TRIGGER = 1.5
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
    candidates_per_event: float
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


@dataclass(slots=True)
class _FileEvent:
    raw: dict[str, Any]
    event: Event
    cause: Cause
    ds: DatasetState
    memo: DatasetMemo
    file: dict[str, Any]


def _file_events(workload: Workload) -> Iterator[_FileEvent]:
    """Every evaluated file event with the state as of that event, and the dataset's memo
    following it (both applied here, untimed)."""
    state = StateStore()
    memos = MemoStore()
    for raw in workload.events:
        event = event_from_dict(raw)
        ds = state.apply(event)
        memo = memos.following(ds, state.take_changes())
        cause = event.cause
        if event.file is not None and cause is not None:
            yield _FileEvent(raw, event, cause, ds, memo, ds.files[event.file["file_id"]])


def invocations_of(item: _FileEvent, decisions: Decided) -> list[Invocation]:
    """The comparison keys of the engine's invocations (built outside the timed region)."""
    return [
        Invocation(
            item.event.org_id,
            trigger.name,
            item.ds.dataset_id,
            None if file is None else file["file_id"],
            tuple(f["file_id"] for f in decision.files),
        )
        for trigger, file, decision in decisions
        if decision.outcome is Outcome.INVOKED
    ]


def baseline_stride(workload: Workload, naive: NaiveEngine, budget_s: float) -> int:
    """Every how many file events the baseline runs, to stay within about `budget_s`."""
    orgs = [e["orgid"] for e in workload.events if e["type"] in EVALUATED_FILE_EVENTS]
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
    """Time the engine on every file event and the baseline on a sample; check they agree.

    The engine runs `rounds` passes over the events (a fresh state each time) and its median
    pass, by total time, is reported, which damps interference from other processes; the
    baseline runs in the first pass only.
    """
    stride = baseline_stride(workload, naive, baseline_budget_s)
    passes = [
        _pass(workload, registry.index, naive if number == 0 else None, stride, tick, number)
        for number in range(rounds)
    ]
    first = passes[0]
    median = sorted(passes, key=lambda p: sum(p.engine_ns))[len(passes) // 2]
    events = max(1, len(first.engine_ns))
    return HotPathResult(
        Latencies.of(median.engine_ns),
        Latencies.of(first.baseline_ns),
        first.candidates / events,
        first.invocations / events,
    )


def alternating_means(
    sides: Sequence[tuple[Workload, TriggerIndex]], pairs: int
) -> list[list[float]]:
    """Mean us per file event of each side's engine passes, the sides timed in turn, `pairs` times.

    The order turns around every pair (first to last, then last to first), so that a steady drift
    in the machine's speed weighs on every side alike. Each row holds one pair's means, in the
    order of `sides`.
    """
    rows: list[list[float]] = []
    for number in range(pairs):
        row = [0.0] * len(sides)
        order = range(len(sides)) if number % 2 == 0 else reversed(range(len(sides)))
        for side in order:
            workload, index = sides[side]
            timed = _pass(workload, index, None, 1, None, 0).engine_ns
            row[side] = sum(timed) / max(1, len(timed)) / 1e3
        rows.append(row)
    return rows


@dataclass(slots=True)
class _Pass:
    engine_ns: list[int] = field(default_factory=list)
    baseline_ns: list[int] = field(default_factory=list)
    candidates: int = 0
    invocations: int = 0


def _pass(
    workload: Workload,
    index: TriggerIndex,
    naive: NaiveEngine | None,
    stride: int,
    tick: Callable[[int], None] | None,
    number: int,
) -> _Pass:
    """One pass over the file events: the engine on each, the baseline (if any) every `stride`."""
    done = _Pass()
    ticked = number * workload.file_events  # progress counts over all passes
    forget_directories(index)  # this pass's directories are new to it, as in a live stream
    gc.collect()
    with long_lived():  # the collector policy replay runs under: see the module docstring
        for n, item in enumerate(_file_events(workload)):
            start = time.perf_counter_ns()
            decisions = file_decisions(index, item.ds, item.memo, item.event, item.cause, item.file)
            done.engine_ns.append(time.perf_counter_ns() - start)
            decided = invocations_of(item, decisions)
            done.candidates += len(decisions)
            done.invocations += len(decided)
            if naive is not None and n % stride == 0:
                done.baseline_ns.append(_time_baseline(naive, item, decided))
            if tick is not None:
                tick(ticked + n + 1)
    return done


def _time_baseline(naive: NaiveEngine, item: _FileEvent, engine_decided: list[Invocation]) -> int:
    ds = item.ds
    start = time.perf_counter_ns()
    decided = naive.file_event(
        item.event.org_id,
        item.cause,
        ds.record,
        ds.files.values(),
        item.file,
        event_context(item.raw),
    )
    elapsed = time.perf_counter_ns() - start
    if decided != engine_decided:
        raise Disagreement(f"event {item.event.id}: engine {engine_decided} != baseline {decided}")
    return elapsed
