"""The Kafka service in-process against a real broker: the same output as file replay, dead
letters, live registry changes, a consumer group whose members come and go, HTTP endpoints."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from engine.documents import document_items
from engine.errors import ConfigError
from engine.service.metrics import total
from engine.service.registry_topic import publish_action, publish_trigger
from engine.service.service import TriggerService
from engine.service.settings import KafkaSettings, ServiceSettings
from engine.service.topics import prepare_topics
from engine.trigger_files import trigger_to_dict
from tests.kafka.conftest import CreateTopics
from tests.kafka.helpers import (
    EXAMPLE_ACTIONS,
    Produced,
    Record,
    by_dataset,
    dataset_events,
    deployment,
    ends_of,
    example_deployment,
    example_lines,
    example_triggers,
    expected,
    exposition_samples,
    http_request,
    produce_events,
    read_all,
    read_committed_until,
    restored_states,
    upload_stream,
    values,
    wait_committed,
    wait_for,
    workload,
)


async def test_output_is_file_replays_and_bad_events_are_dead_lettered(
    kafka_bootstrap: str,
    kafka_admin: AIOKafkaAdminClient,
    create_topics: CreateTopics,
    unique_name: Callable[[str], str],
) -> None:
    dep, triggers = await example_deployment(kafka_bootstrap, create_topics, unique_name)
    produced = await produce_events(kafka_bootstrap, dep.events, example_lines())

    async with TriggerService(dep.settings()) as service:
        await wait_committed(kafka_admin, dep.group, dep.events, ends_of(produced))
    want = expected(produced, triggers)

    invocation_records = await read_all(kafka_bootstrap, dep.invocations)
    invocations = values(invocation_records)
    assert Counter(invocations) == Counter(want.invocations)
    assert by_dataset(invocations) == by_dataset(want.invocations)
    evaluation_records = await read_all(kafka_bootstrap, dep.evaluations)
    evaluations = values(evaluation_records)
    assert Counter(evaluations) == Counter(want.evaluations)
    for record in invocation_records:
        assert record.key == orjson.loads(record.value)["data_source"]["data_source_id"].encode()
    for record in invocation_records + evaluation_records:
        # Keyed by dataset like their event, and as many partitions: the same partition.
        assert record.partition == int(dict(record.headers)["source.partition"])
    dead = await read_all(kafka_bootstrap, dep.dlq)
    assert sorted(values(dead)) == sorted(want.rejected)
    assert len(dead) == 3
    for record in dead:
        source = next(p for p in produced if p.line == record.value)
        headers = dict(record.headers)
        assert headers["dlq.source.topic"] == dep.events.encode()
        assert headers["dlq.source.partition"] == str(source.partition).encode()
        assert headers["dlq.source.offset"] == str(source.offset).encode()
        assert f"@{source.offset}".encode() in headers["dlq.reason"]
    metrics = service.metrics
    assert total(metrics.events) == len(produced)
    assert total(metrics.dead_letters) == 3
    assert total(metrics.invocations) == len(want.invocations)
    assert total(metrics.transactions, result="aborted") == 0


async def test_uploads_give_file_replays_output_and_their_state_restores_from_the_changelog(
    kafka_bootstrap: str,
    kafka_admin: AIOKafkaAdminClient,
    create_topics: CreateTopics,
    unique_name: Callable[[str], str],
) -> None:
    """Upload transactions and their completions, in small transactions of the service: the same
    outputs as file replay, byte for byte and in order per dataset; and the state rebuilt from
    the changelog, as on assignment, is replay's, open uploads and remembered causes included."""
    dep, triggers = await example_deployment(kafka_bootstrap, create_topics, unique_name)
    produced = await produce_events(kafka_bootstrap, dep.events, upload_stream())

    async with TriggerService(dep.settings(batch_max_records=7)):
        await wait_committed(kafka_admin, dep.group, dep.events, ends_of(produced))
    want = expected(produced, triggers)

    invocations = values(await read_all(kafka_bootstrap, dep.invocations))
    assert by_dataset(invocations) == by_dataset(want.invocations)
    evaluations = values(await read_all(kafka_bootstrap, dep.evaluations))
    assert by_dataset(evaluations) == by_dataset(want.evaluations)
    reasons = Counter(orjson.loads(e)["reason"] for e in evaluations)
    assert reasons["upload_in_progress"] > 0
    dead = values(await read_all(kafka_bootstrap, dep.dlq))
    assert dead == want.rejected and len(dead) == 1

    restored = await restored_states(kafka_bootstrap, dep.state)
    datasets: dict[int, set[str]] = defaultdict(set)
    for event in produced:
        datasets[event.partition].add(orjson.loads(event.line)["datasetid"])
    assert sorted(restored) == sorted(want.states) == sorted(datasets)
    for partition, state in want.states.items():
        assert restored[partition].input_offset == ends_of(produced)[partition]
        rebuilt = restored[partition].state
        assert len(rebuilt) == len(state)
        for dataset_id in sorted(datasets[partition]):
            assert rebuilt.get(dataset_id) == state.get(dataset_id), dataset_id
    [partition] = [p for p, names in datasets.items() if "ds_open" in names]
    left_open = restored[partition].state.get("ds_open")
    assert left_open is not None and list(left_open.uploads.open) == ["o2"]
    assert left_open.uploads.causes == ["file_upload", "dataset_metadata_update"]


