"""Instructions per replayed event, counted by valgrind: for comparing two commits.

Wall-clock numbers on a shared 2-core VM move by ±15% from one run to the next, which hides the
1 to 5% a single change to the per-event path is worth. An instruction count is deterministic: the
same commit, workload and interpreter give the same count to within about 0.1%. It is not a speed
(cache misses and page faults cost no instructions), so it decides between two versions of the
code, never whether a target is met.

    python -m benchmarks.instructions [--triggers 1000] [--orgs 10] [--events 4000]

The workload is replayed twice in one process (the first replay fills the engine's caches of
pattern signatures, as a long replay would; what it learnt per directory is forgotten, since a live
stream's next events are in new directories), under `valgrind --tool=cachegrind`; a second process
does the same minus the second replay, and the difference, divided by the events, is the count per
event. Needs valgrind.
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

_TOTAL = re.compile(rb"I\s+refs:\s+([\d,]+)")


def total_instructions(valgrind_stderr: bytes) -> int:
    """The `I refs` total that cachegrind prints at exit."""
    found = _TOTAL.findall(valgrind_stderr)
    if not found:
        raise RuntimeError("valgrind printed no 'I refs' total; did the child fail?")
    return int(found[-1].replace(b",", b""))


def _count(args: argparse.Namespace, replays: int) -> int:
    command = [
        "valgrind",
        "--tool=cachegrind",
        "--cache-sim=no",
        "--cachegrind-out-file=/dev/null",
        sys.executable,
        "-m",
        "benchmarks.instructions",
        "--replays",
        str(replays),
        "--triggers",
        str(args.triggers),
        "--orgs",
        str(args.orgs),
        "--events",
        str(args.events),
        "--seed",
        str(args.seed),
    ]
    env = {**os.environ, "PYTHONHASHSEED": "0"}  # the same string hashes, the same dict probes
    done = subprocess.run(command, capture_output=True, env=env, check=False)
    if done.returncode:
        sys.stderr.buffer.write(done.stderr[-4000:])
        raise SystemExit(f"the replay under valgrind failed (exit {done.returncode})")
    return total_instructions(done.stderr)


def replay_workload(args: argparse.Namespace) -> int:
    """The child: build, then replay `--replays` times (each with fresh state); the invocations
    of the last replay."""
    from benchmarks.hotpath import build_registry, forget_directories
    from benchmarks.replay_bench import write_events
    from benchmarks.workload import WorkloadSpec, generate
    from engine.evaluator import Evaluator
    from engine.replay import read_events, replay
    from engine.sinks import JsonlSink
    from engine.state import StateStore

    workload = generate(WorkloadSpec(args.triggers, args.orgs, args.events, args.seed))
    registry, _ = build_registry(workload)
    gc.collect()
    gc.freeze()
    with tempfile.TemporaryDirectory(prefix="trigger-engine-instructions-") as tmp:
        events = Path(tmp) / "events.jsonl"
        write_events(workload, events)
        invocations = 0
        for _ in range(args.replays):
            forget_directories(registry.index)  # the directories are new to each replay
            evaluator = Evaluator(registry, StateStore(), record_evaluations=False)
            with (Path(tmp) / "invocations.jsonl").open("wb") as out:
                replay(read_events([str(events)]), evaluator, JsonlSink(out))
            invocations = evaluator.stats.invocations
    return invocations


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.instructions",
        description="Instructions per replayed event (valgrind), to compare two commits.",
    )
    parser.add_argument("--triggers", type=int, default=1000)
    parser.add_argument("--orgs", type=int, default=10)
    parser.add_argument("--events", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--replays", type=int, default=None, help=argparse.SUPPRESS)  # child
    args = parser.parse_args(argv)
    if args.replays is not None:
        replay_workload(args)
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed: it counts the instructions")
    warm = _count(args, 1)
    both = _count(args, 2)
    per_event = (both - warm) / args.events
    print(
        f"replay: {per_event:,.0f} instructions per event "
        f"({args.triggers:,} triggers / {args.orgs:,} orgs / {args.events:,} events, "
        f"caches warm, Python {sys.version.split()[0]})"
    )


if __name__ == "__main__":
    main()
