"""End to end through a real broker: the engine service (`python -m engine run`) as a subprocess.

1. Triggers go to a fresh registry topic and actions to a file; the service starts on fresh topics
   (`--create-topics`), exactly-once as always, and is waited for on `/readyz`.
2. Throughput: the first part of the workload's events is produced as fast as the producer goes;
   the rate is events over the time from the first send until the service's group has committed
   every event's offset.
3. Latency: the rest is produced at a steady rate below saturation; each invocation's latency is
   from handing its event to the producer to a `read_committed` consumer receiving it, so it
   includes batching and the transaction commit.
4. Exactly-once check: the invocation ids received must be exactly those a replay of the same
   events decides: no duplicate, none missing.

The broker: `--bootstrap-servers`, else TRIGGER_ENGINE_TEST_BOOTSTRAP, else
`deploy/kafka/kafka.sh start` (which reuses a broker already running on the local port).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError
from aiokafka.structs import OffsetAndMetadata

from benchmarks.hotpath import build_registry, nearest_rank
from benchmarks.workload import Workload
from engine.evaluator import Evaluator
from engine.events import event_from_dict
from engine.state import StateStore

BOOTSTRAP_ENV = "TRIGGER_ENGINE_TEST_BOOTSTRAP"
KAFKA_SH = Path(__file__).resolve().parents[1] / "deploy" / "kafka" / "kafka.sh"
EVENT_PARTITIONS = 4
READY_TIMEOUT_S = 120.0
POLL_S = 0.05


@dataclass(frozen=True, slots=True)
class KafkaSettings:
    bootstrap: str | None
    throughput_share: float = 0.8  # of the workload's events; the rest measures latency
    latency_rate: float = 1_000.0  # events/s during the latency phase
    drain_timeout_s: float = 300.0


class KafkaBenchError(Exception):
    """The end-to-end run could not be done; the message says why."""


def resolve_bootstrap(given: str | None) -> str:
    if given:
        return given
    configured = os.environ.get(BOOTSTRAP_ENV)
    if configured:
        return configured
    started = subprocess.run(
        ["bash", str(KAFKA_SH), "start"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHON": sys.executable},
        timeout=300,
        check=False,
    )
    if started.returncode != 0:
        raise KafkaBenchError(f"no broker: {KAFKA_SH} start failed: {started.stderr.strip()}")
    return started.stdout.strip()


def service_available() -> str | None:
    """None when `python -m engine run` exists, else why not."""
    probe = subprocess.run(
        [sys.executable, "-m", "engine", "run", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if probe.returncode == 0:
        return None
    return f"`python -m engine run` is not available: {probe.stderr.strip().splitlines()[-1:]}"


@dataclass(frozen=True, slots=True)
class Topics:
    events: str
    invocations: str
    triggers: str
    state: str
    dlq: str
    group: str
    transactional_prefix: str

    @classmethod
    def fresh(cls) -> Topics:
        run = uuid.uuid4().hex[:8]
        parts = ("events", "invocations", "triggers", "state", "dlq", "group", "tx")
        return cls(*(f"bench-{run}-{part}" for part in parts))


def run_kafka(workload: Workload, settings: KafkaSettings) -> dict[str, Any]:
    """The end-to-end numbers as a JSON-ready dict; `status` says what happened."""
    missing = service_available()
    if missing is not None:
        return {"status": f"pending: {missing}"}
    bootstrap = resolve_bootstrap(settings.bootstrap)
    with tempfile.TemporaryDirectory(prefix="trigger-engine-kafka-bench-") as tmp:
        try:
            return asyncio.run(run_engine(workload, settings, bootstrap, Path(tmp)))
        except KafkaConnectionError as exc:
            raise KafkaBenchError(f"cannot reach the broker at {bootstrap}: {exc}") from exc


async def run_engine(
    workload: Workload, settings: KafkaSettings, bootstrap: str, tmp: Path
) -> dict[str, Any]:
    topics = Topics.fresh()
    try:
        await create_registry_topics(bootstrap, topics)
        await produce_triggers(bootstrap, topics, workload)
        ready_s, measured = await _with_service(workload, settings, bootstrap, topics, tmp)
    finally:
        await delete_topics(bootstrap, topics)
    received = measured.pop("invocation_ids")
    return {
        "status": "ok",
        "bootstrap": bootstrap,
        "triggers": len(workload.triggers),
        "orgs": len(workload.triggers_per_org),
        "event_partitions": EVENT_PARTITIONS,
        "service_ready_s": round(ready_s, 2),
        **measured,
        "exactly_once": exactly_once(replayed_invocation_ids(workload), received),
    }


def exactly_once(expected: list[str], received: list[str]) -> dict[str, int]:
    """How the invocation ids received differ from those expected: zeros but the counts if none."""
    counts = Counter(received)
    return {
        "expected_invocations": len(expected),
        "received": len(received),
        "duplicates": sum(n - 1 for n in counts.values() if n > 1),
        "missing": len(set(expected) - set(counts)),
        "unexpected": len(set(counts) - set(expected)),
    }


async def _with_service(
    workload: Workload, settings: KafkaSettings, bootstrap: str, topics: Topics, tmp: Path
) -> tuple[float, dict[str, Any]]:
    """(seconds until the service was ready, the measurements) with the service running."""
    actions = tmp / "actions.json"
    actions.write_bytes(orjson.dumps(workload.actions))
    port = free_port()
    log = tmp / "engine.log"
    with log.open("wb") as log_stream:
        service = subprocess.Popen(
            service_command(bootstrap, topics, actions, port),
            stdout=log_stream,
            stderr=subprocess.STDOUT,
        )
        try:
            started = time.monotonic()
            await wait_ready(service, port, log, len(workload.triggers))
            ready_s = time.monotonic() - started
            measured = await measure(workload, settings, bootstrap, topics)
            measured["written"] = await written_records(
                bootstrap, [topics.invocations, topics.state]
            )
            return ready_s, measured
        finally:
            await stop_service(service)


async def delete_topics(bootstrap: str, topics: Topics) -> None:
    """Leave the broker as it was: the run's topics are of no use afterwards."""
    names = [topics.events, topics.invocations, topics.triggers, topics.state, topics.dlq]
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        await admin.delete_topics([name for name in names if name in existing])
    finally:
        await admin.close()