def _evaluated(records: list[Record], event_id: str, trigger: str) -> bool:
    return any(
        (doc := orjson.loads(r.value))["event_id"] == event_id and doc["trigger_name"] == trigger
        for r in records
    )


def _upload(number: int, path: str) -> bytes:
    event = {
        "specversion": "1.0",
        "id": f"live-{number}",
        "type": "file.uploaded",
        "source": "/orgs/og_acme",
        "orgid": "og_acme",
        "datasetid": "ds_live",
        "data": {
            "file": {"file_id": f"fl_{number}", "relative_path": path},
            "dataset": {"tags": ["prod"], "metadata": {"robot": "r2d2", "speed": 3}},
        },
    }
    return orjson.dumps(event)


async def test_registry_topics_apply_live(
    kafka_bootstrap: str, create_topics: CreateTopics, unique_name: Callable[[str], str]
) -> None:
    """Triggers and actions from their topics: a created trigger fires without a restart, a
    trigger whose action comes later waits for it, a deleted one stops, junk is counted."""
    dep = await deployment(kafka_bootstrap, create_topics, unique_name)
    triggers = {t.name: t for t in example_triggers()}
    actions = {item["name"]: item for item, _ in document_items(EXAMPLE_ACTIONS, "actions")}

    async def put_action(producer: AIOKafkaProducer, name: str) -> None:
        action = actions[name]
        await publish_action(producer, dep.actions, f"{action['org_id']}/{name}", action)

    async def put_trigger(producer: AIOKafkaProducer, name: str) -> None:
        trigger = triggers[name]
        await publish_trigger(producer, dep.triggers, trigger.key, trigger_to_dict(trigger))

    def loaded(org: str, name: str) -> bool:
        return service.registry.get(org, name) is not None

    async with AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all") as producer:
        for name in ("detect-objects", "run-summary"):
            await put_action(producer, name)
        await put_trigger(producer, "front-cam-detect")
        await producer.send_and_wait(dep.triggers, b"{not json", b"og_acme/broken")

        async with TriggerService(dep.settings(actions=None)) as service:
            await wait_for(lambda: service.ready, "the service to be ready")
            assert [t.name for t in service.registry] == ["front-cam-detect"]
            rejects = service.metrics.registry_rejects
            assert total(rejects, topic=dep.triggers, reason="invalid_json") == 1

            await put_trigger(producer, "run-summary")
            await wait_for(lambda: loaded("og_acme", "run-summary"), "run-summary to load")
            await produce_events(
                kafka_bootstrap, dep.events, [_upload(1, "a/cam_front/1.jpg"), _upload(2, "a.bag")]
            )
            fired = await read_committed_until(
                kafka_bootstrap, dep.invocations, lambda records: len(records) >= 2
            )
            names = sorted(orjson.loads(r.value)["trigger"]["name"] for r in fired)
            assert names == ["front-cam-detect", "run-summary"]

            await put_trigger(producer, "mag-check")  # its action is not there yet
            await wait_for(
                lambda: total(rejects, topic=dep.triggers, reason="compile_error") == 1,
                "mag-check to be rejected",
            )
            assert not loaded("og_skyops", "mag-check")
            await put_action(producer, "check-magnetometer-norm")
            await wait_for(lambda: loaded("og_skyops", "mag-check"), "mag-check to load")

            await publish_trigger(producer, dep.triggers, triggers["front-cam-detect"].key, None)
            await wait_for(lambda: not loaded("og_acme", "front-cam-detect"), "the deletion")
            await produce_events(kafka_bootstrap, dep.events, [_upload(3, "a/cam_front/3.jpg")])
            await read_committed_until(
                kafka_bootstrap, dep.evaluations, lambda rs: _evaluated(rs, "live-3", "run-summary")
            )

    invocations = await read_all(kafka_bootstrap, dep.invocations)
    assert sorted(orjson.loads(r.value)["event_id"] for r in invocations) == ["live-1", "live-2"]
    evaluations = await read_all(kafka_bootstrap, dep.evaluations)
    assert not _evaluated(evaluations, "live-3", "front-cam-detect")


