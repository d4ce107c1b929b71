"""No record blocks a partition, against the real broker: events and outputs too large for their
topics, a state change too large to record and a batch the broker keeps refusing end as dead
letters or failed evaluations, and the events after them on the same partition are processed."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import orjson
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from engine.models import Trigger
from engine.service.limits import DEFAULT_MAX_MESSAGE_BYTES
from engine.service.metrics import total
from engine.service.service import TriggerService
from tests.kafka.conftest import CreateTopics
from tests.kafka.helpers import (
    RUN_METADATA,
    Deployment,
    Produced,
    Record,
    cloud_event,
    dataset_events,
    ends_of,
    example_deployment,
    expected,
    numbered,
    produce_events,
    read_all,
    values,
    wait_committed,
    wait_for,
)

POISON_BYTES = 1_048_500  # fits the events topic at Kafka's default limit; its dead letter not
MIB = 1 << 20


async def _set_max_message_bytes(
    admin: AIOKafkaAdminClient, topics: Iterable[str], limit: int
) -> None:
    """Set the topics' limit and wait until the broker reports it (the topics have no other
    settings of their own, which this replaces)."""
    topics = list(topics)
    await admin.alter_configs(
        [
            ConfigResource(ConfigResourceType.TOPIC, topic, {"max.message.bytes": str(limit)})
            for topic in topics
        ]
    )

    async def applied() -> bool:
        [response] = await admin.describe_configs(
            [
                ConfigResource(ConfigResourceType.TOPIC, topic, {"max.message.bytes": None})
                for topic in topics
            ]
        )
        resources = response.to_object()["resources"]
        return all(r["config_entries"][0]["config_value"] == str(limit) for r in resources)

    await wait_for(applied, f"max.message.bytes {limit} on {topics}")


def _upload(dataset: str, frames: int) -> list[dict[str, Any]]:
    """A dataset created outside production, `frames` front-camera frames and a bag in one
    upload, and the upload's completion making it a fast production run of robot r2d2: run-summary
    fires once, at the completion, with every frame and the bag."""
    upload = f"tx-{dataset}"
    files = [(f"fl_{n:06d}", f"run/cam_front/{n:06d}.jpg") for n in range(frames)]
    events = [cloud_event(dataset, "dataset.created", dataset=([], RUN_METADATA))]
    for file in [*files, ("fl_bag", "run/log.bag")]:
        events.append(cloud_event(dataset, "file.uploaded", file=file, transaction=upload))
    events.append(
        cloud_event(
            dataset,
            "dataset.upload_completed",
            dataset=(["prod"], RUN_METADATA),
            transaction=upload,
        )
    )
    return events


def _dead_letter_source(record: Record) -> tuple[str, int, int]:
    headers = dict(record.headers)
    return (
        headers["dlq.source.topic"].decode(),
        int(headers["dlq.source.partition"]),
        int(headers["dlq.source.offset"]),
    )


def _invocations_by_trigger(records: Iterable[Record]) -> Counter[str]:
    return Counter(orjson.loads(r.value)["trigger"]["name"] for r in records)


async def _check_outputs(
    bootstrap: str, dep: Deployment, produced: list[Produced], triggers: list[Trigger]
) -> None:
    """The invocations and evaluations are those of file replay."""
    want = expected(produced, triggers)
    assert Counter(values(await read_all(bootstrap, dep.invocations))) == Counter(want.invocations)
    assert Counter(values(await read_all(bootstrap, dep.evaluations))) == Counter(want.evaluations)


async def test_an_oversized_dead_letter_is_truncated_or_compressed_and_the_partition_goes_on(
    kafka_bootstrap: str,
    kafka_admin: AIOKafkaAdminClient,
    create_topics: CreateTopics,
    unique_name: Callable[[str], str],
) -> None:
    """Two invalid events of 1,048,500 bytes, at the topics' default limit: random bytes, whose
    dead letter cannot fit and is cut, and a JSON object that compresses, whose dead letter stays
    whole. The dataset's later events on that partition are processed."""
    dep, triggers = await example_deployment(kafka_bootstrap, create_topics, unique_name)
    dataset = "ds_after_poison"
    noise = random.Random(5).randbytes(POISON_BYTES)
    blank = len(orjson.dumps({"datasetid": dataset, "padding": ""}))
    padded = orjson.dumps({"datasetid": dataset, "padding": "x" * (POISON_BYTES - blank)})
    assert len(padded) == len(noise) == POISON_BYTES
    produced = await produce_events(
        kafka_bootstrap, dep.events, [noise], key=dataset.encode(), max_request_size=2 * MIB
    )
    produced += await produce_events(
        kafka_bootstrap, dep.events, [padded, *dataset_events(dataset)], max_request_size=2 * MIB
    )
    assert len({p.partition for p in produced}) == 1

    async with TriggerService(dep.settings()) as service:
        await wait_committed(kafka_admin, dep.group, dep.events, ends_of(produced))
    assert service.limits.limit(dep.dlq) == DEFAULT_MAX_MESSAGE_BYTES

    dead = await read_all(kafka_bootstrap, dep.dlq)
    assert sorted(_dead_letter_source(r) for r in dead) == [
        (dep.events, p.partition, p.offset) for p in produced[:2]
    ]
    by_offset = {_dead_letter_source(r)[2]: r for r in dead}
    cut, whole = by_offset[produced[0].offset], by_offset[produced[1].offset]
    cut_headers = dict(cut.headers)
    assert cut_headers["dlq.truncated"] == b"true"
    assert cut_headers["dlq.original.bytes"] == str(POISON_BYTES).encode()
    assert b": not valid JSON" in cut_headers["dlq.reason"]
    assert cut.key == dataset.encode()
    assert cut.value is not None and 0 < len(cut.value) < POISON_BYTES
    assert noise.startswith(cut.value)
    assert whole.value == padded and "dlq.truncated" not in dict(whole.headers)
    assert total(service.metrics.dead_letters_truncated) == 1
    assert total(service.metrics.dead_letters) == 2
    await _check_outputs(kafka_bootstrap, dep, produced, triggers)


