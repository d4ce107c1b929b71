"""Benchmark results for people and machines: the table, the targets, the JSON, the plot."""

from __future__ import annotations

import os
import platform
import sys
import sysconfig
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks.runner import FLATNESS_COUNTS, Outcome, ScenarioResult, Settings

PACKAGES = (
    "trigger-engine",
    "pathspec",
    "orjson",
    "pydantic",
    "pydantic-core",
    "python-jsonlogic",
    "aiokafka",
    "matplotlib",
    "quixstreams",
    "confluent-kafka",
)
BIG, ONE_ORG_COUNT = 100_000, 10_000


@dataclass(frozen=True, slots=True)
class Target:
    goal: str
    measured: str
    passed: bool | None  # None: not measured in this run

    def line(self) -> str:
        mark = {True: "PASS", False: "MISS", None: "----"}[self.passed]
        return f"  [{mark}] {self.goal}: {self.measured}"

    def as_json(self) -> dict[str, Any]:
        return {"goal": self.goal, "measured": self.measured, "passed": self.passed}


def machine() -> dict[str, Any]:
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "interpreter": interpreter(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
    }


def interpreter() -> dict[str, Any]:
    """Which build of CPython ran the benchmark: two builds of the same version differ on this code.
    A profile-guided, link-time optimized build with libpython linked into the executable (Debian's
    /usr/bin/python3.11) runs this code measurably faster than one without (pyenv's default build;
    docs/performance.md has the figures); the python:3.11-slim image the service ships on is built
    with both optimizations too. Some builders, Debian among them, leave their optimization options
    out of CONFIG_ARGS."""
    configure = str(sysconfig.get_config_var("CONFIG_ARGS") or "")
    return {
        "executable": os.path.realpath(sys.executable),
        "configure_options": [option for option in _BUILD_OPTIONS if option in configure],
        "libpython": _libpython(),
    }


_BUILD_OPTIONS = ("--enable-optimizations", "--with-lto")


def _libpython() -> str | None:
    """'a shared library' when this process loaded libpython as one, else 'in the executable'."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return None
    return "a shared library" if "/libpython" in maps else "in the executable"


def interpreter_line() -> str:
    build = interpreter()
    named = build["configure_options"]
    options = (
        f"name {', '.join(named)}" if named else "name neither " + " nor ".join(_BUILD_OPTIONS)
    )
    return (
        f"python {sys.version.split()[0]} ({build['executable']}): libpython "
        f"{build['libpython'] or 'not known'}; its CONFIG_ARGS {options}"
    )


def _cpu_model() -> str | None:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor() or None
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    return names[0] if names else platform.processor() or None


def versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for package in PACKAGES:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = None
    return found


def _find(outcome: Outcome, scenario: str, triggers: int) -> ScenarioResult | None:
    for result in outcome.results:
        if result.scenario == scenario and result.triggers == triggers:
            return result
    return None


def targets(outcome: Outcome, kafka: dict[str, Any]) -> list[Target]:
    """The performance targets (docs/performance.md), judged on this run's numbers (unmeasured
    ones say so)."""
    return [
        _speedup_target(outcome),
        _throughput_target(outcome),
        *(_flatness_target(outcome, scenario) for scenario in ("many-orgs", "one-org")),
        _build_target(outcome),
        _incremental_target(outcome),
        _replay_target(outcome),
        _kafka_target(kafka),
    ]


def _speedup_target(outcome: Outcome) -> Target:
    goal = f">= 100x the naive baseline at {ONE_ORG_COUNT:,} triggers in one org"
    result = _find(outcome, "one-org", ONE_ORG_COUNT)
    if result is None:
        return Target(goal, "not run", None)
    return Target(goal, f"{result.hot.speedup:,.0f}x", result.hot.speedup >= 100)


def _throughput_target(outcome: Outcome) -> Target:
    goal = f">= 100,000 evaluated events/s at {BIG:,} triggers over 1,000 orgs"
    result = _find(outcome, "many-orgs", BIG)
    if result is None:
        return Target(goal, "not run", None)
    rate = result.hot.engine.events_per_s
    evaluations = result.hot.evaluations_per_event
    measured = f"{rate:,.0f} events/s ({evaluations:.2f} evaluations/event)"
    return Target(goal, measured, rate >= 100_000)


def _flatness_target(outcome: Outcome, scenario: str) -> Target:
    """Judged on the passes timed in turn; the separate runs' ratio is shown beside it."""
    flat = next((f for f in outcome.flatness if f.scenario == scenario), None)
    small, big = FLATNESS_COUNTS if flat is None else (flat.small, flat.big)
    goal = f"{scenario}: us/event at {big:,} triggers <= 1.5x that at {small:,}"
    if flat is None:
        return Target(goal, "not run", None)
    ratios = ", ".join(f"{ratio:.2f}" for ratio in flat.ratios)
    measured = f"{flat.ratio:.2f}x, median of {len(flat.pairs)} pairs timed in turn ({ratios})"
    big_run, small_run = _find(outcome, scenario, big), _find(outcome, scenario, small)
    if big_run is not None and small_run is not None:
        ratio = big_run.hot.engine.mean_us / small_run.hot.engine.mean_us
        measured += f"; {ratio:.2f}x between the separate runs, minutes apart"
    return Target(goal, measured, flat.ratio <= 1.5)