@pytest.mark.parametrize("on_disk", [False, True], ids=["state in memory", "state on disk"])
async def test_members_join_and_leave_mid_stream_and_each_event_counts_once(
    kafka_bootstrap: str,
    kafka_admin: AIOKafkaAdminClient,
    create_topics: CreateTopics,
    unique_name: Callable[[str], str],
    tmp_path: Path,
    on_disk: bool,
) -> None:
    """Partitions move between members as they join and leave; on disk, each member keeps its
    own stores (a cache of two datasets), which are stale when a partition comes back."""
    dep, triggers = await example_deployment(kafka_bootstrap, create_topics, unique_name)
    lines = workload()

    def settings(member: str) -> ServiceSettings:
        if not on_disk:
            return dep.settings(batch_max_records=10)
        return dep.settings(
            batch_max_records=10, state_dir=tmp_path / member, state_cache_datasets=2
        )

    first, second, third = (TriggerService(settings(m)) for m in ("first", "second", "third"))
    members = (first, second, third)

    def owned(*services: TriggerService) -> list[int]:
        return sorted(p for service in services for p in service.partitions)

    produced = await produce_events(kafka_bootstrap, dep.events, lines[:100])
    try:
        await first.start()
        await second.start()
        await wait_for(
            lambda: owned(first, second) == [0, 1, 2] and first.partitions and second.partitions,
            "two members to split the partitions",
        )
        joining = asyncio.ensure_future(third.start())
        produced += await produce_events(kafka_bootstrap, dep.events, lines[100:200])
        await joining
        await wait_for(
            lambda: owned(*members) == [0, 1, 2] and all(m.partitions for m in members),
            "three members to share the partitions",
        )
        await first.stop()
        produced += await produce_events(kafka_bootstrap, dep.events, lines[200:])
        await wait_committed(kafka_admin, dep.group, dep.events, ends_of(produced))
    finally:
        for member in members:
            await member.stop()

    want = expected(produced, triggers)
    invocations = values(await read_all(kafka_bootstrap, dep.invocations))
    assert Counter(invocations) == Counter(want.invocations)
    assert by_dataset(invocations) == by_dataset(want.invocations)
    assert sum(total(m.metrics.events) for m in members) == len(produced)
    assert all(total(m.metrics.events) > 0 for m in members)


async def test_health_readiness_and_metrics_over_http(
    kafka_bootstrap: str,
    kafka_admin: AIOKafkaAdminClient,
    create_topics: CreateTopics,
    unique_name: Callable[[str], str],
) -> None:
    dep, triggers = await example_deployment(kafka_bootstrap, create_topics, unique_name)
    produced = await produce_events(kafka_bootstrap, dep.events, example_lines())
    skips = Counter(orjson.loads(e)["reason"] for e in expected(produced, triggers).evaluations)

    async with TriggerService(dep.settings()) as service:
        port = service.http_port
        await wait_for(lambda: _status(port, "/readyz", 200), "/readyz to answer 200")
        assert await http_request(port, "/healthz") == (200, "alive\n")
        await wait_committed(kafka_admin, dep.group, dep.events, ends_of(produced))

        status, body = await http_request(port, "/metrics")
        assert status == 200
        samples = exposition_samples(body)
        by_partition = {(("partition", str(p)), ("topic", dep.events)) for p in range(3)}
        assert sum(samples["trigger_engine_events_total"].values()) == len(produced)
        assert set(samples["trigger_engine_events_total"]) <= by_partition
        assert sum(samples["trigger_engine_dead_letters_total"].values()) == 3
        assert samples["trigger_engine_triggers"] == {(): 9}
        assert samples["trigger_engine_assigned_partitions"] == {(): 3}
        assert samples["trigger_engine_ready"] == {(): 1}
        skipped = {
            dict(labels)["reason"]: value
            for labels, value in samples["trigger_engine_evaluations_total"].items()
            if ("outcome", "skipped") in labels
        }
        assert skipped == {reason: n for reason, n in skips.items() if reason is not None}
        assert samples["trigger_engine_consumer_lag"] == dict.fromkeys(by_partition, 0)
        assert samples["trigger_engine_batch_duration_seconds_count"][()] > 0

        assert (await http_request(port, "/nowhere"))[0] == 404
        assert (await http_request(port, "/healthz", "POST"))[0] == 405
        assert await http_request(port, "/readyz", "HEAD") == (200, "")
        service.request_stop()
        assert (await http_request(port, "/healthz"))[0] == 503
        assert (await http_request(port, "/readyz"))[0] == 503
    with pytest.raises(OSError):
        await http_request(port, "/healthz")


