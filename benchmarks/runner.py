"""Runs the benchmark scenarios and collects their results (no printing, no plotting).

Scenarios, for each trigger count:
- `one-org`: every trigger in one org (the target's "10,000 triggers in one org");
- `many-orgs`: one org per 100 triggers, Zipf-skewed (100,000 triggers over 1,000 orgs).

Each run (scenario and count) happens in a fresh process, so that no run inherits the heap, the
caches or the allocator state of a bigger one before it.

Flatness (the target "us/event at 100,000 triggers no more than 1.5x that at 1,000") is judged in a
step of its own per scenario: one fresh process builds both sizes, then times their passes in turn,
several pairs, and reports the median of the pairs' ratios. The separate runs above time the two
sizes minutes apart, and this machine's speed drifts by up to 2x over minutes (see `calibrate`),
so their ratio measures the drift as much as the engine; the passes of one pair are a second or two
apart.

Garbage collection: the workload (generator output, which a real engine process would not hold) is
frozen with `gc.freeze()` before the registry build is timed, and everything built is frozen
before the hot path is timed, so that neither timing pays for collecting the harness's own data.
The build, the hot path's passes and replay then run under the engine's own collector policy
(`engine.collector.long_lived`: paused while they build long-lived objects, which are then frozen).
"""

from __future__ import annotations

import gc
import multiprocessing
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from benchmarks.hotpath import (
    BuildTimes,
    HotPathResult,
    alternating_means,
    build_registry,
    run_hot_path,
)
from benchmarks.naive import NaiveEngine
from benchmarks.replay_bench import ReplayResult, run_replay
from benchmarks.workload import Workload, WorkloadSpec, generate
from engine.progress import Progress
from engine.registry import TriggerRegistry

TRIGGERS_PER_ORG = 100  # many-orgs: 100,000 triggers over 1,000 orgs
SCENARIOS: dict[str, Callable[[int], int]] = {
    "one-org": lambda triggers: 1,
    "many-orgs": lambda triggers: max(1, triggers // TRIGGERS_PER_ORG),
}
REPLAY_SCENARIO = "many-orgs"
Result = TypeVar("Result")
FLATNESS_COUNTS = (1_000, 100_000)  # the flatness target compares these two sizes


@dataclass(frozen=True, slots=True)
class Settings:
    counts: tuple[int, ...]
    events: int  # per workload
    seed: int
    baseline_budget_s: float  # per run, for the sampled baseline
    scenarios: tuple[str, ...] = tuple(SCENARIOS)
    one_org_max: int | None = None  # skip one-org runs above this count
    rounds: int = 5  # engine passes over the events per run; the median is reported
    flatness: tuple[int, int] = FLATNESS_COUNTS  # (small, big), timed alternately
    flatness_pairs: int = 9  # pairs of passes timed in turn; the median pair ratio is reported

    def steps(self) -> list[tuple[str, int]]:
        cap = self.one_org_max
        return [
            (scenario, count)
            for scenario in self.scenarios
            for count in self.counts
            if scenario != "one-org" or cap is None or count <= cap
        ]

    def flatness_steps(self) -> list[str]:
        """The scenarios that run both flatness sizes, so whose flatness is judged."""
        steps = set(self.steps())
        return [s for s in self.scenarios if all((s, n) in steps for n in self.flatness)]


@dataclass(frozen=True, slots=True)
class ScenarioResult:
    scenario: str
    triggers: int
    orgs: int
    events: int
    distinct_patterns: int
    build: BuildTimes
    naive_build_s: float
    hot: HotPathResult

    def as_json(self) -> dict[str, Any]:
        engine, baseline = self.hot.engine, self.hot.baseline
        return {
            "scenario": self.scenario,
            "triggers": self.triggers,
            "orgs": self.orgs,
            "engine_events_per_s": round(engine.events_per_s, 1),
            "baseline_events_per_s": round(baseline.events_per_s, 1),
            "speedup": round(self.hot.speedup, 2),
            "p50_us": engine.p50_us,
            "p99_us": engine.p99_us,
            "mean_us": round(engine.mean_us, 3),
            "evaluated_events": engine.events,
            "baseline_sampled_events": baseline.events,
            "baseline_p50_us": baseline.p50_us,
            "baseline_p99_us": baseline.p99_us,
            "evaluations_per_event": round(self.hot.evaluations_per_event, 3),
            "invocations_per_event": round(self.hot.invocations_per_event, 3),
            "events": self.events,
            "distinct_patterns": self.distinct_patterns,
            "model_validation_s": round(self.build.model_validation_s, 3),
            "registry_build_s": round(self.build.registry_build_s, 3),
            "add_one_trigger_us": self.build.add_one_us,
            "remove_one_trigger_us": self.build.remove_one_us,
            "naive_build_s": round(self.naive_build_s, 3),
        }


@dataclass(frozen=True, slots=True)
class FlatnessResult:
    scenario: str
    small: int  # triggers
    big: int
    pairs: tuple[tuple[float, float], ...]  # mean us/event (small, big) of each pair of passes

    @property
    def ratios(self) -> list[float]:
        return [big / small for small, big in self.pairs]

    @property
    def ratio(self) -> float:
        return statistics.median(self.ratios)

    def as_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "small_triggers": self.small,
            "big_triggers": self.big,
            "median_ratio": round(self.ratio, 3),
            "pairs": [
                {"small_mean_us": round(small, 3), "big_mean_us": round(big, 3)}
                for small, big in self.pairs
            ],
        }


