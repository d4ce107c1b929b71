"""What the service refuses to let bad input do, against a real broker: an event keyed by anything
but its `datasetid` is dead-lettered instead of starting a second state of its dataset on another
partition, and a registry record that fails validation leaves the trigger's last valid version in
effect."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from engine.evaluator import Evaluator
from engine.replay import replay
from engine.service.changelog import OFFSET_KEY
from engine.service.kafka_replay import kafka_range_events
from engine.service.metrics import total
from engine.service.registry_topic import RejectReason, publish_trigger
from engine.service.service import TriggerService
from engine.service.settings import KafkaSettings
from engine.sinks import MemorySink
from engine.state import StateStore
from engine.trigger_files import trigger_to_dict
from tests.kafka.conftest import CreateTopics
from tests.kafka.helpers import (
    Produced,
    dataset_events,
    ends_of,
    example_deployment,
    example_registry,
    expected,
    produce_events,
    read_all,
    values,
    wait_committed,
    wait_for,
)


async def test_an_event_keyed_otherwise_than_by_its_dataset_is_a_dead_letter(
    kafka_bootstrap: str,
    kafka_admin: AIOKafkaAdminClient,
    create_topics: CreateTopics,
    unique_name: Callable[[str], str],
) -> None:
    """A wrongly keyed and an unkeyed event of dataset ds_k0, written to another partition than
    ds_k0's, are dead-lettered with the reason; that partition's later events are processed, and
    ds_k0's state is in its own partition only."""
    dep, triggers = await example_deployment(kafka_bootstrap, create_topics, unique_name)
    streams = [dataset_events(f"ds_k{n}") for n in range(6)]
    first = [s[n] for n in range(7) for s in streams]
    good = await produce_events(kafka_bootstrap, dep.events, first)
    home = {orjson.loads(p.line)["datasetid"]: p.partition for p in good}
    elsewhere = min(set(home.values()) - {home["ds_k0"]})  # a partition with datasets of its own
    created, upload = (orjson.loads(streams[0][n]) for n in (0, 3))
    bad = [
        (orjson.dumps({**created, "id": "wrong-key"}), b"og_acme"),
        (orjson.dumps({**upload, "id": "no-key"}), None),
    ]
    dead = []
    async with AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all") as producer:
        for line, key in bad:
            meta = await producer.send_and_wait(dep.events, line, key, partition=elsewhere)
            dead.append(Produced(elsewhere, meta.offset, line))
    later = [s[n] for n in range(7, 15) for s in streams]
    good += await produce_events(kafka_bootstrap, dep.events, later)
    assert any(p.partition == elsewhere and p.offset > dead[-1].offset for p in good)

    async with TriggerService(dep.settings()) as service:
        await wait_committed(kafka_admin, dep.group, dep.events, ends_of(good + dead))
    assert total(service.metrics.dead_letters) == 2

    letters = sorted(
        await read_all(kafka_bootstrap, dep.dlq),
        key=lambda r: int(dict(r.headers)["dlq.source.offset"]),
    )
    assert [(r.key, r.value) for r in letters] == [(key, line) for line, key in bad]
    reasons = [dict(r.headers)["dlq.reason"].decode() for r in letters]
    place = f"record key at {dep.events}/{elsewhere}@"
    assert reasons == [
        f"event 'wrong-key' {place}{dead[0].offset}: 'og_acme' is not its datasetid 'ds_k0'",
        f"event 'no-key' {place}{dead[1].offset}: the record has no key; it must be its "
        "datasetid 'ds_k0'",
    ]
    want = expected(good, triggers)
    assert Counter(values(await read_all(kafka_bootstrap, dep.invocations))) == Counter(
        want.invocations
    )
    assert Counter(values(await read_all(kafka_bootstrap, dep.evaluations))) == Counter(
        want.evaluations
    )
    changes = [r for r in await read_all(kafka_bootstrap, dep.state) if r.key != OFFSET_KEY]
    assert {orjson.loads(r.key)[0] for r in changes} == set(home)
    for record in changes:
        assert record.partition == home[orjson.loads(record.key)[0]], record.key

    # replay --from-kafka takes them for bad input too
    replayed = MemorySink()
    events = kafka_range_events(
        KafkaSettings(bootstrap_servers=kafka_bootstrap), dep.events, None, None
    )
    evaluator = Evaluator(example_registry(triggers), StateStore())
    await asyncio.to_thread(replay, events, evaluator, replayed)
    assert [(o.stream, o.position, e.reason) for o, e in replayed.rejects] == [
        (f"{dep.events}/{elsewhere}", d.offset, reason.split(": ", 1)[1])
        for d, reason in zip(dead, reasons, strict=True)
    ]


