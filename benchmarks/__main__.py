"""`python -m benchmarks`: the indexed engine against the naive baseline, replay, and Kafka.

python -m benchmarks --quick --no-kafka          # about a minute on 2 cores
python -m benchmarks --json out/bench.json       # the full run, results as JSON too
python -m benchmarks --vs-quix --quick           # the engine beside a quix-streams passthrough
python -m benchmarks --state --files 1000000     # state in memory and on disk (state_bench.py)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from benchmarks import calibrate, report
from benchmarks.kafka_bench import KafkaBenchError, KafkaSettings, run_kafka
from benchmarks.runner import TRIGGERS_PER_ORG, Settings, run, say
from benchmarks.state_bench import StateBenchError, StateSettings, run_state
from benchmarks.versus_quix import VersusSettings, run_versus_quix
from benchmarks.workload import WorkloadSpec, generate

DEFAULT_COUNTS = (100, 1_000, 10_000, 100_000)
DEFAULT_PLOT = Path("out/bench.png")


@dataclass(frozen=True, slots=True)
class Mode:
    events: int  # per workload
    baseline_budget_s: float  # per run
    kafka_triggers: int
    kafka_events: int
    versus_events: int  # for --vs-quix
    one_org_max: int | None  # the one-org scenario's largest count (its build is the slowest)


QUICK = Mode(
    20_000,
    1.5,
    kafka_triggers=10_000,
    kafka_events=20_000,
    versus_events=20_000,
    one_org_max=10_000,
)
FULL = Mode(
    100_000,
    15.0,
    kafka_triggers=100_000,
    kafka_events=200_000,
    versus_events=100_000,
    one_org_max=None,
)


def _counts(text: str) -> tuple[int, ...]:
    try:
        counts = tuple(sorted({int(part.replace("_", "")) for part in text.split(",")}))
    except ValueError:
        reason = f"{text!r} is not a comma-separated list of integers"
        raise argparse.ArgumentTypeError(reason) from None
    if not counts or counts[0] < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: trigger counts must be positive")
    return counts


def _positive(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: must be at least 1")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmark the trigger engine's hot path, replay and Kafka service against a "
        "naive per-trigger baseline.",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="within two minutes: fewer events, one-org up to 10,000 triggers, smaller Kafka run",
    )
    parser.add_argument(
        "--counts",
        type=_counts,
        default=DEFAULT_COUNTS,
        help="trigger counts, comma-separated (default 100,1000,10000,100000)",
    )
    parser.add_argument("--events", type=int, help="events per workload (default by mode)")
    parser.add_argument("--seed", type=int, default=7, help="workload seed (default 7)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the results as JSON")
    parser.add_argument(
        "--plot", type=Path, default=DEFAULT_PLOT, metavar="FILE.png", help="default out/bench.png"
    )
    parser.add_argument("--no-kafka", action="store_true", help="skip the end-to-end Kafka run")
    parser.add_argument(
        "--bootstrap-servers",
        help="broker for the Kafka run (default: $TRIGGER_ENGINE_TEST_BOOTSTRAP, else "
        "deploy/kafka/kafka.sh start)",
    )
    parser.add_argument(
        "--vs-quix",
        action="store_true",
        help="only the engine through the broker beside an exactly-once quix-streams passthrough, "
        "one invocation per event (--events events, default by mode)",
    )
    parser.add_argument(
        "--repetitions",
        type=_positive,
        help="with --vs-quix: runs per side, in alternating order (default 2); with --state: "
        "runs per store at the smallest --files, and per side of the hot path and replay "
        "(default 3)",
    )
    state = StateSettings()
    parser.add_argument(
        "--state",
        action="store_true",
        help="only the state benchmark: memory and disk per file, the hot path and replay, "
        "restore and restart with the state in memory and on disk (--no-kafka skips the last two)",
    )
    parser.add_argument(
        "--files",
        type=_counts,
        default=state.files,
        help="with --state: files fed to each store (default 1000000,10000000); the first is "
        "also the size of the changelogs restored and of the restart's state",
    )
    parser.add_argument(
        "--state-cache",
        type=_counts,
        default=state.caches,
        help="with --state: the disk stores' cached datasets (default 100000,1000); the first "
        "also serves the hot path, replay, restore and restart",
    )
    parser.add_argument(
        "--files-per-dataset",
        type=_positive,
        default=state.files_per_dataset,
        help="with --state: files per dataset (default %(default)s)",
    )
    return parser


def _kafka(args: argparse.Namespace, mode: Mode) -> dict[str, Any]:
    if args.no_kafka:
        return {"status": "skipped (--no-kafka)"}
    triggers = mode.kafka_triggers
    spec = WorkloadSpec(
        triggers, max(1, triggers // TRIGGERS_PER_ORG), mode.kafka_events, args.seed
    )
    say(f"kafka: {spec.label} through the engine service")
    try:
        return run_kafka(generate(spec), KafkaSettings(bootstrap=args.bootstrap_servers))
    except KafkaBenchError as exc:
        return {"status": f"failed: {exc}"}


def _versus_quix(args: argparse.Namespace, mode: Mode) -> int:
    settings = VersusSettings(
        KafkaSettings(bootstrap=args.bootstrap_servers),
        events=args.events or mode.versus_events,
        repetitions=args.repetitions or 2,
        seed=args.seed,
    )
    try:
        compared = run_versus_quix(settings)
    except KafkaBenchError as exc:
        compared = {"status": f"failed: {exc}"}
    print(report.versus_quix_lines(compared))
    if args.json is not None:
        doc = {"versus_quix": compared, "machine": report.machine(), "versions": report.versions()}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
        print(f"json: {args.json}")
    return 0 if compared["status"] == "ok" else 1


def state_settings(args: argparse.Namespace) -> StateSettings:
    """The state benchmark's settings from the command line; the defaults where it is silent."""
    defaults = StateSettings()
    return StateSettings(
        files=args.files,
        caches=tuple(sorted(args.state_cache, reverse=True)),
        files_per_dataset=args.files_per_dataset,
        repetitions=args.repetitions or defaults.repetitions,
        replay_events=args.events or defaults.replay_events,
        restore_records=args.files[:1],
        restart_files=args.files[0],
        bootstrap=args.bootstrap_servers,
        kafka=not args.no_kafka,
        seed=args.seed,
    )