@dataclass(slots=True)
class Outcome:
    results: list[ScenarioResult]
    replay: ReplayResult | None
    replay_workload: str | None
    flatness: list[FlatnessResult] = field(default_factory=list)


def _freeze() -> None:
    """Move every object alive now out of the collector's sight (see the module docstring)."""
    gc.collect()
    gc.freeze()


@contextmanager
def _frozen_heap() -> Iterator[None]:
    _freeze()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.collect()


def say(message: str) -> None:
    """Progress messages go to stderr, from whichever process runs the step."""
    sys.stderr.write(f"{message}\n")
    sys.stderr.flush()


def run(settings: Settings) -> Outcome:
    outcome = Outcome([], None, None)
    steps, flatness = settings.steps(), settings.flatness_steps()
    total = len(steps) + len(flatness)
    for number, (scenario, count) in enumerate(steps, start=1):
        spec = WorkloadSpec(count, SCENARIOS[scenario](count), settings.events, settings.seed)
        prefix = f"[{number}/{total}] {scenario}: {spec.label}"
        wants_replay = scenario == REPLAY_SCENARIO and count == max(settings.counts)
        result, replay = _in_fresh_process(run_step, scenario, spec, settings, wants_replay, prefix)
        outcome.results.append(result)
        if replay is not None:
            outcome.replay, outcome.replay_workload = replay, f"{scenario}: {spec.label}"
    for number, scenario in enumerate(flatness, start=len(steps) + 1):
        prefix = f"[{number}/{total}] {scenario}: flatness"
        outcome.flatness.append(_in_fresh_process(run_flatness, scenario, settings, prefix))
    return outcome


def _in_fresh_process(function: Callable[..., Result], *args: Any) -> Result:
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
        return pool.submit(function, *args).result()


def run_step(
    scenario: str, spec: WorkloadSpec, settings: Settings, wants_replay: bool, prefix: str
) -> tuple[ScenarioResult, ReplayResult | None]:
    """One scenario at one trigger count (in its own process, see the module docstring)."""
    say(f"{prefix}: generating")
    workload = generate(spec)
    with _frozen_heap():
        say(f"{prefix}: building the engine's registry")
        registry, build = build_registry(workload)
        say(f"{prefix}: building the naive baseline")
        start = time.perf_counter()
        naive = NaiveEngine(workload.triggers)
        naive_build_s = time.perf_counter() - start
        _freeze()
        hot = _hot_path(workload, registry, naive, settings, prefix)
        replay = None
        if wants_replay:
            say(f"{prefix}: replay JSONL -> JSONL")
            with tempfile.TemporaryDirectory(prefix="trigger-engine-bench-") as tmp:
                replay = run_replay(workload, registry, Path(tmp))
    distinct = len({p for t in workload.triggers for p in t["required_inputs"]})
    result = ScenarioResult(
        scenario, spec.triggers, spec.orgs, spec.events, distinct, build, naive_build_s, hot
    )
    return result, replay


def run_flatness(scenario: str, settings: Settings, prefix: str) -> FlatnessResult:
    """Both flatness sizes in one process, their passes timed in turn (see the module docstring)."""
    sides = []
    for count in settings.flatness:
        spec = WorkloadSpec(count, SCENARIOS[scenario](count), settings.events, settings.seed)
        say(f"{prefix}: generating and building {spec.label}")
        workload = generate(spec)
        _freeze()
        registry, _ = build_registry(workload)
        sides.append((workload, registry))
    pairs = settings.flatness_pairs
    say(
        f"{prefix}: {pairs} pairs of passes, {settings.flatness[0]:,} and "
        f"{settings.flatness[1]:,} triggers in turn"
    )
    with _frozen_heap():
        rows = alternating_means(sides, pairs)
    small, big = settings.flatness
    return FlatnessResult(scenario, small, big, tuple((row[0], row[1]) for row in rows))


def _hot_path(
    workload: Workload,
    registry: TriggerRegistry,
    naive: NaiveEngine,
    settings: Settings,
    prefix: str,
) -> HotPathResult:
    label = f"{prefix}: hot path ({settings.rounds} engine passes)"
    progress = Progress.for_terminal(label, total=workload.evaluated_events * settings.rounds)
    if progress is None:
        say(label)
    tick = progress.tick if progress is not None else None
    hot = run_hot_path(
        workload,
        registry,
        naive,
        baseline_budget_s=settings.baseline_budget_s,
        rounds=settings.rounds,
        tick=tick,
    )
    if progress is not None:
        progress.close(hot.engine.events * settings.rounds)
    return hot
