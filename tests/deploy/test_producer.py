"""deploy/producer/produce_examples.py: the records it makes, and a round trip through a broker."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from engine.trigger_files import load_triggers, trigger_from_dict
from tests.deploy.surface import REPO, producer_module
from tests.kafka.conftest import CreateTopics

EXAMPLE_TRIGGERS = REPO / "examples" / "triggers.yaml"
EXAMPLE_EVENTS = REPO / "examples" / "events.jsonl"


@pytest.fixture
def producer() -> ModuleType:
    return producer_module()


def test_an_invalid_triggers_file_is_refused_before_connecting(
    producer: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "triggers.yaml"
    bad.write_text("triggers:\n  - name: x\n    org_id: og_1\n    colour: red\n")
    # Nothing listens on port 1: reaching the broker would fail differently.
    assert producer.main(["--bootstrap-servers", "127.0.0.1:1", "triggers", str(bad)]) == 2
    error = capsys.readouterr().err
    assert "colour" in error and str(bad) in error


def test_events_keep_their_bytes_and_are_keyed_by_dataset(producer: ModuleType) -> None:
    lines = [line for line in EXAMPLE_EVENTS.read_bytes().splitlines() if line.strip()]
    records = list(producer.event_records([str(EXAMPLE_EVENTS)]))
    assert [r.value for r in records] == [line.strip() for line in lines]
    for record in records:
        if record.key is not None:
            assert orjson.loads(record.value)["datasetid"].encode() == record.key


@pytest.mark.parametrize(
    ("line", "key"),
    [
        (b'{"datasetid": "ds_1", "id": "e"}', b"ds_1"),
        (b'{"datasetid": 7}', None),
        (b'["datasetid"]', None),
        (b'{"datasetid": "ds_1"', None),
    ],
)
def test_a_line_without_a_usable_dataset_id_has_no_key(
    producer: ModuleType, line: bytes, key: bytes | None
) -> None:
    # The engine dead-letters such an event; the producer must still deliver it.
    assert producer.event_key(line) == key


async def _read(bootstrap: str, topic: str, count: int) -> list[tuple[bytes | None, bytes]]:
    """The first `count` records of `topic`, as (key, value)."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        received: list[tuple[bytes | None, bytes]] = []
        while len(received) < count:
            batches = await consumer.getmany(timeout_ms=10_000)
            assert batches, f"only {len(received)} of {count} records arrived"
            received += [(m.key, m.value) for batch in batches.values() for m in batch]
        return received
    finally:
        await consumer.stop()


@pytest.mark.kafka
async def test_publishes_each_trigger_as_the_registry_reads_it(
    producer: ModuleType,
    kafka_bootstrap: str,
    create_topics: CreateTopics,
    unique_name: Callable[[str], str],
) -> None:
    topic = unique_name("triggers")
    await create_topics({topic: 1}, compacted=True)
    triggers = load_triggers(EXAMPLE_TRIGGERS)
    sent = await producer.publish_triggers(triggers, bootstrap_servers=kafka_bootstrap, topic=topic)
    assert sent == len(triggers)
    received = await _read(kafka_bootstrap, topic, len(triggers))
    assert [key for key, _ in received] == [f"{t.org_id}/{t.name}".encode() for t in triggers]
    for (_, value), trigger in zip(received, triggers, strict=True):
        assert trigger_from_dict(orjson.loads(value), "test") == trigger


@pytest.mark.kafka
async def test_publishes_every_event_in_order_per_dataset(
    producer: ModuleType,
    kafka_bootstrap: str,
    create_topics: CreateTopics,
    unique_name: Callable[[str], str],
) -> None:
    topic = unique_name("events")
    await create_topics({topic: 3})
    records = list(producer.event_records([str(EXAMPLE_EVENTS)]))
    sent = await producer.publish_events(
        records, bootstrap_servers=kafka_bootstrap, topic=topic, interval=0.0
    )
    assert sent == len(records)
    received = await _read(kafka_bootstrap, topic, len(records))

    def by_key(pairs: list[tuple[bytes | None, bytes]]) -> dict[bytes | None, list[bytes]]:
        grouped: dict[bytes | None, list[bytes]] = {}
        for key, value in pairs:
            grouped.setdefault(key, []).append(value)
        return grouped

    assert by_key(received) == by_key([(r.key, r.value) for r in records])