def service_command(bootstrap: str, topics: Topics, actions: Path, port: int) -> list[str]:
    return [
        sys.executable, "-m", "engine", "run",
        "--bootstrap-servers", bootstrap,
        "--group-id", topics.group,
        "--events-topic", topics.events,
        "--invocations-topic", topics.invocations,
        "--evaluations-topic", "",
        "--dlq-topic", topics.dlq,
        "--triggers-topic", topics.triggers,
        "--state-topic", topics.state,
        "--transactional-id-prefix", topics.transactional_prefix,
        "--actions", str(actions),
        "--create-topics",
        "--http-host", "127.0.0.1",
        "--http-port", str(port),
        "--log-level", "WARNING",
    ]  # fmt: skip


async def create_registry_topics(bootstrap: str, topics: Topics) -> None:
    """The registry topic must hold the triggers before the service starts; the service creates
    the others. The events topic is created here too, with a known partition count."""
    await create_topics(
        bootstrap,
        [
            NewTopic(topics.triggers, 1, 1, topic_configs={"cleanup.policy": "compact"}),
            NewTopic(topics.events, EVENT_PARTITIONS, 1),
        ],
    )


async def create_topics(bootstrap: str, new_topics: list[NewTopic]) -> None:
    """Create the topics and wait until each partition has a leader."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(new_topics)
        # The controller acknowledges a topic before its partitions have leaders; producing
        # in between only earns retries.
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not await _led(admin, [topic.name for topic in new_topics]):
            if time.monotonic() > deadline:
                raise KafkaBenchError("the new topics got no partition leaders")
            await asyncio.sleep(POLL_S)
    finally:
        await admin.close()


async def _led(admin: AIOKafkaAdminClient, names: list[str]) -> bool:
    described = await admin.describe_topics(names)
    return all(
        topic["error_code"] == 0
        and topic["partitions"]
        and all(partition["leader"] >= 0 for partition in topic["partitions"])
        for topic in described
    )


async def produce_triggers(bootstrap: str, topics: Topics, workload: Workload) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, acks="all")
    await producer.start()
    try:
        for trigger in workload.triggers:
            key = f"{trigger['org_id']}/{trigger['name']}".encode()
            await producer.send(topics.triggers, orjson.dumps(trigger), key=key)
        await producer.flush()
    finally:
        await producer.stop()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def wait_ready(
    service: subprocess.Popen[bytes],
    port: int,
    log: Path,
    triggers: int,
    timeout_s: float = READY_TIMEOUT_S,
) -> None:
    """Until `/readyz` answers 200 with every trigger loaded and every input partition owned:
    the clock of the throughput phase must not include the group join."""
    deadline = time.monotonic() + timeout_s
    base = f"http://127.0.0.1:{port}"
    while time.monotonic() < deadline:
        if service.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            raise KafkaBenchError(f"the service exited with {service.returncode}:\n{tail}")
        with contextlib.suppress(urllib.error.URLError, OSError):
            ready = await asyncio.to_thread(http_get, f"{base}/readyz")
            metrics = prometheus_samples(await asyncio.to_thread(http_get, f"{base}/metrics"))
            owned = metrics.get("trigger_engine_assigned_partitions")
            loaded = metrics.get("trigger_engine_triggers")
            if ready is not None and owned == EVENT_PARTITIONS and loaded == triggers:
                return
        await asyncio.sleep(0.2)
    raise KafkaBenchError(f"the service was not ready within {timeout_s:g} s")


def http_get(url: str) -> str | None:
    """The body of a 200 answer; None for any other status."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.read().decode()
    except urllib.error.HTTPError:
        return None