def _build_target(outcome: Outcome) -> Target:
    goal = f"registry build (compile + index) for {BIG:,} triggers < 10 s"
    built = [r for r in outcome.results if r.triggers == BIG]
    if not built:
        return Target(goal, "not run", None)
    parts = [
        f"{r.scenario} {r.build.registry_build_s:.1f} s (+ {r.build.model_validation_s:.1f} s"
        " validating trigger models)"
        for r in built
    ]
    return Target(goal, "; ".join(parts), all(r.build.registry_build_s < 10 for r in built))


def _incremental_target(outcome: Outcome) -> Target:
    goal = "adding/removing one trigger costs the same at any registry size (no rebuild)"
    if len({r.triggers for r in outcome.results}) < 2:
        return Target(goal, "needs two trigger counts", None)
    smallest = min(outcome.results, key=lambda r: r.triggers)
    largest = max(outcome.results, key=lambda r: r.triggers)
    measured = (
        f"add {smallest.build.add_one_us:.0f} -> {largest.build.add_one_us:.0f} us, "
        f"remove {smallest.build.remove_one_us:.0f} -> {largest.build.remove_one_us:.0f} us "
        f"({smallest.triggers:,} -> {largest.triggers:,} triggers)"
    )
    flat = all(
        getattr(largest.build, cost) <= 5 * max(getattr(smallest.build, cost), 1.0)
        for cost in ("add_one_us", "remove_one_us")
    )
    return Target(goal, measured, flat)


def _replay_target(outcome: Outcome) -> Target:
    goal = ">= 50,000 events/s replaying JSONL to JSONL"
    if outcome.replay is None:
        return Target(goal, "not run", None)
    replay = outcome.replay
    measured = f"{replay.events_per_s:,.0f} events/s on {outcome.replay_workload}"
    return Target(goal, measured, replay.events_per_s >= 50_000)


def _kafka_target(kafka: dict[str, Any]) -> Target:
    goal = "aim: >= 10,000 events/s end to end through the broker, exactly-once"
    rate = kafka.get("events_per_s")
    if rate is None:
        return Target(goal, str(kafka.get("status", "not run")), None)
    latency = f"p50 {kafka['latency_p50_ms']:.1f} ms, p99 {kafka['latency_p99_ms']:.1f} ms"
    return Target(goal, f"{rate:,.0f} events/s, {latency}", rate >= 10_000)


def versus_quix_lines(compared: dict[str, Any]) -> str:
    """The comparison's medians and ratio, or why there are none."""
    if compared.get("status") != "ok":
        return f"versus quix: {compared.get('status')}"
    lines = [
        f"versus quix: {compared['events']:,} events, one invocation each, "
        f"{compared['event_partitions']} partitions; order {', '.join(compared['order'])}"
    ]
    for side in ("engine", "quix"):
        median = compared[side]["median"]
        checks = [run["exactly_once"] for run in compared[side]["runs"]]
        exact = all(c["duplicates"] == c["missing"] == c["unexpected"] == 0 for c in checks)
        lines.append(
            f"  {side:<6} median {median['events_per_s']:>9,.0f} invocations/s, latency at "
            f"{compared['latency_rate']:,.0f} events/s p50 {median['latency_p50_ms']:.1f} ms, "
            f"p99 {median['latency_p99_ms']:.1f} ms; exactly once: {'yes' if exact else 'NO'}"
        )
    lines.append(f"  engine / quix invocations per second: {compared['engine_over_quix']:.2f}")
    return "\n".join(lines)


def table(outcome: Outcome) -> str:
    header = (
        f"{'scenario':<10} {'triggers':>8} {'orgs':>5} {'eval/ev':>7} {'engine ev/s':>12} "
        f"{'p50 us':>7} {'p99 us':>8} {'mean us':>8} {'baseline ev/s':>13} {'sampled':>7} "
        f"{'speedup':>8} {'build s':>7}"
    )
    rows = [header, "-" * len(header)]
    for r in outcome.results:
        engine, baseline = r.hot.engine, r.hot.baseline
        rows.append(
            f"{r.scenario:<10} {r.triggers:>8,} {r.orgs:>5,} {r.hot.evaluations_per_event:>7.2f} "
            f"{engine.events_per_s:>12,.0f} {engine.p50_us:>7.1f} {engine.p99_us:>8.1f} "
            f"{engine.mean_us:>8.1f} {baseline.events_per_s:>13,.0f} {baseline.events:>7,} "
            f"{r.hot.speedup:>7,.0f}x {r.build.registry_build_s:>7.2f}"
        )
    return "\n".join(rows)


