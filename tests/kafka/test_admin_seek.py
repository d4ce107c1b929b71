"""`trigger-engine admin seek` against a real broker: the engine resumes the partition at the new
offset, whether it was running (its owner is fenced and reopens the partition) or stopped, every
event before and after counts exactly once, and the records skipped are never processed."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from engine.cli import main
from engine.models import Trigger
from engine.service.admin import seek
from engine.service.metrics import total
from engine.service.service import TriggerService
from tests.kafka.conftest import CreateTopics, PrivateBroker
from tests.kafka.helpers import (
    PARTITIONS,
    Deployment,
    Produced,
    dataset_events,
    ends_of,
    example_deployment,
    expected,
    produce_events,
    read_all,
    unique_deployment,
    values,
    wait_committed,
)

# A dataset's life (tests.kafka.helpers.dataset_events): events 5 and 6 upload camera frames that
# front-cam-detect fires on; they are the records skipped.
PROCESSED_BEFORE, SKIPPED, AFTER = slice(0, 5), slice(5, 7), slice(7, None)


def _seek_flags(dep: Deployment, partition: int, offset: int) -> list[str]:
    return [
        "admin",
        "seek",
        f"--partition={partition}",
        f"--offset={offset}",
        f"--bootstrap-servers={dep.bootstrap}",
        f"--group-id={dep.group}",
        f"--events-topic={dep.events}",
        f"--state-topic={dep.state}",
        f"--transactional-id-prefix={dep.prefix}",
    ]


async def _check_outputs(
    dep: Deployment, triggers: list[Trigger], processed: list[Produced], skipped: list[Produced]
) -> None:
    """Exactly the output of the processed events, nothing of the skipped ones."""
    want = expected(processed, triggers)
    invocations = values(await read_all(dep.bootstrap, dep.invocations))
    evaluations = values(await read_all(dep.bootstrap, dep.evaluations))
    assert Counter(invocations) == Counter(want.invocations)
    assert Counter(evaluations) == Counter(want.evaluations)
    skipped_ids = {orjson.loads(p.line)["id"] for p in skipped}
    assert not {orjson.loads(e)["event_id"] for e in evaluations} & skipped_ids


async def test_a_seek_past_records_fences_the_running_owner_which_resumes_there(
    kafka_bootstrap: str,
    kafka_admin: AIOKafkaAdminClient,
    create_topics: CreateTopics,
    unique_name: Callable[[str], str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The records to skip wait in an open transaction of the events topic, so the running owner
    has not read them when the seek moves past them."""
    dep, triggers = await example_deployment(kafka_bootstrap, create_topics, unique_name)
    lines = dataset_events("ds_s")
    before = await produce_events(kafka_bootstrap, dep.events, lines[PROCESSED_BEFORE])
    partition = before[0].partition
    async with TriggerService(dep.settings()) as service:
        await wait_committed(kafka_admin, dep.group, dep.events, ends_of(before))
        writer = AIOKafkaProducer(
            bootstrap_servers=kafka_bootstrap, transactional_id=unique_name("writer")
        )
        await writer.start()
        try:
            await writer.begin_transaction()
            skipped = []
            for line in lines[SKIPPED]:
                meta = await writer.send_and_wait(dep.events, line, b"ds_s", partition=partition)
                skipped.append(Produced(partition, meta.offset, line))
            resume = skipped[-1].offset + 1
            code = await asyncio.to_thread(main, _seek_flags(dep, partition, resume))
            await writer.commit_transaction()
        finally:
            await writer.stop()
        assert code == 0
        assert capsys.readouterr().out == (
            f"{dep.events}/{partition} resumes at offset {resume} "
            f"(the group was at {before[-1].offset + 1})\n"
        )
        after = await produce_events(kafka_bootstrap, dep.events, lines[AFTER])
        await wait_committed(kafka_admin, dep.group, dep.events, ends_of(after))
        assert service.partitions == [0, 1, 2]  # reopened, not given up
        assert total(service.metrics.transactions, result="aborted") == 1
    await _check_outputs(dep, triggers, before + after, skipped)


async def test_a_seek_while_the_engine_is_stopped_is_where_it_starts(
    kafka_bootstrap: str,
    kafka_admin: AIOKafkaAdminClient,
    create_topics: CreateTopics,
    unique_name: Callable[[str], str],
) -> None:
    dep, triggers = await example_deployment(kafka_bootstrap, create_topics, unique_name)
    lines = dataset_events("ds_t")
    before = await produce_events(kafka_bootstrap, dep.events, lines[PROCESSED_BEFORE])
    async with TriggerService(dep.settings()):
        await wait_committed(kafka_admin, dep.group, dep.events, ends_of(before))
    skipped = await produce_events(kafka_bootstrap, dep.events, lines[SKIPPED])
    after = await produce_events(kafka_bootstrap, dep.events, lines[AFTER])
    partition, resume = after[0].partition, after[0].offset

    settings = dep.settings()
    done = await seek(settings, partition, resume)
    assert (done.offset, done.previous) == (resume, skipped[0].offset)
    await wait_committed(kafka_admin, dep.group, dep.events, {partition: resume})

    async with TriggerService(settings):
        await wait_committed(kafka_admin, dep.group, dep.events, ends_of(after))
    await _check_outputs(dep, triggers, before + after, skipped)


async def test_a_seek_refuses_a_partition_or_an_offset_that_does_not_exist(
    kafka_bootstrap: str,
    create_topics: CreateTopics,
    unique_name: Callable[[str], str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    dep, _ = await example_deployment(kafka_bootstrap, create_topics, unique_name)
    [event] = await produce_events(kafka_bootstrap, dep.events, dataset_events("ds_u")[:1])
    refused = {
        (3, 0): f"--partition at {kafka_bootstrap}: 3 does not exist: {dep.events!r} has "
        "partitions 0..2",
        (event.partition, 2): f"--offset at {dep.events}/{event.partition}: 2 is outside the "
        "partition's offsets 0..1 (its first offset, its end)",
    }
    for (partition, offset), error in refused.items():
        code = await asyncio.to_thread(main, _seek_flags(dep, partition, offset))
        assert (code, capsys.readouterr().err) == (2, f"trigger-engine: error: {error}\n")
    assert await read_all(kafka_bootstrap, dep.state) == []


async def test_a_seek_on_a_broker_no_group_has_used_yet_waits_for_a_group_coordinator(
    private_broker: PrivateBroker, unique_name: Callable[[str], str]
) -> None:
    bootstrap = private_broker.bootstrap
    dep = unique_deployment(bootstrap, unique_name)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        compacted = {"cleanup.policy": "compact"}
        await admin.create_topics(
            [
                NewTopic(dep.events, PARTITIONS, replication_factor=1),
                NewTopic(dep.state, PARTITIONS, replication_factor=1, topic_configs=compacted),
            ]
        )
        [event] = await produce_events(bootstrap, dep.events, dataset_events("ds_new")[:1])
        done = await seek(dep.settings(), event.partition, event.offset + 1)
        assert (done.offset, done.previous) == (event.offset + 1, None)
        await wait_committed(admin, dep.group, dep.events, {event.partition: event.offset + 1})
    finally:
        await admin.close()