def prometheus_samples(text: str | None) -> dict[str, float]:
    """Unlabelled samples of a Prometheus text exposition."""
    samples: dict[str, float] = {}
    for line in (text or "").splitlines():
        name, _, value = line.partition(" ")
        if line and not line.startswith("#") and "{" not in name:
            samples[name] = float(value)
    return samples


async def stop_service(service: subprocess.Popen[bytes]) -> None:
    if service.poll() is None:
        service.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(service.wait, 60)
        except subprocess.TimeoutExpired:
            service.kill()
            await asyncio.to_thread(service.wait)


async def measure(
    workload: Workload, settings: KafkaSettings, bootstrap: str, topics: Topics
) -> dict[str, Any]:
    events = workload.events
    split = int(len(events) * settings.throughput_share)
    sent_at: dict[str, int] = {}
    received: list[tuple[str, str, int]] = []  # (invocation id, event id, ns received)
    consumer = AIOKafkaConsumer(
        topics.invocations,
        bootstrap_servers=bootstrap,
        isolation_level="read_committed",
        auto_offset_reset="earliest",
        fetch_max_wait_ms=10,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks="all")
    await consumer.start()
    await producer.start()
    collector = asyncio.create_task(_collect(consumer, received))
    try:
        start = time.monotonic_ns()
        await send_events(producer, topics.events, events[:split], sent_at, rate=None)
        produced_s = (time.monotonic_ns() - start) / 1e9
        await wait_committed(bootstrap, topics, split, settings.drain_timeout_s)
        drained_s = (time.monotonic_ns() - start) / 1e9
        await send_events(
            producer, topics.events, events[split:], sent_at, rate=settings.latency_rate
        )
        await wait_committed(bootstrap, topics, len(events), settings.drain_timeout_s)
        await asyncio.sleep(0.5)  # let the consumer catch the last committed invocations
    finally:
        collector.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await collector
        await producer.stop()
        await consumer.stop()
    paced = {event["id"] for event in events[split:]}
    latencies = sorted(
        (at - sent_at[event_id]) / 1e6 for _, event_id, at in received if event_id in paced
    )
    return {
        "events": len(events),
        "throughput_events": split,
        "events_per_s": round(split / drained_s, 1),
        "producer_events_per_s": round(split / produced_s, 1),
        "latency_events": len(events) - split,
        "latency_rate": settings.latency_rate,
        "latency_samples": len(latencies),
        "latency_p50_ms": round(nearest_rank(latencies, 0.5), 2),
        "latency_p99_ms": round(nearest_rank(latencies, 0.99), 2),
        "invocation_ids": [invocation_id for invocation_id, _, _ in received],
    }


