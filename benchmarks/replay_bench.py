"""Replay throughput: a workload's events as a JSON Lines file in, invocation requests JSONL out.

This is `trigger-engine replay` minus argument parsing and registry loading: `read_events` ->
`parse_event` -> `Evaluator.process` -> `JsonlSink`, files on disk at both ends; the median of
three runs is reported.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import orjson

from benchmarks.hotpath import forget_directories
from benchmarks.workload import Workload
from engine.evaluator import Evaluator
from engine.registry import TriggerRegistry
from engine.replay import read_events, replay
from engine.sinks import JsonlSink
from engine.state import StateStore


@dataclass(frozen=True, slots=True)
class ReplayResult:
    events: int
    invocations: int
    rejected: int
    seconds: float
    output_bytes: int

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds


def write_events(workload: Workload, path: Path) -> None:
    path.write_bytes(b"".join(orjson.dumps(event) + b"\n" for event in workload.events))


def run_replay(
    workload: Workload, registry: TriggerRegistry, directory: Path, *, rounds: int = 3
) -> ReplayResult:
    """Replay the workload's events `rounds` times, each with a fresh state (the registry is only
    read), and report the median run by time, which damps interference from other processes."""
    events_path = directory / "events.jsonl"
    write_events(workload, events_path)
    runs = sorted(
        (_replay_once(registry, events_path, directory) for _ in range(rounds)),
        key=lambda run: run.seconds,
    )
    return runs[len(runs) // 2]


def _replay_once(registry: TriggerRegistry, events_path: Path, directory: Path) -> ReplayResult:
    out_path = directory / "invocations.jsonl"
    forget_directories(registry.index)  # its directories are new to this run, as in a stream
    evaluator = Evaluator(registry, StateStore(), record_evaluations=False)
    with out_path.open("wb") as out:
        start = time.perf_counter()
        summary = replay(read_events([str(events_path)]), evaluator, JsonlSink(out))
        seconds = time.perf_counter() - start
    return ReplayResult(
        summary.lines,
        evaluator.stats.invocations,
        summary.rejected,
        seconds,
        out_path.stat().st_size,
    )
