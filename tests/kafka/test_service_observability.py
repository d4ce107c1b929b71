"""`trigger-engine run --log-format=json` as a real process, first started against a new broker
(of this test's own, which has no group coordinator or transaction state yet) on topics it
creates: every log line is a JSON object with the record's fields, the client
library logs no error on the way to ready, and `/metrics` shows the engine's metrics (lag by topic
and partition) beside the process, garbage-collector and build metrics."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client.parser import text_string_to_metric_families

import engine
from tests.kafka.conftest import PrivateBroker
from tests.kafka.helpers import (
    REPO,
    WAIT_S,
    Deployment,
    ends_of,
    example_lines,
    http_request,
    produce_events,
    wait_committed,
    wait_for,
)
from tests.test_service_metrics import ENGINE_METRICS


def _records(log: Path) -> list[dict[str, Any]]:
    """The log's records; every complete line must be one JSON object."""
    return [
        orjson.loads(line) for line in log.read_text().splitlines(keepends=True) if "\n" in line
    ]


def _http_port(log: Path) -> int | None:
    ports = [r["http_port"] for r in _records(log) if "http_port" in r]
    return ports[0] if ports else None


async def test_a_first_start_logs_json_without_client_errors_and_serves_standard_metrics(
    private_broker: PrivateBroker,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    topics = ("events", "state", "invocations", "evaluations", "dlq", "triggers", "actions")
    bootstrap = private_broker.bootstrap
    dep = Deployment(
        bootstrap,
        **{topic: unique_name(topic) for topic in topics},
        group=unique_name("group"),
        prefix=unique_name("txn"),
    )
    log = tmp_path / "engine.log"
    with log.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "engine",
            "run",
            *dep.flags(),
            "--create-topics",
            "--log-format=json",
            cwd=REPO,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        await wait_for(lambda: _http_port(log) is not None, "the engine to log its HTTP port")
        port = _http_port(log)
        assert port is not None

        async def ready() -> bool:
            return (await http_request(port, "/readyz"))[0] == 200

        await wait_for(ready, "/readyz to answer 200")
        produced = await produce_events(bootstrap, dep.events, example_lines())
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            await wait_committed(admin, dep.group, dep.events, ends_of(produced))
        finally:
            await admin.close()
        status, body = await http_request(port, "/metrics")
    finally:
        process.terminate()
        async with asyncio.timeout(WAIT_S):
            exit_code = await process.wait()
    assert exit_code == 0

    records = _records(log)
    assert all({"time", "level", "logger", "message"} <= record.keys() for record in records)
    client_errors = [
        r for r in records if r["logger"].startswith("aiokafka") and r["level"] == "ERROR"
    ]
    assert client_errors == []
    ready_at = [r for r in records if r["message"].endswith("datasets") and "offset" in r]
    assert ready_at, "no record of a partition ready at its offset"
    assert {r["topic"] for r in ready_at} == {dep.events}

    assert status == 200
    families = {f.name: f for f in text_string_to_metric_families(body)}
    exposed = {
        f"{f.name}_total" if f.type == "counter" else f.name: f.type for f in families.values()
    }
    assert {name: exposed.get(name) for name in ENGINE_METRICS} == ENGINE_METRICS
    [resident] = families["process_resident_memory_bytes"].samples
    assert resident.value > 0
    assert families["python_gc_collections"].samples
    [build] = families["trigger_engine_build_info"].samples
    assert (build.labels["version"], build.value) == (engine.__version__, 1)
    [owned] = families["trigger_engine_assigned_partitions"].samples
    lag = {
        (s.labels["topic"], s.labels["partition"])
        for s in families["trigger_engine_consumer_lag"].samples
    }
    assert lag == {(dep.events, str(r["partition"])) for r in ready_at}
    assert len(lag) == owned.value
    events = families["trigger_engine_events"].samples
    assert sum(s.value for s in events) == len(produced)
    assert {s.labels["topic"] for s in events} == {dep.events}