def _state(args: argparse.Namespace) -> int:
    settings = state_settings(args)
    try:
        measured = run_state(settings)
    except (StateBenchError, KafkaBenchError) as exc:
        print(f"state benchmark failed: {exc}")
        return 1
    judged = report.state_targets(measured)
    print(report.state_lines(measured))
    print("\ntargets")
    print("\n".join(target.line() for target in judged))
    if args.json is not None:
        doc = {
            "state": measured,
            "targets": [target.as_json() for target in judged],
            "machine": report.machine(),
            "versions": report.versions(),
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
        print(f"json: {args.json}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    mode = QUICK if args.quick else FULL
    if args.vs_quix:
        return _versus_quix(args, mode)
    if args.state:
        return _state(args)
    settings = Settings(
        counts=args.counts,
        events=args.events or mode.events,
        seed=args.seed,
        baseline_budget_s=mode.baseline_budget_s,
        one_org_max=mode.one_org_max,
    )
    say("calibrating: interpreter and memory speed right now")
    calibration = {"start": calibrate.measure()}
    outcome = run(settings)
    kafka = _kafka(args, mode)
    calibration["end"] = calibrate.measure()
    judged = report.targets(outcome, kafka)
    print(report.table(outcome))
    if outcome.replay is not None:
        replay = outcome.replay
        print(
            f"\nreplay JSONL -> JSONL: {replay.events_per_s:,.0f} events/s "
            f"({replay.events:,} events, {replay.invocations:,} invocations, "
            f"{replay.rejected} rejected) on {outcome.replay_workload}"
        )
    print(f"kafka: {orjson.dumps(kafka).decode()}")
    print(f"machine speed (start, end): {orjson.dumps(calibration).decode()}")
    print(report.interpreter_line())
    print("\ntargets (one core; baseline sampled where the 'sampled' column is below the events)")
    print("\n".join(target.line() for target in judged))
    report.plot(outcome, args.plot)
    print(f"\nplot: {args.plot}")
    if args.json is not None:
        doc = report.document(outcome, kafka, settings, judged, calibration)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
        print(f"json: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