async def _status(port: int, path: str, wanted: int) -> bool:
    return (await http_request(port, path))[0] == wanted


async def test_missing_topics_are_created_by_the_plan_and_a_misfit_changelog_is_refused(
    kafka_bootstrap: str,
    kafka_admin: AIOKafkaAdminClient,
    create_topics: CreateTopics,
    unique_name: Callable[[str], str],
) -> None:
    settings = ServiceSettings(
        kafka=KafkaSettings(bootstrap_servers=kafka_bootstrap),
        create_topics=True,
        actions=EXAMPLE_ACTIONS,
        **{
            f"{part}_topic": unique_name(part)
            for part in ("events", "state", "invocations", "evaluations", "dlq", "triggers")
        },
    )
    await create_topics({settings.events_topic: 3})

    assert await prepare_topics(settings) == 3
    created = [
        settings.state_topic,
        settings.invocations_topic,
        settings.evaluations_topic,
        settings.dlq_topic,
        settings.triggers_topic,
    ]
    counts = {t["topic"]: len(t["partitions"]) for t in await kafka_admin.describe_topics(created)}
    assert [counts[topic] for topic in created] == [3, 3, 3, 3, 1]
    policies = []
    for topic in created:
        [response] = await kafka_admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic, {"cleanup.policy": None})]
        )
        [entry] = response.to_object()["resources"][0]["config_entries"]
        policies.append(entry["config_value"])
    assert policies == ["compact", "delete", "delete", "delete", "compact"]

    misfit = settings.model_copy(update={"state_topic": unique_name("state2")})
    await create_topics({misfit.state_topic: 2}, compacted=True)
    with pytest.raises(ConfigError, match="must be co-partitioned with the input"):
        await prepare_topics(misfit)


async def test_a_fenced_instance_stops_writing_its_partition_until_the_group_hands_it_out(
    kafka_bootstrap: str,
    kafka_admin: AIOKafkaAdminClient,
    create_topics: CreateTopics,
    unique_name: Callable[[str], str],
) -> None:
    """Another producer initialises partition 0's transactional id (as a new owner would): the
    old owner's next transaction on it fails, the group cannot confirm that it still holds the
    partition (nothing was committed for it), and it goes on with its other partitions only. After
    the next rebalance partition 0 is processed again, by a member with a fresh producer, and every
    event still counts exactly once."""
    dep, triggers = await example_deployment(kafka_bootstrap, create_topics, unique_name)
    settings = dep.settings()
    zombie, newcomer = TriggerService(settings), TriggerService(settings)
    usurper = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap, transactional_id=settings.transactional_id(0)
    )
    produced: list[Produced] = []

    async def produce(partition: int, dataset: str) -> None:
        async with AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all") as producer:
            for line in dataset_events(dataset):
                key = dataset.encode()
                meta = await producer.send_and_wait(dep.events, line, key, partition=partition)
                produced.append(Produced(partition, meta.offset, line))

    try:
        await zombie.start()
        await wait_for(lambda: zombie.partitions == [0, 1, 2], "the first member to own all")
        await usurper.start()
        await usurper.begin_transaction()  # completes init_transactions
        await usurper.commit_transaction()
        await produce(0, "ds_p0")
        await produce(1, "ds_p1")
        await wait_for(lambda: zombie.partitions == [1, 2], "the fenced partition to be dropped")
        assert total(zombie.metrics.transactions, result="aborted") == 1
        await wait_committed(kafka_admin, dep.group, dep.events, {1: len(produced) // 2})

        await newcomer.start()
        await wait_for(
            lambda: sorted(zombie.partitions + newcomer.partitions) == [0, 1, 2],
            "the group to hand out every partition again",
        )
        await wait_committed(kafka_admin, dep.group, dep.events, ends_of(produced))
    finally:
        for member in (zombie, newcomer):
            await member.stop()
        await usurper.stop()

    invocations = values(await read_all(kafka_bootstrap, dep.invocations))
    assert Counter(invocations) == Counter(expected(produced, triggers).invocations)
    assert {orjson.loads(i)["data_source"]["data_source_id"] for i in invocations} == {
        "ds_p0",
        "ds_p1",
    }