async def test_a_two_mib_event_with_topics_raised_to_four_mib_is_dead_lettered_whole(
    kafka_bootstrap: str,
    kafka_admin: AIOKafkaAdminClient,
    create_topics: CreateTopics,
    unique_name: Callable[[str], str],
) -> None:
    dep, triggers = await example_deployment(kafka_bootstrap, create_topics, unique_name)
    await _set_max_message_bytes(kafka_admin, [dep.events, dep.dlq], 4 * MIB)
    dataset = "ds_after_two_mib"
    blank = len(orjson.dumps({**cloud_event(dataset, "dataset.created"), "padding": ""}))
    event = {**cloud_event(dataset, "dataset.created"), "padding": "y" * (2 * MIB - blank)}
    big = orjson.dumps(event)
    assert len(big) == 2 * MIB
    produced = await produce_events(
        kafka_bootstrap, dep.events, [big, *dataset_events(dataset)], max_request_size=4 * MIB
    )

    async with TriggerService(dep.settings()) as service:
        await wait_committed(kafka_admin, dep.group, dep.events, ends_of(produced))
    assert service.limits.limit(dep.dlq) == 4 * MIB

    [dead] = await read_all(kafka_bootstrap, dep.dlq)
    assert dead.value == big
    assert _dead_letter_source(dead) == (dep.events, produced[0].partition, produced[0].offset)
    headers = dict(dead.headers)
    assert f"{2 * MIB} bytes exceeds the limit of {MIB} bytes".encode() in headers["dlq.reason"]
    assert "dlq.truncated" not in headers
    await _check_outputs(kafka_bootstrap, dep, produced, triggers)


async def test_a_dataset_invocation_over_25000_files_is_delivered_with_default_settings(
    kafka_bootstrap: str,
    kafka_admin: AIOKafkaAdminClient,
    create_topics: CreateTopics,
    unique_name: Callable[[str], str],
) -> None:
    dep, _ = await example_deployment(kafka_bootstrap, create_topics, unique_name)
    dataset = "ds_big_upload"
    produced = await produce_events(
        kafka_bootstrap, dep.events, numbered(dataset, _upload(dataset, 25_000))
    )

    async with TriggerService(dep.settings()) as service:
        await wait_committed(kafka_admin, dep.group, dep.events, ends_of(produced))
    assert service.limits.limit(dep.invocations) == DEFAULT_MAX_MESSAGE_BYTES

    [invocation] = await read_all(kafka_bootstrap, dep.invocations)
    assert invocation.value is not None and len(invocation.value) > DEFAULT_MAX_MESSAGE_BYTES
    request = orjson.loads(invocation.value)
    assert request["trigger"]["name"] == "run-summary"
    assert request["event_id"] == orjson.loads(produced[-1].line)["id"]
    assert len(request["input_data"]["files"]) == 25_001
    assert total(service.metrics.outputs_too_large) == 0