def _upload(number: int) -> bytes:
    """An upload to dataset ds_live (a production dataset) that front-cam-detect fires on."""
    event = {
        "specversion": "1.0",
        "id": f"up-{number}",
        "type": "file.uploaded",
        "source": "/orgs/og_acme",
        "orgid": "og_acme",
        "datasetid": "ds_live",
        "data": {
            "file": {"file_id": f"fl_{number}", "relative_path": f"a/cam_front/{number}.jpg"},
            "dataset": {"tags": ["prod"], "metadata": {}},
        },
    }
    return orjson.dumps(event)


async def test_an_invalid_update_of_a_live_trigger_leaves_its_last_valid_version_firing(
    kafka_bootstrap: str,
    kafka_admin: AIOKafkaAdminClient,
    create_topics: CreateTopics,
    unique_name: Callable[[str], str],
) -> None:
    dep, triggers = await example_deployment(kafka_bootstrap, create_topics, unique_name)
    [detect] = [t for t in triggers if t.name == "front-cam-detect"]
    document = trigger_to_dict(detect)
    produced: list[Produced] = []

    async def fired(number: int) -> list[tuple[str, str]]:
        """Once upload `number` is processed: front-cam-detect's invocations so far, as (event,
        threshold), in event order (one dataset: one partition)."""
        produced.extend(await produce_events(kafka_bootstrap, dep.events, [_upload(number)]))
        await wait_committed(kafka_admin, dep.group, dep.events, ends_of(produced))
        records = sorted(await read_all(kafka_bootstrap, dep.invocations), key=lambda r: r.offset)
        return [
            (doc["event_id"], doc["parameter_values"]["threshold"])
            for doc in map(orjson.loads, values(records))
            if doc["trigger"]["name"] == detect.name
        ]

    async def publish(value: dict[str, Any] | None) -> None:
        await publish_trigger(producer, dep.triggers, detect.key, value)

    async with (
        AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all") as producer,
        TriggerService(dep.settings()) as service,
    ):
        await wait_for(lambda: service.ready, "the service to be ready")
        assert await fired(1) == [("up-1", "0.7")]

        rejects = service.metrics.registry_rejects
        await publish({**document, "for_each": "everything"})
        await publish({**document, "action": "no-such-action", "parameter_values": {}})
        await wait_for(
            lambda: total(rejects, topic=dep.triggers, reason=RejectReason.COMPILE_ERROR) == 1,
            "both invalid updates to be rejected",
        )
        assert total(rejects, topic=dep.triggers, reason=RejectReason.INVALID_DEFINITION) == 1
        assert await fired(2) == [("up-1", "0.7"), ("up-2", "0.7")]

        await publish({**document, "parameter_values": {"threshold": "0.9"}})
        await wait_for(
            lambda: (
                (live := service.registry.get("og_acme", detect.name)) is not None
                and live.spec.parameter_values == {"threshold": "0.9"}
            ),
            "the valid update to apply",
        )
        assert await fired(3) == [("up-1", "0.7"), ("up-2", "0.7"), ("up-3", "0.9")]

        await publish(None)
        await wait_for(lambda: len(service.registry) == len(triggers) - 1, "the deletion")
        assert await fired(4) == [("up-1", "0.7"), ("up-2", "0.7"), ("up-3", "0.9")]
