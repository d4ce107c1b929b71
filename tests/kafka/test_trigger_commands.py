"""Operator commands against a real broker: `trigger-engine triggers backfill|invoke` write them
to the events topic, and the service carries them out exactly once, like file replay of the topic.
"""

from __future__ import annotations

import asyncio
import io
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from aiokafka.admin import AIOKafkaAdminClient

from engine.cli import main
from engine.command_events import backfill_requested, invoke_requested
from engine.evaluator import Evaluator
from engine.models import ActionReference, Trigger
from engine.replay import replay
from engine.service.service import TriggerService
from engine.sinks import JsonlSink, Origin
from engine.state import StateStore
from engine.vocabulary import Cause, ForEach
from tests.kafka.conftest import CreateTopics
from tests.kafka.helpers import (
    EXAMPLE_ACTIONS,
    Deployment,
    Produced,
    Record,
    by_dataset,
    committed,
    dataset_events,
    deployment,
    ends_of,
    example_deployment,
    example_registry,
    expected,
    produce_events,
    publish_triggers,
    read_all,
    values,
    wait_committed,
    wait_for,
)
from tests.kafka.test_service_process import SHUTDOWN_TIMEOUT_S, Engine

ORG = "og_acme"
TIME = "2026-11-21T09:00:00Z"
NEW_TRIGGER = "bag-convert"


def _dataset(dataset: str, *, prod: bool, files: list[tuple[str, str]]) -> list[bytes]:
    """The uploads of a dataset of og_acme, the first carrying its record (tagged prod or not)."""
    record = {
        "dataset_id": dataset,
        "org_id": ORG,
        "tags": ["prod"] if prod else [],
        "metadata": {},
    }
    lines = []
    for number, (file_id, path) in enumerate(files):
        data: dict[str, Any] = {"file": {"file_id": file_id, "relative_path": path}}
        if number == 0:
            data["dataset"] = record
        event = {
            "specversion": "1.0",
            "id": f"{dataset}-{number}",
            "type": "file.uploaded",
            "source": f"/orgs/{ORG}",
            "time": TIME,
            "orgid": ORG,
            "datasetid": dataset,
            "data": data,
        }
        lines.append(orjson.dumps(event))
    return lines


async def _cli(*argv: str) -> None:
    """A `trigger-engine triggers` command (in a thread: it runs its own event loop)."""
    assert await asyncio.to_thread(main, ["triggers", *argv]) == 0


def _registry(dep: Deployment) -> list[str]:
    """The flags of a `triggers` command on the deployment's registry."""
    return ["--org", ORG, "--bootstrap-servers", dep.bootstrap, "--triggers-topic", dep.triggers]


def _commands(dep: Deployment) -> list[str]:
    """The flags of a `triggers backfill|invoke` command to the deployment's events topic."""
    events = ["--events-topic", dep.events, "--transactional-id-prefix", dep.prefix]
    return [*_registry(dep), *events, "--time", TIME]


def _ends(records: list[Record]) -> dict[int, int]:
    """The offset after the last record of each partition."""
    ends: dict[int, int] = {}
    for record in records:
        ends[record.partition] = max(ends.get(record.partition, 0), record.offset + 1)
    return ends


async def _all_processed(admin: AIOKafkaAdminClient, dep: Deployment) -> list[Record]:
    """The records of the events topic, once the group has committed all of them."""
    records = await read_all(dep.bootstrap, dep.events)
    await wait_committed(admin, dep.group, dep.events, _ends(records))
    return records


