"""CloudEvents both ways against a real broker: events written by the official SDK's Kafka binding,
in binary and in structured mode, give the invocations file replay gives for the same events, bad
binary-mode records are dead-lettered naming the header, and the invocation records read back
with the SDK as CloudEvents whose data is the request."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from datetime import datetime

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from engine.evaluator import Evaluator
from engine.replay import replay
from engine.service.kafka_replay import kafka_range_events
from engine.service.metrics import total
from engine.service.service import TriggerService
from engine.service.settings import KafkaSettings
from engine.sinks import MemorySink
from engine.state import StateStore
from tests.cloudevent_sdk import (
    binary_message,
    headers_of,
    read_binary,
    structured_message,
    valid_example_events,
)
from tests.kafka.conftest import CreateTopics
from tests.kafka.helpers import (
    Produced,
    by_dataset,
    ends_of,
    example_deployment,
    example_registry,
    expected,
    read_all,
    values,
    wait_committed,
)


async def test_sdk_events_in_either_mode_give_replays_invocations_with_ce_headers(
    kafka_bootstrap: str,
    kafka_admin: AIOKafkaAdminClient,
    create_topics: CreateTopics,
    unique_name: Callable[[str], str],
) -> None:
    dep, triggers = await example_deployment(kafka_bootstrap, create_topics, unique_name)
    events = valid_example_events()
    # Every other event in binary mode; replay reads each as the SDK writes it structured.
    messages = [
        (binary_message(e) if n % 2 == 0 else structured_message(e), structured_message(e).value)
        for n, e in enumerate(events)
    ]
    binary = messages[0][0]
    bad = [  # binary-mode records of dataset ds_run42 whose headers are unusable
        [(name, value) for name, value in headers_of(binary) if name != "ce_id"],
        [(n, b"text/plain" if n == "content-type" else v) for n, v in headers_of(binary)],
        [(n, b"og_\xff" if n == "ce_orgid" else v) for n, v in headers_of(binary)],
    ]
    produced, dead = [], []
    async with AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all") as producer:
        for message, line in messages:
            assert isinstance(message.key, bytes)
            meta = await producer.send_and_wait(
                dep.events, message.value, message.key, headers=headers_of(message)
            )
            produced.append(Produced(meta.partition, meta.offset, line))
        for headers in bad:
            meta = await producer.send_and_wait(
                dep.events, binary.value, binary.key, headers=headers
            )
            dead.append(Produced(meta.partition, meta.offset, binary.value))

    async with TriggerService(dep.settings()) as service:
        await wait_committed(kafka_admin, dep.group, dep.events, ends_of(produced + dead))
    want = expected(produced, triggers)
    assert len(want.rejected) == 1  # the example whose org is not its dataset's
    assert total(service.metrics.dead_letters) == len(want.rejected) + len(bad)

    records = await read_all(kafka_bootstrap, dep.invocations)
    invocations = values(records)
    causes = {orjson.loads(v)["event_id"] for v in invocations}
    modes = {
        "binary" if n % 2 == 0 else "structured" for n, e in enumerate(events) if e["id"] in causes
    }
    assert modes == {"binary", "structured"}  # invocations of events of either mode
    assert Counter(invocations) == Counter(want.invocations)
    assert by_dataset(invocations) == by_dataset(want.invocations)
    assert Counter(values(await read_all(kafka_bootstrap, dep.evaluations))) == Counter(
        want.evaluations
    )

    # An executor reads the invocation records with the SDK.
    for record in records:
        assert record.value is not None
        request = orjson.loads(record.value)
        event = read_binary(record.key, record.value, record.headers)
        trigger = request["trigger"]["name"]
        assert event.get_specversion() == "1.0"
        assert event.get_id() == request["invocation_id"]
        assert event.get_type() == "trigger.invocation_requested"
        assert event.get_source() == f"/orgs/{request['org_id']}/triggers/{trigger}"
        assert event.get_time() == datetime.fromisoformat(request["event_time"])
        assert event.get_data() == request
        assert dict(record.headers)["source.topic"] == dep.events.encode()  # still there

    letters = sorted(
        await read_all(kafka_bootstrap, dep.dlq),
        key=lambda r: int(dict(r.headers)["dlq.source.offset"]),
    )
    assert [r.value for r in letters if r.value in want.rejected] == want.rejected
    letters = [r for r in letters if r.value not in want.rejected]
    place = f"at {dep.events}/{dead[0].partition}@"
    assert [dict(r.headers)["dlq.reason"].decode() for r in letters] == [
        f"record header 'ce_id' {place}{dead[0].offset}: is missing: every binary-mode event "
        "has it",
        f"record header 'content-type' {place}{dead[1].offset}: 'text/plain' is not JSON: the "
        "data of an event in binary mode must be JSON",
        f"record header 'ce_orgid' {place}{dead[2].offset}: is not valid UTF-8 (invalid start "
        "byte at byte 3)",
    ]
    for letter, headers in zip(letters, bad, strict=True):  # as they came, headers too
        assert (letter.key, letter.value) == (binary.key, binary.value)
        assert list(letter.headers)[: len(headers)] == headers

    # replay --from-kafka reads binary mode too
    replayed = MemorySink()
    topic_events = kafka_range_events(
        KafkaSettings(bootstrap_servers=kafka_bootstrap), dep.events, None, None
    )
    evaluator = Evaluator(example_registry(triggers), StateStore())
    await asyncio.to_thread(replay, topic_events, evaluator, replayed)
    assert Counter(i.to_json() for i in replayed.invocations) == Counter(want.invocations)
    assert len(replayed.rejects) == len(want.rejected) + len(bad)