def document(
    outcome: Outcome,
    kafka: dict[str, Any],
    settings: Settings,
    judged: list[Target],
    calibration: dict[str, Any],
) -> dict[str, Any]:
    replay = outcome.replay
    return {
        "results": [r.as_json() for r in outcome.results],
        "flatness": [f.as_json() for f in outcome.flatness],
        "replay_events_per_s": round(replay.events_per_s, 1) if replay is not None else None,
        "replay": None
        if replay is None
        else {
            "workload": outcome.replay_workload,
            "events": replay.events,
            "invocations": replay.invocations,
            "rejected": replay.rejected,
            "seconds": round(replay.seconds, 3),
            "output_bytes": replay.output_bytes,
        },
        "kafka": kafka,
        "targets": [t.as_json() for t in judged],
        "settings": {
            "counts": list(settings.counts),
            "events_per_workload": settings.events,
            "seed": settings.seed,
            "baseline_budget_s": settings.baseline_budget_s,
            "scenarios": list(settings.scenarios),
            "one_org_max": settings.one_org_max,
            "flatness_counts": list(settings.flatness),
            "flatness_pairs": settings.flatness_pairs,
        },
        "machine": {**machine(), "calibration": calibration},
        "versions": versions(),
    }


def plot(outcome: Outcome, path: Path) -> None:
    """us/event (mean) against trigger count, engine and baseline, one colour per scenario."""
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(8, 5), dpi=120)
    for colour, scenario in zip(("tab:blue", "tab:orange"), _scenarios(outcome), strict=False):
        rows = sorted((r for r in outcome.results if r.scenario == scenario), key=_by_count)
        counts = [r.triggers for r in rows]
        engine = [r.hot.engine.mean_us for r in rows]
        baseline = [r.hot.baseline.mean_us for r in rows]
        axes.plot(counts, engine, "o-", color=colour, label=f"engine, {scenario}")
        axes.plot(counts, baseline, "s--", color=colour, alpha=0.6, label=f"naive, {scenario}")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("triggers")
    axes.set_ylabel("us per evaluated event (mean; whole-event evaluation)")
    axes.set_title("Indexed engine vs naive per-trigger loop")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path)
    pyplot.close(figure)


def _scenarios(outcome: Outcome) -> list[str]:
    return list(dict.fromkeys(r.scenario for r in outcome.results))


def _by_count(result: ScenarioResult) -> int:
    return result.triggers


# -- the state benchmark (`--state`, benchmarks/state_bench.py) --------------------------------

STATE_RSS_BOUND = 1.5e9  # bytes, with a disk store at the largest size
STATE_RSS_FLATNESS = 1.2  # largest size's peak RSS over the smallest's, with a disk store
STATE_SLOWDOWN = 1.5  # disk store over in-memory: hot path time per event, replay time
RESTORE_RATE = 300_000  # changelog entries/s
RESTART_S = 10.0  # kill -9 to the first new output with a local store


def state_lines(measured: dict[str, Any]) -> str:
    """The state benchmark's rows: per store and size, replay, restore, restart."""
    lines = [
        f"state: {measured['files_per_dataset']:,} files per dataset",
        f"{'store':<13} {'files':>11} {'runs':>4} {'events/s':>9} {'peak RSS MB':>11} "
        f"{'final RSS MB':>12} {'RSS B/file':>10} {'disk B/file':>11}",
    ]
    for row in measured["memory"]:
        if "error" in row:
            lines.append(f"{row['store']:<13} {row['files']:>11,} {row['error']}")
            continue
        lines.append(
            f"{row['store']:<13} {row['files']:>11,} {row['runs']:>4} "
            f"{row['events_per_s']:>9,.0f} {row['rss_peak_bytes'] / 1e6:>11,.0f} "
            f"{row['rss_final_bytes'] / 1e6:>12,.0f} {row['rss_per_file_bytes']:>10,.0f} "
            f"{row['disk_bytes'] / row['files']:>11,.1f}"
        )
    for part in ("hot_path", "replay"):
        pair = measured[part]
        lines.append(
            f"{part.replace('_', ' ')} ({pair['workload']}): in memory "
            f"{pair['memory_events_per_s']:,.0f} events/s, on disk "
            f"{pair['disk_events_per_s']:,.0f} events/s "
            f"(time ratio {pair['disk_over_memory_time']:.2f})"
        )
    restores = measured["restore"]
    for restored in restores if isinstance(restores, list) else []:
        for side in restored["sides"]:
            rate = side.get("entries_per_s")
            shown = side["error"] if rate is None else f"{rate:,.0f} entries/s"
            lines.append(f"restore {restored['records']:,} records into {side['store']}: {shown}")
    restart = measured["restart"]
    if "restarts" in restart:
        lines.append(
            f"restart over {restart['files']:,} files: first start {restart['first_start_s']} s"
        )
        for kind, runs in restart["restarts"].items():
            seconds = ", ".join(str(r["seconds"]) for r in runs["runs"])
            lines.append(f"  kill -9 -> first output, {kind}: {seconds} s")
    return "\n".join(lines)


