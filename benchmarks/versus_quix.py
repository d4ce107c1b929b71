"""The engine end to end beside an exactly-once quix-streams passthrough, on the same broker.

Both sides take the same events (`workload.generate_uploads`: every event gives exactly one
invocation) on fresh topics with the same partition count, produced the same way, and run as
subprocesses: the engine service (`kafka_bench`) and `benchmarks.quix_passthrough`. Each side is
measured as `kafka_bench` measures the engine: throughput from the first send until the side's
consumer group has committed every event's offset, then latency at a steady rate, each output timed
from handing its event to the producer until a `read_committed` consumer receives it, then the
exactly-once check (for the passthrough: one record per event, its id derived from the event).

The sides alternate across repetitions (engine, quix, quix, engine, ...) so that a drift in the
machine's speed weighs on both alike; the medians of each side and the ratio of the throughput
medians (engine / quix) are reported.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError

from benchmarks.kafka_bench import (
    EVENT_PARTITIONS,
    POLL_S,
    READY_TIMEOUT_S,
    KafkaBenchError,
    KafkaSettings,
    Topics,
    create_topics,
    delete_topics,
    exactly_once,
    measure,
    replayed_invocation_ids,
    resolve_bootstrap,
    run_engine,
    service_available,
    stop_service,
    written_records,
)
from benchmarks.quix_passthrough import passthrough_id
from benchmarks.runner import say
from benchmarks.workload import Workload, generate_uploads

SIDES = ("engine", "quix")
MEDIANS = ("events_per_s", "latency_p50_ms", "latency_p99_ms")


@dataclass(frozen=True, slots=True)
class VersusSettings:
    kafka: KafkaSettings
    events: int
    repetitions: int = 2  # per side
    seed: int = 7


def side_order(repetitions: int) -> list[str]:
    """engine, quix, quix, engine, ...: each side goes first as often as the other."""
    return [side for n in range(repetitions) for side in (SIDES if n % 2 == 0 else SIDES[::-1])]


def run_versus_quix(settings: VersusSettings) -> dict[str, Any]:
    """Both sides' runs, their medians and the ratio, as a JSON-ready dict; `status` says what
    happened."""
    missing = service_available()
    if missing is not None:
        return {"status": f"pending: {missing}"}
    workload = generate_uploads(settings.events, settings.seed)
    invocations = len(replayed_invocation_ids(workload))
    if invocations != len(workload.events):
        raise KafkaBenchError(
            f"the uploads workload gives {invocations} invocations for {len(workload.events)} "
            "events; the comparison needs one per event"
        )
    bootstrap = resolve_bootstrap(settings.kafka.bootstrap)
    runs: dict[str, list[dict[str, Any]]] = {side: [] for side in SIDES}
    order = side_order(settings.repetitions)
    for number, side in enumerate(order, start=1):
        say(f"versus quix [{number}/{len(order)}]: {side}, {settings.events:,} events")
        with tempfile.TemporaryDirectory(prefix=f"trigger-engine-versus-{side}-") as tmp:
            try:
                runs[side].append(asyncio.run(_run_side(side, workload, settings, bootstrap, tmp)))
            except KafkaConnectionError as exc:
                raise KafkaBenchError(f"cannot reach the broker at {bootstrap}: {exc}") from exc
    medians = {side: _medians(runs[side]) for side in SIDES}
    return {
        "status": "ok",
        "bootstrap": bootstrap,
        "events": settings.events,
        "event_partitions": EVENT_PARTITIONS,
        "latency_rate": settings.kafka.latency_rate,
        "order": order,
        **{side: {"median": medians[side], "runs": runs[side]} for side in SIDES},
        "engine_over_quix": round(
            medians["engine"]["events_per_s"] / medians["quix"]["events_per_s"], 3
        ),
    }


async def _run_side(
    side: str, workload: Workload, settings: VersusSettings, bootstrap: str, tmp: str
) -> dict[str, Any]:
    if side == "engine":
        return await run_engine(workload, settings.kafka, bootstrap, Path(tmp))
    return await _run_quix(workload, settings.kafka, bootstrap, Path(tmp))


def _medians(runs: list[dict[str, Any]]) -> dict[str, float]:
    return {name: round(statistics.median(run[name] for run in runs), 2) for name in MEDIANS}


async def _run_quix(
    workload: Workload, settings: KafkaSettings, bootstrap: str, tmp: Path
) -> dict[str, Any]:
    topics = Topics.fresh()
    try:
        await create_topics(
            bootstrap,
            [
                NewTopic(topics.events, EVENT_PARTITIONS, 1),
                NewTopic(topics.invocations, EVENT_PARTITIONS, 1),
            ],
        )
        ready_s, measured = await _with_passthrough(workload, settings, bootstrap, topics, tmp)
    finally:
        await delete_topics(bootstrap, topics)
    received = measured.pop("invocation_ids")
    expected = [
        passthrough_id(e["datasetid"], e["data"]["file"]["file_id"]) for e in workload.events
    ]
    return {
        "status": "ok",
        "event_partitions": EVENT_PARTITIONS,
        "service_ready_s": round(ready_s, 2),
        **measured,
        "exactly_once": exactly_once(expected, received),
    }


async def _with_passthrough(
    workload: Workload, settings: KafkaSettings, bootstrap: str, topics: Topics, tmp: Path
) -> tuple[float, dict[str, Any]]:
    """(seconds until its group was joined, the measurements) with the passthrough running."""
    log = tmp / "quix.log"
    with log.open("wb") as log_stream:
        passthrough = subprocess.Popen(
            passthrough_command(bootstrap, topics, tmp / "state"),
            stdout=log_stream,
            stderr=subprocess.STDOUT,
        )
        try:
            started = time.monotonic()
            await wait_group_stable(passthrough, bootstrap, topics.group, log)
            ready_s = time.monotonic() - started
            measured = await measure(workload, settings, bootstrap, topics)
            measured["written"] = await written_records(bootstrap, [topics.invocations])
            return ready_s, measured
        finally:
            await stop_service(passthrough)


def passthrough_command(bootstrap: str, topics: Topics, state_dir: Path) -> list[str]:
    return [
        sys.executable, "-m", "benchmarks.quix_passthrough",
        "--bootstrap-servers", bootstrap,
        "--group-id", topics.group,
        "--events-topic", topics.events,
        "--output-topic", topics.invocations,
        "--state-dir", str(state_dir),
    ]  # fmt: skip


async def wait_group_stable(
    process: subprocess.Popen[bytes], bootstrap: str, group: str, log: Path
) -> None:
    """Until the process's consumer group has a member and a settled assignment: as for the
    engine, the clock of the throughput phase must not include the group join."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    deadline = time.monotonic() + READY_TIMEOUT_S
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                tail = log.read_text(errors="replace")[-2000:]
                raise KafkaBenchError(f"the passthrough exited with {process.returncode}:\n{tail}")
            described = await admin.describe_consumer_groups([group])
            groups = described[0].to_object()["groups"]
            if groups and groups[0]["state"] == "Stable" and groups[0]["members"]:
                return
            await asyncio.sleep(POLL_S)
    finally:
        await admin.close()
    raise KafkaBenchError(
        f"the passthrough's group {group!r} was not stable within {READY_TIMEOUT_S:g} s"
    )
