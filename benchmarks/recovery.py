"""Crash recovery of the Kafka service: from kill -9 to the first new output.

One `python -m engine run` with static group membership (`--group-instance-id`) processes a steady
stream of events on fresh topics (4 input partitions). At seeded random moments it is killed with
SIGKILL and at once started again with the same instance id, as an orchestrator restarts a crashed
container. For each kill the recovery time is from the SIGKILL to the moment a `read_committed`
consumer of the executor topic receives the first invocation request the new process produced (its
`processed.at` header is later than the kill). It includes the new process's start (the
interpreter and the imports), the registry load, the group rejoin, the producers' initialisation
(which aborts the dead process's open transactions), the state restore, the first transaction and
the consumer's fetch; not an orchestrator's own restart delay.

    python -m benchmarks.recovery --kills 9        # JSON on stdout

The broker: `--bootstrap-servers`, else TRIGGER_ENGINE_TEST_BOOTSTRAP, else
`deploy/kafka/kafka.sh start`.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from benchmarks.kafka_bench import (
    Topics,
    create_registry_topics,
    delete_topics,
    free_port,
    produce_triggers,
    resolve_bootstrap,
    send_events,
    service_command,
    stop_service,
    wait_ready,
)
from benchmarks.workload import Workload, WorkloadSpec, generate

INSTANCE_ID = "recovery-bench"
RECOVERY_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class RecoverySettings:
    bootstrap: str | None
    kills: int = 9
    rate: float = 300.0  # events per second produced
    uptime: tuple[float, float] = (2.0, 4.0)  # seconds a process runs after its first output
    seed: int = 3


def run_recovery(settings: RecoverySettings) -> dict[str, Any]:
    """The recovery times of `settings.kills` kills, as a JSON-ready dict."""
    bootstrap = resolve_bootstrap(settings.bootstrap)
    cycle_s = settings.uptime[1] + 5.0  # the longest uptime plus a generous recovery
    events = int(settings.rate * cycle_s * (settings.kills + 2))
    workload = generate(WorkloadSpec(triggers=200, orgs=2, events=events, seed=settings.seed))
    with tempfile.TemporaryDirectory(prefix="trigger-engine-recovery-") as tmp:
        return asyncio.run(_run(settings, bootstrap, workload, Path(tmp)))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.recovery",
        description="Time kill -9 -> first new invocation request of the Kafka service.",
    )
    defaults = RecoverySettings(bootstrap=None)
    parser.add_argument("--bootstrap-servers", help="a broker (default: see the module's doc)")
    parser.add_argument("--kills", type=int, default=defaults.kills, help="kills and restarts")
    parser.add_argument("--rate", type=float, default=defaults.rate, help="events per second")
    parser.add_argument(
        "--uptime", type=float, nargs=2, default=defaults.uptime, metavar=("MIN", "MAX"),
        help="seconds each process runs after its first output before it is killed",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=defaults.seed)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = RecoverySettings(
        args.bootstrap_servers, args.kills, args.rate, (args.uptime[0], args.uptime[1]), args.seed
    )
    result = run_recovery(settings)
    sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0


async def _run(
    settings: RecoverySettings, bootstrap: str, workload: Workload, tmp: Path
) -> dict[str, Any]:
    topics = Topics.fresh()
    try:
        await create_registry_topics(bootstrap, topics)
        await produce_triggers(bootstrap, topics, workload)
        recoveries = await _kill_and_restart(settings, bootstrap, topics, workload, tmp)
    finally:
        await delete_topics(bootstrap, topics)
    return {
        "kills": len(recoveries),
        "events_per_s": settings.rate,
        "recovery_s": [round(s, 2) for s in recoveries],
        "recovery_median_s": round(statistics.median(recoveries), 2),
        "recovery_max_s": round(max(recoveries), 2),
    }


async def _kill_and_restart(
    settings: RecoverySettings, bootstrap: str, topics: Topics, workload: Workload, tmp: Path
) -> list[float]:
    actions = tmp / "actions.json"
    actions.write_bytes(orjson.dumps(workload.actions))
    port = free_port()
    command = [
        *service_command(bootstrap, topics, actions, port),
        f"--group-instance-id={INSTANCE_ID}",
    ]
    log = tmp / "engine.log"
    outputs = Outputs()
    rng = random.Random(settings.seed)
    recoveries: list[float] = []
    with log.open("wb") as log_stream:
        service = start_process(command, log_stream)
        await wait_ready(service, port, log, len(workload.triggers))
        async with outputs.following(bootstrap, topics.invocations):
            producing = asyncio.ensure_future(
                produce_steadily(bootstrap, topics.events, workload, settings.rate)
            )
            try:
                await outputs.first_after(0.0)
                for _ in range(settings.kills):
                    await asyncio.sleep(rng.uniform(*settings.uptime))
                    killed_at = time.time()
                    service.kill()
                    await asyncio.to_thread(service.wait)
                    service = start_process(command, log_stream)
                    recoveries.append(await outputs.first_after(killed_at) - killed_at)
            finally:
                producing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await producing
                await stop_service(service)
    return recoveries


def start_process(command: list[str], log: BinaryIO) -> subprocess.Popen[bytes]:
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)


async def produce_steadily(bootstrap: str, topic: str, workload: Workload, rate: float) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks="all")
    await producer.start()
    try:
        await send_events(producer, topic, workload.events, {}, rate=rate)
    finally:
        await producer.stop()


class Outputs:
    """Invocation requests as a `read_committed` consumer receives them: for each, when the engine
    processed it (its `processed.at` header) and when it arrived, both as Unix times."""

    def __init__(self) -> None:
        self._received: list[tuple[float, float]] = []  # (processed at, received at), in order
        self._arrived = asyncio.Event()

    @contextlib.asynccontextmanager
    async def following(self, bootstrap: str, topic: str) -> AsyncIterator[None]:
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            isolation_level="read_committed",
            auto_offset_reset="earliest",
            fetch_max_wait_ms=10,
        )
        await consumer.start()
        collecting = asyncio.ensure_future(self._collect(consumer))
        try:
            yield
        finally:
            collecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await collecting
            await consumer.stop()

    async def _collect(self, consumer: AIOKafkaConsumer) -> None:
        async for record in consumer:
            received_at = time.time()
            stamp = dict(record.headers)["processed.at"].decode()
            self._received.append((datetime.fromisoformat(stamp).timestamp(), received_at))
            self._arrived.set()

    async def first_after(self, moment: float, timeout_s: float = RECOVERY_TIMEOUT_S) -> float:
        """When the first output processed after `moment` arrived (outputs that arrived before
        `moment` were all processed before it, so the search starts at the first later one)."""
        seen = bisect.bisect_left(self._received, moment, key=lambda r: r[1])
        async with asyncio.timeout(timeout_s):
            while True:
                for processed_at, received_at in self._received[seen:]:
                    if processed_at >= moment:
                        return received_at
                seen = len(self._received)
                self._arrived.clear()
                await self._arrived.wait()


if __name__ == "__main__":
    raise SystemExit(main())