async def send_events(
    producer: AIOKafkaProducer,
    topic: str,
    events: list[dict[str, Any]],
    sent_at: dict[str, int],
    *,
    rate: float | None,
) -> None:
    pending = []
    start = time.monotonic()
    for n, event in enumerate(events):
        if rate is not None:
            delay = start + n / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        sent_at[event["id"]] = time.monotonic_ns()
        value = orjson.dumps(event)
        pending.append(await producer.send(topic, value, key=event["datasetid"].encode()))
    await asyncio.gather(*pending)


async def _collect(consumer: AIOKafkaConsumer, received: list[tuple[str, str, int]]) -> None:
    async for record in consumer:
        request = orjson.loads(record.value)
        received.append((request["invocation_id"], request["event_id"], time.monotonic_ns()))


async def group_offsets(
    admin: AIOKafkaAdminClient, group: str
) -> dict[TopicPartition, OffsetAndMetadata]:
    """The group's committed offsets; none yet while the broker cannot name the group's
    coordinator, as a blank broker cannot until it has created and loaded its offsets topic."""
    try:
        return await admin.list_consumer_group_offsets(group)
    except KafkaError as error:
        if not error.retriable:
            raise
        return {}


async def wait_committed(bootstrap: str, topics: Topics, total: int, timeout_s: float) -> None:
    """Until the service's group has committed offsets covering `total` events."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            offsets = await group_offsets(admin, topics.group)
            done = sum(
                meta.offset
                for partition, meta in offsets.items()
                if isinstance(partition, TopicPartition) and partition.topic == topics.events
            )
            if done >= total:
                return
            await asyncio.sleep(POLL_S)
    finally:
        await admin.close()
    raise KafkaBenchError(f"the service did not commit {total} events within {timeout_s:g} s")


async def written_records(bootstrap: str, names: list[str]) -> dict[str, dict[str, int]]:
    """Per topic: the committed records a `read_committed` reader gets, and the offsets taken
    (records, aborted ones and transaction markers: a marker per partition a transaction wrote)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, isolation_level="read_committed", enable_auto_commit=False
    )
    await consumer.start()
    try:
        written: dict[str, dict[str, int]] = {}
        for name in names:
            partitions = [TopicPartition(name, p) for p in range(EVENT_PARTITIONS)]
            ends = await consumer.end_offsets(partitions)
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            records = 0
            deadline = time.monotonic() + READY_TIMEOUT_S
            while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
                if time.monotonic() > deadline:
                    raise KafkaBenchError(f"topic {name!r} could not be read to its end")
                batches = await consumer.getmany(timeout_ms=500)
                records += sum(len(batch) for batch in batches.values())
            written[name] = {"records": records, "offsets": sum(ends.values())}
        return written
    finally:
        await consumer.stop()


def replayed_invocation_ids(workload: Workload) -> list[str]:
    """What the engine decides for these events without a broker: the exactly-once reference."""
    registry, _ = build_registry(workload)
    evaluator = Evaluator(registry, StateStore(), record_evaluations=False)
    ids: list[str] = []
    for event in workload.events:
        ids.extend(
            r["invocation_id"] for r in evaluator.process(event_from_dict(event)).invocations
        )
    return ids