async def test_an_output_or_state_change_too_large_to_write_is_set_aside_with_its_reason(
    kafka_bootstrap: str,
    kafka_admin: AIOKafkaAdminClient,
    create_topics: CreateTopics,
    unique_name: Callable[[str], str],
) -> None:
    """With records of at most 16 KiB and no compression: run-summary's invocation over 400 files
    becomes a failed evaluation; a metadata update too large for the changelog is set aside
    unprocessed (its removal of the prod tag never happens) once the events of its batch were
    processed one by one to find it; a later frame still fires."""
    dep, triggers = await example_deployment(kafka_bootstrap, create_topics, unique_name)
    dataset, limit = "ds_small_limits", 16 * 1024
    huge = cloud_event(dataset, "dataset.metadata_updated", dataset=([], {"notes": "z" * limit}))
    later = cloud_event(dataset, "file.uploaded", file=("fl_later", "run/cam_front/later.jpg"))
    lines = numbered(dataset, [*_upload(dataset, 400), huge, later])
    produced = await produce_events(kafka_bootstrap, dep.events, lines)
    culprit = produced[-2]
    settings = dep.settings(
        producer_max_request_bytes=limit, large_record_compression="none", batch_max_records=50
    )

    async with TriggerService(settings) as service:
        await wait_committed(kafka_admin, dep.group, dep.events, ends_of(produced))

    want = expected([p for p in produced if p is not culprit], triggers)
    wanted = [orjson.loads(i) for i in want.invocations]
    assert Counter(r["trigger"]["name"] for r in wanted) == {
        "run-summary": 1,
        "front-cam-detect": 1,
    }
    invocations = await read_all(kafka_bootstrap, dep.invocations)
    assert values(invocations) == [
        i
        for i, r in zip(want.invocations, wanted, strict=True)
        if r["trigger"]["name"] == "front-cam-detect"
    ]

    evaluations = [orjson.loads(r.value) for r in await read_all(kafka_bootstrap, dep.evaluations)]
    [failed] = [e for e in evaluations if e["status"] == "failed"]
    assert (failed["trigger_name"], failed["outcome"]) == ("run-summary", "invoked_action")
    assert failed["detail"].startswith("invocation request of ")
    assert f"exceeds the limit of {limit} bytes" in failed["detail"]
    restored = {**failed, "status": "evaluated", "detail": None}
    normalized = [restored if e is failed else e for e in evaluations]
    assert Counter(map(orjson.dumps, normalized)) == Counter(want.evaluations)

    [dead] = await read_all(kafka_bootstrap, dep.dlq)  # too large too: cut
    assert dead.value and culprit.line.startswith(dead.value)
    assert _dead_letter_source(dead) == (dep.events, culprit.partition, culprit.offset)
    headers = dict(dead.headers)
    assert headers["dlq.original.bytes"] == str(len(culprit.line)).encode()
    reason = headers["dlq.reason"].decode()
    assert "set aside unprocessed" in reason and "RecordTooLarge" in reason
    metrics = service.metrics
    assert total(metrics.outputs_too_large, output="invocation") == 1
    assert total(metrics.records_set_aside, error="RecordTooLarge") == 1
    assert total(metrics.invocations) == 1


async def test_a_batch_the_broker_keeps_refusing_is_retried_a_bounded_number_of_times(
    kafka_bootstrap: str,
    kafka_admin: AIOKafkaAdminClient,
    create_topics: CreateTopics,
    unique_name: Callable[[str], str],
) -> None:
    """The invocations topic is shrunk under the running service, below any invocation: the
    broker refuses the batch holding a firing event. It is retried, then its events go one per
    transaction, and the firing one is set aside with the broker's error; the events after it
    are processed, and once the topic is restored a new firing is written."""
    dep, triggers = await example_deployment(kafka_bootstrap, create_topics, unique_name)
    dataset = "ds_refused"
    created = cloud_event(dataset, "dataset.created", dataset=(["prod"], RUN_METADATA))

    def frame(camera: str, number: int) -> dict[str, Any]:
        path = f"run/{camera}/{number:04d}.jpg"
        return cloud_event(dataset, "file.uploaded", file=(f"fl_{camera}_{number}", path))

    lines = numbered(
        dataset, [created, frame("cam_rear", 1), frame("cam_front", 1), frame("cam_rear", 2)]
    )
    after = numbered(f"{dataset}-after", [frame("cam_front", 2)])
    settings = dep.settings(batch_retry_backoff_ms=10, batch_retry_backoff_max_ms=100)

    async with TriggerService(settings) as service:
        await _set_max_message_bytes(kafka_admin, [dep.invocations], 256)
        produced = await produce_events(kafka_bootstrap, dep.events, lines)
        await wait_committed(kafka_admin, dep.group, dep.events, ends_of(produced))
        await _set_max_message_bytes(kafka_admin, [dep.invocations], DEFAULT_MAX_MESSAGE_BYTES)
        produced += await produce_events(kafka_bootstrap, dep.events, after)
        await wait_committed(kafka_admin, dep.group, dep.events, ends_of(produced))

    refused = produced[2]
    [dead] = await read_all(kafka_bootstrap, dep.dlq)
    assert dead.value == refused.line
    assert _dead_letter_source(dead) == (dep.events, refused.partition, refused.offset)
    assert "MessageSizeTooLargeError" in dict(dead.headers)["dlq.reason"].decode()
    await _check_outputs(kafka_bootstrap, dep, [p for p in produced if p is not refused], triggers)
    metrics, bound = service.metrics, settings.batch_attempts
    assert total(metrics.records_set_aside, error="MessageSizeTooLargeError") == 1
    assert bound <= total(metrics.transactions, result="aborted") <= 2 * bound
    assert _invocations_by_trigger(await read_all(kafka_bootstrap, dep.invocations)) == {
        "front-cam-detect": 1
    }
