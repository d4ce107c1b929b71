"""`replay --from-kafka` gives what file replay gives for the same events, and the registry topic
store behind `triggers ... --bootstrap-servers` keeps the latest definition of each trigger."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import orjson
from aiokafka import AIOKafkaProducer

from engine.cli import main
from engine.service.registry_topic import TopicTriggerStore
from engine.trigger_files import trigger_to_dict
from tests.kafka.conftest import CreateTopics
from tests.kafka.helpers import (
    EXAMPLE_ACTIONS,
    EXAMPLE_TRIGGERS,
    STAMPED_FROM_MS,
    dataset_key,
    example_lines,
    example_triggers,
    produce_stamped,
    stamp_iso,
)


def _replay(tmp: Path, name: str, *source: str) -> tuple[int, dict[str, bytes]]:
    outputs = {kind: tmp / f"{name}.{kind}.jsonl" for kind in ("out", "evaluations", "rejects")}
    code = main(
        [
            "replay",
            *source,
            f"--triggers={EXAMPLE_TRIGGERS}",
            f"--actions={EXAMPLE_ACTIONS}",
            "--no-progress",
            *(f"--{kind}={path}" for kind, path in outputs.items()),
        ]
    )
    return code, {kind: path.read_bytes() for kind, path in outputs.items() if path.exists()}


async def test_a_time_range_of_a_topic_replays_like_the_same_events_from_a_file(
    kafka_bootstrap: str,
    create_topics: CreateTopics,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    topic = unique_name("events")
    await create_topics({topic: 1}, timeless=True)
    lines = example_lines()
    await produce_stamped(kafka_bootstrap, topic, [(line, dataset_key(line)) for line in lines])
    (tmp_path / "range.jsonl").write_bytes(b"\n".join(lines[5:30]) + b"\n")

    code, from_kafka = await asyncio.to_thread(
        _replay,
        tmp_path,
        "kafka",
        "--from-kafka",
        f"--bootstrap-servers={kafka_bootstrap}",
        f"--topic={topic}",
        f"--since={stamp_iso(STAMPED_FROM_MS + 5000)}",
        f"--until={stamp_iso(STAMPED_FROM_MS + 30000)}",
    )
    assert code == 0
    file_code, from_file = _replay(tmp_path, "file", str(tmp_path / "range.jsonl"))
    assert file_code == 0
    assert from_kafka["out"] == from_file["out"] != b""
    assert from_kafka["evaluations"] == from_file["evaluations"]
    kafka_rejects = [orjson.loads(line) for line in from_kafka["rejects"].splitlines()]
    file_rejects = [orjson.loads(line) for line in from_file["rejects"].splitlines()]
    assert [(r["event"], r["reason"]) for r in kafka_rejects] == [
        (r["event"], r["reason"]) for r in file_rejects
    ]
    assert [(r["source"], r["line"]) for r in kafka_rejects] == [
        (f"{topic}/0", 25),
        (f"{topic}/0", 26),
        (f"{topic}/0", 27),
    ]


async def test_replay_reads_committed_events_and_stops_at_the_end_taken_at_start(
    kafka_bootstrap: str,
    create_topics: CreateTopics,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    """An open transaction holds the last stable offset back: replay ends there, without its
    events, instead of waiting for it."""
    topic = unique_name("events")
    await create_topics({topic: 3})
    lines = example_lines()
    async with AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all") as producer:
        for line in lines[:9]:
            await producer.send_and_wait(topic, line, b"ds_run42", partition=0)
    pending = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, transactional_id=unique_name("t"))
    await pending.start()
    try:
        await pending.begin_transaction()
        await pending.send_and_wait(topic, lines[9], b"ds_other", partition=0)
        code, from_kafka = await asyncio.to_thread(
            _replay,
            tmp_path,
            "kafka",
            "--from-kafka",
            f"--bootstrap-servers={kafka_bootstrap}",
            f"--topic={topic}",
        )
        await pending.abort_transaction()
    finally:
        await pending.stop()
    (tmp_path / "committed.jsonl").write_bytes(b"\n".join(lines[:9]) + b"\n")
    file_code, from_file = _replay(tmp_path, "file", str(tmp_path / "committed.jsonl"))
    assert (code, file_code) == (0, 0)
    assert from_kafka["out"] == from_file["out"] != b""


def test_replay_from_kafka_refuses_unusable_arguments(
    kafka_bootstrap: str, unique_name: Callable[[str], str], tmp_path: Path
) -> None:
    kafka = ["--from-kafka", f"--bootstrap-servers={kafka_bootstrap}"]
    assert _replay(tmp_path, "both", "events.jsonl", *kafka)[0] == 2
    assert _replay(tmp_path, "zone", *kafka, "--since=2026-11-20T10:00:00")[0] == 2
    backwards = ["--since=2026-11-21T00:00:00Z", "--until=2026-11-20T00:00:00Z"]
    assert _replay(tmp_path, "order", *kafka, *backwards)[0] == 2
    assert _replay(tmp_path, "missing", *kafka, f"--topic={unique_name('absent')}")[0] == 2
    assert _replay(tmp_path, "nothing")[0] == 2


async def test_the_registry_topic_store_keeps_the_latest_definition_of_each_trigger(
    kafka_bootstrap: str,
    create_topics: CreateTopics,
    unique_name: Callable[[str], str],
) -> None:
    topic = unique_name("triggers")
    await create_topics({topic: 1}, compacted=True)
    store = TopicTriggerStore(kafka_bootstrap, topic)
    first, second, third = example_triggers()[:3]
    for trigger in (first, second, third):
        await asyncio.to_thread(store.put, trigger)
    await asyncio.to_thread(store.delete, second)
    async with AIOKafkaProducer(bootstrap_servers=kafka_bootstrap) as producer:
        await producer.send_and_wait(topic, b"[1, 2]", b"og_acme/junk")

    loaded = await asyncio.to_thread(store.load)
    assert sorted(trigger_to_dict(t)["name"] for t in loaded) == sorted([first.name, third.name])
    assert [trigger_to_dict(t) for t in loaded if t.key == first.key] == [trigger_to_dict(first)]