def _replayed_with(records: list[Record], created: Trigger) -> tuple[list[bytes], list[bytes]]:
    """Replay of each partition of the events topic, with `created` put in the registry just
    before the partition's first command: the invocations and evaluation records."""
    invocations, evaluations = io.BytesIO(), io.BytesIO()
    by_partition: dict[int, list[Record]] = defaultdict(list)
    for record in records:
        by_partition[record.partition].append(record)
    for partition, in_partition in sorted(by_partition.items()):
        origins = [
            Origin(r.topic, r.offset, r.value, partition, r.key)
            for r in sorted(in_partition, key=lambda r: r.offset)
        ]
        first = next(n for n, o in enumerate(origins) if (o.key or b"").startswith(b"backfill/"))
        registry = example_registry([])
        evaluator = Evaluator(registry, StateStore())
        sink = JsonlSink(invocations, evaluations=evaluations)
        replay(origins[:first], evaluator, sink)
        registry.put(created)
        replay(origins[first:], evaluator, sink)
    return invocations.getvalue().splitlines(), evaluations.getvalue().splitlines()


def _by_event(payloads: list[bytes]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for payload in payloads:
        doc = orjson.loads(payload)
        grouped[doc["event_id"]].append(doc)
    return grouped


def _dataset_of(doc: dict[str, Any]) -> str:
    return str(doc["data_source"]["data_source_id"])


async def test_a_backfill_fires_once_per_satisfied_dataset_across_partitions_and_instances(
    kafka_bootstrap: str,
    kafka_admin: AIOKafkaAdminClient,
    create_topics: CreateTopics,
    unique_name: Callable[[str], str],
) -> None:
    """Datasets are there before the trigger; two instances share the three partitions. The
    trigger is created and backfilled with the command line: it fires once for each dataset it is
    satisfied by, wherever its partition; a second backfill fires nothing new, a rerun fires
    again; and the output is what replay of the topic gives, dataset by dataset."""
    dep = await deployment(kafka_bootstrap, create_topics, unique_name)
    lines: list[bytes] = []
    satisfied: list[str] = []
    unsatisfied: list[str] = []  # a bag, but not prod
    for number in range(24):
        dataset, prod, bag = f"ds_c{number:02d}", number % 3 != 0, number % 4 != 0
        files = [("fl_notes", "notes.txt"), *([("fl_bag", "run/log.bag")] if bag else [])]
        lines += _dataset(dataset, prod=prod, files=files)
        if bag:
            (satisfied if prod else unsatisfied).append(dataset)
    await produce_events(kafka_bootstrap, dep.events, lines)

    settings = dep.settings(batch_max_records=10)
    members = (TriggerService(settings), TriggerService(settings))
    try:
        for member in members:
            await member.start()
        await wait_for(
            lambda: (
                sorted(p for m in members for p in m.partitions) == [0, 1, 2]
                and all(m.partitions for m in members)
            ),
            "two members to share the partitions",
        )
        await _all_processed(kafka_admin, dep)
        definition = ["--action", "bag-to-mcap", "--required-inputs", "**/*.bag"]
        definition += ["--required-tag", "prod", "--actions", str(EXAMPLE_ACTIONS)]
        await _cli("create", "--name", NEW_TRIGGER, *definition, *_registry(dep))
        await wait_for(
            lambda: all(m.registry.get(ORG, NEW_TRIGGER) for m in members),
            "both members to load the new trigger",
        )
        for request, rerun in (("r1", []), ("r2", []), ("r3", ["--rerun"])):
            await _cli("backfill", NEW_TRIGGER, "--request-id", request, *rerun, *_commands(dep))
        records = await _all_processed(kafka_admin, dep)
    finally:
        for member in members:
            await member.stop()
    created = members[0].registry.get(ORG, NEW_TRIGGER)
    assert created is not None

    commands = [r for r in records if r.key is not None and r.key.startswith(b"backfill/")]
    assert sorted((r.key, r.partition) for r in commands) == sorted(
        (f"backfill/{ORG}/{NEW_TRIGGER}/{request}".encode(), partition)
        for request in ("r1", "r2", "r3")
        for partition in (0, 1, 2)
    )
    invocation_records = await read_all(kafka_bootstrap, dep.invocations)
    invocations = values(invocation_records)
    fired = _by_event(invocations)
    first, second = (f"backfill/{ORG}/{NEW_TRIGGER}/{request}" for request in ("r1", "r2"))
    rerun = f"rerun/{ORG}/{NEW_TRIGGER}/r3"
    assert sorted(fired) == sorted([first, rerun])
    assert sorted(_dataset_of(i) for i in fired[first]) == satisfied
    assert sorted(_dataset_of(i) for i in fired[rerun]) == satisfied
    first_ids, rerun_ids = ({i["invocation_id"] for i in fired[e]} for e in (first, rerun))
    assert not first_ids & rerun_ids
    assert {r.partition for r in invocation_records} == {0, 1, 2}

    evaluations = values(await read_all(kafka_bootstrap, dep.evaluations))
    skipped = sorted((e["dataset_id"], e["reason"]) for e in _by_event(evaluations)[second])
    assert skipped == sorted(
        [(d, "already_run") for d in satisfied] + [(d, "condition_not_met") for d in unsatisfied]
    )
    want_invocations, want_evaluations = _replayed_with(records, created.spec)
    assert by_dataset(invocations) == by_dataset(want_invocations)
    assert by_dataset(evaluations) == by_dataset(want_evaluations)


async def test_invokes_are_deduplicated_by_idempotency_id_and_bad_commands_are_dead_letters(
    kafka_bootstrap: str,
    kafka_admin: AIOKafkaAdminClient,
    create_topics: CreateTopics,
    unique_name: Callable[[str], str],
) -> None:
    dep, triggers = await example_deployment(kafka_bootstrap, create_topics, unique_name)
    sky = {"dataset_id": "ds_sky", "org_id": "og_skyops", "tags": [], "metadata": {}}
    other_org = {
        "specversion": "1.0",
        "id": "sky-0",
        "type": "dataset.created",
        "orgid": "og_skyops",
        "datasetid": "ds_sky",
        "data": {"dataset": sky},
    }
    data = [*dataset_events("ds_i0"), *dataset_events("ds_i1"), orjson.dumps(other_org)]
    await produce_events(kafka_bootstrap, dep.events, data)

    def invoke(dataset: str, name: str, key: str, file_id: str | None = None) -> dict[str, Any]:
        return invoke_requested(ORG, dataset, name, key, file_id=file_id, time=TIME).event

    no_key = invoke("ds_i0", "run-summary", "k")
    del no_key["data"]["trigger"]["idempotency_id"]
    no_request = backfill_requested(ORG, "run-summary", "r", rerun=False, time=TIME)
    del no_request.event["data"]["trigger"]["request_id"]
    bad = {  # a dead letter, and the field and the reason its header names
        orjson.dumps(invoke("ds_i0", "nope", "k")): ("data.trigger.name", "no trigger 'nope'"),
        orjson.dumps(invoke("ds_sky", "run-summary", "k")): ("datasetid", "org 'og_skyops'"),
        orjson.dumps(invoke("ds_zz", "run-summary", "k")): ("datasetid", "is not in state"),
        orjson.dumps(invoke("ds_i0", "run-summary", "k", "fl_1")): ("data.file_id", "not allowed"),
        orjson.dumps(invoke("ds_i1", "front-cam-detect", "k")): ("data.file_id", "required"),
        orjson.dumps(no_key): ("data.trigger.idempotency_id", "is missing"),
    }
    async with TriggerService(dep.settings()):
        summary = ("run-summary", "--dataset", "ds_i0")
        for key in ("k1", "k1", "k2"):
            await _cli("invoke", *summary, "--idempotency-id", key, *_commands(dep))
        frame = ("front-cam-detect", "--dataset", "ds_i1", "--file", "fl_2")
        await _cli("invoke", *frame, "--idempotency-id", "k1", *_commands(dep))
        await produce_events(kafka_bootstrap, dep.events, list(bad))
        await produce_events(
            kafka_bootstrap, dep.events, [no_request.line().encode()], key=no_request.key.encode()
        )
        bad[no_request.line().encode()] = ("data.trigger.request_id", "is missing")
        records = await _all_processed(kafka_admin, dep)

    invocations = values(await read_all(kafka_bootstrap, dep.invocations))
    manual = [orjson.loads(i) for i in invocations if orjson.loads(i)["cause"] == "manual"]
    assert sorted((i["trigger"]["name"], _dataset_of(i)) for i in manual) == [
        ("front-cam-detect", "ds_i1"),
        ("run-summary", "ds_i0"),
        ("run-summary", "ds_i0"),
    ]
    assert len({i["invocation_id"] for i in manual}) == 3
    assert {i["invocation_source"] for i in manual} == {"Manual"}

    dead = await read_all(kafka_bootstrap, dep.dlq)
    assert sorted(values(dead)) == sorted(bad)
    for record in dead:
        field, reason = bad[record.value]
        why = dict(record.headers)["dlq.reason"].decode()
        assert f"field '{field}'" in why and reason in why, why
    produced = [Produced(r.partition, r.offset, r.value) for r in records]
    want = expected(produced, triggers)
    assert Counter(invocations) == Counter(want.invocations)
    assert Counter(values(await read_all(kafka_bootstrap, dep.evaluations))) == Counter(
        want.evaluations
    )


async def test_kill_9_during_a_backfill_gives_each_invocation_exactly_once(
    kafka_bootstrap: str,
    kafka_admin: AIOKafkaAdminClient,
    create_topics: CreateTopics,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    """A backfill and a rerun of a per-file trigger over a hundred datasets, each partition's in
    one transaction, the engine killed as soon as some partition has committed a command (when
    the others are usually in the middle of theirs): each invocation is written exactly once, as
    replay of the topic gives it."""
    dep = await deployment(kafka_bootstrap, create_topics, unique_name)
    # It listens only to file metadata updates, which never come: only the commands fire it.
    trigger = Trigger(
        org_id=ORG,
        name=NEW_TRIGGER,
        action=ActionReference(name="bag-to-mcap"),
        required_inputs=["**/*.bag"],
        for_each=ForEach.DATASET_FILE,
        required_tag=["prod"],
        causes=[Cause.FILE_METADATA_UPDATE],
    )
    await publish_triggers(kafka_bootstrap, dep.triggers, [trigger])
    lines: list[bytes] = []
    bags = [("fl_a", "run/a.bag"), ("fl_b", "run/b/b.bag")]
    prod = [number % 5 != 0 for number in range(120)]
    for number, tagged in enumerate(prod):
        lines += _dataset(f"ds_k{number:03d}", prod=tagged, files=bags)
    produced = await produce_events(kafka_bootstrap, dep.events, lines)
    log = tmp_path / "engine.log"
    engine = await Engine.start(dep, log)
    await wait_committed(kafka_admin, dep.group, dep.events, ends_of(produced))
    engine.process.terminate()
    assert await engine.exit_code(SHUTDOWN_TIMEOUT_S + 5) == 0, engine.tail()

    # The commands wait for the next engine, which starts on all three partitions' backfills.
    await _cli("backfill", NEW_TRIGGER, "--request-id", "r1", *_commands(dep))
    await _cli("backfill", NEW_TRIGGER, "--request-id", "r2", "--rerun", *_commands(dep))
    engine = await Engine.start(dep, log)

    async def into_the_commands() -> bool:
        return sum((await committed(kafka_admin, dep.group, dep.events)).values()) > len(produced)

    await wait_for(into_the_commands, "a partition to commit its first command")
    await engine.kill()
    engine = await Engine.start(dep, log)
    records = await _all_processed(kafka_admin, dep)
    engine.process.terminate()
    assert await engine.exit_code(SHUTDOWN_TIMEOUT_S + 5) == 0, engine.tail()

    invocations = values(await read_all(kafka_bootstrap, dep.invocations))
    want = expected([Produced(r.partition, r.offset, r.value) for r in records], [trigger])
    assert Counter(invocations) == Counter(want.invocations), engine.tail()
    assert len(invocations) == 2 * len(bags) * sum(prod)  # each command, each bag of prod
    assert len({orjson.loads(i)["invocation_id"] for i in invocations}) == len(invocations)
    evaluations = values(await read_all(kafka_bootstrap, dep.evaluations))
    assert Counter(evaluations) == Counter(want.evaluations)
