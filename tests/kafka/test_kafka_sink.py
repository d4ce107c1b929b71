"""The Kafka transaction sink behind the file replay driver: one transaction holds what a JSON
Lines replay writes, keyed by dataset, with the source in the headers, the dead letters, and the
state changes in the changelog partition."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable

import orjson
from aiokafka import AIOKafkaProducer, TopicPartition

from engine.evaluator import Evaluator
from engine.journal import decode
from engine.replay import replay
from engine.service.kafka_sink import KafkaTransactionSink
from engine.service.limits import DEFAULT_MAX_MESSAGE_BYTES, WriteLimits
from engine.sinks import Origin
from engine.state import StateStore
from tests.kafka.conftest import CreateTopics
from tests.kafka.helpers import (
    PARTITIONS,
    Produced,
    dataset_key,
    example_lines,
    example_registry,
    example_triggers,
    expected,
    read_all,
    values,
)

DATASET_ID = re.compile(rb'"datasetid": *"([^"]+)"')


async def test_a_replay_into_one_transaction_writes_what_a_jsonl_replay_writes(
    kafka_bootstrap: str, create_topics: CreateTopics, unique_name: Callable[[str], str]
) -> None:
    events, invocations, evaluations, dlq, changelog = (
        unique_name(name) for name in ("events", "invocations", "evaluations", "dlq", "state")
    )
    await create_topics(
        {invocations: PARTITIONS, evaluations: PARTITIONS, dlq: PARTITIONS, changelog: PARTITIONS}
    )
    lines, triggers = example_lines(), example_triggers()
    # Keyed by dataset as a producer must; lines without a datasetid get a key of their own, so
    # that a dead letter is seen to keep the key it came with.
    origins = [
        Origin(events, offset, line, partition=1, key=dataset_key(line) or b"key-%d" % offset)
        for offset, line in enumerate(lines)
    ]
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap, transactional_id=unique_name("txn"), acks="all"
    )
    await producer.start()
    try:
        await producer.begin_transaction()
        sink = await KafkaTransactionSink.open(
            producer,
            invocations_topic=invocations,
            evaluations_topic=evaluations,
            dead_letter_topic=dlq,
            changelog=TopicPartition(changelog, 1),
            limits=WriteLimits(DEFAULT_MAX_MESSAGE_BYTES, {}),
        )
        state = StateStore()
        summary = replay(origins, Evaluator(example_registry(triggers), state), sink)
        await sink.send()
        await sink.delivered()
        await producer.commit_transaction()
    finally:
        await producer.stop()

    want = expected([Produced(1, offset, line) for offset, line in enumerate(lines)], triggers)
    written = [
        *await read_all(kafka_bootstrap, invocations),
        *await read_all(kafka_bootstrap, evaluations),
    ]
    assert Counter(values(written)) == Counter(want.invocations + want.evaluations)
    for record in written:
        headers = dict(record.headers)
        origin = origins[int(headers["source.offset"])]
        event = orjson.loads(origin.data or b"")
        assert record.key == event["datasetid"].encode()
        assert (headers["source.topic"], headers["source.partition"]) == (events.encode(), b"1")
        assert headers["event.id"] == event["id"].encode()
    dead = await read_all(kafka_bootstrap, dlq)
    assert sorted(values(dead)) == sorted(want.rejected)
    assert len(dead) == summary.rejected == 3
    for record in dead:
        headers = dict(record.headers)
        offset = int(headers["dlq.source.offset"])
        assert (record.key, record.value) == (origins[offset].key, origins[offset].data)
        assert f" at {events}/1@{offset}: ".encode() in headers["dlq.reason"]
    restored = StateStore()
    for record in await read_all(kafka_bootstrap, changelog):
        assert record.partition == 1
        change = decode(record.key, record.value)
        assert change is not None
        restored.restore(change)
    datasets = {m.decode() for o in origins for m in DATASET_ID.findall(o.data or b"")}
    assert len(datasets) >= 5
    for dataset_id in sorted(datasets):
        original, copy = state.get(dataset_id), restored.get(dataset_id)
        assert (original is None) == (copy is None), dataset_id
        if original is None or copy is None:
            continue
        assert (copy.record, copy.files, copy.fired, copy.fired_files) == (
            original.record,
            original.files,
            original.fired,
            original.fired_files,
        )