def state_targets(measured: dict[str, Any]) -> list[Target]:
    rows = [row for row in measured["memory"] if "error" not in row]
    targets = []
    for store in sorted({row["store"] for row in rows if row["store"] != "memory"}):
        mine = sorted((r for r in rows if r["store"] == store), key=lambda r: r["files"])
        small, big = mine[0], mine[-1]
        targets.append(
            Target(
                f"{store}: RSS < 1.5 GB at the largest size",
                f"peak {big['rss_peak_bytes'] / 1e9:.2f} GB at {big['files']:,} files",
                big["rss_peak_bytes"] < STATE_RSS_BOUND,
            )
        )
        ratio = big["rss_peak_bytes"] / small["rss_peak_bytes"]
        measured_flat = f"{ratio:.2f}x from {small['files']:,} to {big['files']:,} files"
        targets.append(
            Target(
                f"{store}: peak RSS flat within 20%",
                measured_flat,
                ratio <= STATE_RSS_FLATNESS if big is not small else None,
            )
        )
    targets.extend(
        [
            _pair_target("hot path with the disk store", measured["hot_path"]),
            _pair_target("replay --state-dir", measured["replay"]),
            _uploads_target(rows),
        ]
    )
    targets.extend(_restore_targets(measured["restore"]))
    targets.append(_restart_target(measured["restart"]))
    return targets


def _pair_target(what: str, pair: dict[str, Any]) -> Target:
    ratio = pair["disk_over_memory_time"]
    measured = (
        f"{pair['disk_events_per_s']:,.0f} against {pair['memory_events_per_s']:,.0f} "
        f"events/s ({ratio:.2f}x the time; {pair['workload']}), medians of "
        f"{len(pair['disk_s'])} runs in turn"
    )
    return Target(f"{what} within 1.5x of in-memory", measured, ratio <= STATE_SLOWDOWN)


def _uploads_target(rows: list[dict[str, Any]]) -> Target:
    """The hot path where every event writes state: the feed steps at the smallest size."""
    goal = "uploads only (every event writes state), disk store within 1.5x of in-memory"
    smallest = min((r["files"] for r in rows), default=None)
    sides = {r["store"]: r for r in rows if r["files"] == smallest}
    memory = sides.pop("memory", None)
    if memory is None or not sides:
        return Target(goal, "not run", None)
    # The default store: the largest cache (the others differ only in what they evict).
    disk = max(sides.values(), key=lambda r: (r["runs"], int(r["store"].partition(":")[2])))
    ratio = memory["events_per_s"] / disk["events_per_s"]
    measured = (
        f"{disk['store']} {disk['events_per_s']:,.0f} against {memory['events_per_s']:,.0f} "
        f"events/s ({ratio:.2f}x the time), medians of {disk['runs']} runs in turn"
    )
    return Target(goal, measured, ratio <= STATE_SLOWDOWN)


def _restore_targets(restores: Any) -> list[Target]:
    if not isinstance(restores, list):
        return [Target(">= 300,000 changelog entries/s restored", "not run", None)]
    targets = []
    for restored in restores:
        for side in restored["sides"]:
            goal = f">= 300,000 changelog entries/s restored into {side['store']}"
            rate = side.get("entries_per_s")
            if rate is None:
                targets.append(Target(goal, side["error"][:200], None))
                continue
            measured = f"{rate:,.0f} entries/s over {side['records']:,} records"
            targets.append(Target(goal, measured, rate >= RESTORE_RATE))
    return targets


def _restart_target(restart: dict[str, Any]) -> Target:
    goal = "first new output within 10 s of kill -9 with a local store"
    if "restarts" not in restart:
        return Target(goal, str(restart.get("status", "not run")), None)
    medians = {kind: runs["median_s"] for kind, runs in restart["restarts"].items()}
    kept = medians.pop("local store")
    others = "; ".join(f"{kind}: {seconds} s" for kind, seconds in medians.items())
    measured = f"median {kept} s at {restart['files']:,} files ({others})"
    return Target(goal, measured, kept <= RESTART_S)
