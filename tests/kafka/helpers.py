"""Shared pieces of the service tests: topics, event logs, what replay expects, reading outputs.

Waits poll a condition with a short pause between looks and give up after `WAIT_S`; none of them
waits for a fixed time.
"""

from __future__ import annotations

import asyncio
import inspect
import io
import random
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client.parser import text_string_to_metric_families

from benchmarks.kafka_bench import group_offsets
from engine.actions import ActionCatalog, load_actions
from engine.evaluator import Evaluator
from engine.models import Trigger
from engine.registry import TriggerRegistry
from engine.replay import replay
from engine.service.changelog import PartitionState, restore
from engine.service.changelog_reader import ChangelogReader
from engine.service.registry_topic import publish_trigger
from engine.service.settings import KafkaSettings, ServiceSettings
from engine.sinks import JsonlSink, Origin
from engine.state import StateStore
from engine.trigger_files import load_triggers, trigger_to_dict
from tests.kafka.conftest import CreateTopics

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
EXAMPLE_EVENTS = EXAMPLES / "events.jsonl"
EXAMPLE_ACTIONS = EXAMPLES / "actions"
EXAMPLE_TRIGGERS = EXAMPLES / "triggers.yaml"
WAIT_S = 60.0
POLL_S = 0.05
PARTITIONS = 3
Record = ConsumerRecord[bytes, bytes]


@dataclass(frozen=True, slots=True)
class Deployment:
    """The topics, group and transactional-id prefix of one engine deployment under test."""

    bootstrap: str
    events: str
    state: str
    invocations: str
    evaluations: str
    dlq: str
    triggers: str
    actions: str
    group: str
    prefix: str

    def settings(self, **overrides: Any) -> ServiceSettings:
        values: dict[str, Any] = {
            "kafka": KafkaSettings(bootstrap_servers=self.bootstrap),
            "group_id": self.group,
            "events_topic": self.events,
            "state_topic": self.state,
            "invocations_topic": self.invocations,
            "evaluations_topic": self.evaluations,
            "dlq_topic": self.dlq,
            "triggers_topic": self.triggers,
            "actions_topic": self.actions,
            "actions": EXAMPLE_ACTIONS,
            "transactional_id_prefix": self.prefix,
            "http_host": "127.0.0.1",
            "http_port": 0,
            "batch_timeout_ms": 20,
            "shutdown_timeout": 20,
        }
        return ServiceSettings(**{**values, **overrides})

    def flags(self) -> list[str]:
        """`trigger-engine run` flags for the same deployment."""
        return [
            f"--bootstrap-servers={self.bootstrap}",
            f"--group-id={self.group}",
            f"--events-topic={self.events}",
            f"--state-topic={self.state}",
            f"--invocations-topic={self.invocations}",
            f"--evaluations-topic={self.evaluations}",
            f"--dlq-topic={self.dlq}",
            f"--triggers-topic={self.triggers}",
            f"--actions={EXAMPLE_ACTIONS}",
            f"--transactional-id-prefix={self.prefix}",
            "--http-host=127.0.0.1",
            "--http-port=0",
            "--batch-timeout-ms=20",
        ]


def unique_deployment(bootstrap: str, unique_name: Callable[[str], str]) -> Deployment:
    """A deployment on `bootstrap` whose topics, group and transactional ids are named afresh;
    its topics are not created."""
    names = {
        part: unique_name(part)
        for part in ("events", "state", "invocations", "evaluations", "dlq", "triggers", "actions")
    }
    return Deployment(bootstrap, **names, group=unique_name("group"), prefix=unique_name("txn"))


async def deployment(
    bootstrap: str, create_topics: CreateTopics, unique_name: Callable[[str], str]
) -> Deployment:
    """Fresh topics: the input, its changelog and the outputs with `PARTITIONS` partitions."""
    dep = unique_deployment(bootstrap, unique_name)
    await create_topics(
        {t: PARTITIONS for t in (dep.events, dep.invocations, dep.evaluations, dep.dlq)}
    )
    await create_topics({dep.state: PARTITIONS, dep.triggers: 1, dep.actions: 1}, compacted=True)
    return dep


def example_triggers() -> list[Trigger]:
    return load_triggers(EXAMPLE_TRIGGERS)


async def example_deployment(
    bootstrap: str, create_topics: CreateTopics, unique_name: Callable[[str], str]
) -> tuple[Deployment, list[Trigger]]:
    """A fresh `deployment` whose registry topic holds the example triggers."""
    dep = await deployment(bootstrap, create_topics, unique_name)
    triggers = example_triggers()
    await publish_triggers(bootstrap, dep.triggers, triggers)
    return dep, triggers


async def publish_triggers(bootstrap: str, topic: str, triggers: Iterable[Trigger]) -> None:
    async with AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all") as producer:
        for trigger in triggers:
            await publish_trigger(producer, topic, trigger.key, trigger_to_dict(trigger))


def example_lines() -> list[bytes]:
    """The example events, each as a producer would send it (surrounding blanks removed)."""
    return [line.strip() for line in EXAMPLE_EVENTS.read_bytes().splitlines() if line.strip()]


def dataset_key(line: bytes) -> bytes | None:
    """The Kafka key of an event: its `datasetid` (None when the line has none)."""
    try:
        event = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    dataset = event.get("datasetid") if isinstance(event, dict) else None
    return dataset.encode() if isinstance(dataset, str) else None


@dataclass(frozen=True, slots=True)
class Produced:
    """Where each event went: its partition and offset."""

    partition: int
    offset: int
    line: bytes


async def produce_events(
    bootstrap: str,
    topic: str,
    lines: Iterable[bytes],
    *,
    key: bytes | None = None,
    max_request_size: int = 1 << 20,
) -> list[Produced]:
    """Events keyed by dataset id (unparseable ones unkeyed), or all by `key`, in order,
    acknowledged."""
    async with AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", max_request_size=max_request_size
    ) as producer:
        sent = [await producer.send(topic, line, key or dataset_key(line)) for line in lines]
        delivered = await asyncio.gather(*sent)
    return [
        Produced(meta.partition, meta.offset, line)
        for meta, line in zip(delivered, lines, strict=True)
    ]


def example_registry(triggers: Iterable[Trigger]) -> TriggerRegistry:
    """A fresh registry of `triggers` over the example actions."""
    registry = TriggerRegistry(ActionCatalog(load_actions(EXAMPLE_ACTIONS)))
    for trigger in triggers:
        registry.put(trigger)
    return registry


@dataclass(frozen=True, slots=True)
class Expected:
    invocations: list[bytes]
    evaluations: list[bytes]
    rejected: list[bytes]
    states: dict[int, StateStore]  # each partition's state after its events


def expected(produced: Iterable[Produced], triggers: Iterable[Trigger]) -> Expected:
    """What file replay gives for the same events, partition by partition (a partition's
    datasets are its own, so this is what the service must produce)."""
    by_partition: dict[int, list[Produced]] = defaultdict(list)
    for event in produced:
        by_partition[event.partition].append(event)
    invocations, evaluations, rejects = io.BytesIO(), io.BytesIO(), io.BytesIO()
    triggers = list(triggers)
    states: dict[int, StateStore] = {}
    for partition in sorted(by_partition):
        registry = example_registry(triggers)
        events = [
            Origin(str(partition), e.offset, e.line)
            for e in sorted(by_partition[partition], key=lambda e: e.offset)
        ]
        states[partition] = StateStore()
        replay(
            events,
            Evaluator(registry, states[partition]),
            JsonlSink(invocations, evaluations=evaluations, rejects=rejects),
        )
    return Expected(
        invocations.getvalue().splitlines(),
        evaluations.getvalue().splitlines(),
        [orjson.loads(r)["event"].encode() for r in rejects.getvalue().splitlines()],
        states,
    )


async def read_all(bootstrap: str, topic: str) -> list[Record]:
    """Every committed record of `topic`, once no transaction on it is open any more (the
    writers have stopped): its last stable offsets have caught up with its end offsets."""
    partitions = await _partitions(bootstrap, topic)
    async with groupless_consumer(bootstrap, "read_uncommitted") as uncommitted:
        ends = await uncommitted.end_offsets(partitions)
    async with groupless_consumer(bootstrap, "read_committed") as consumer:

        async def settled() -> bool:
            return await consumer.end_offsets(partitions) == ends

        await wait_for(settled, f"the transactions on {topic} to be decided")
        return await read_until(consumer, partitions, lambda _: False, ends)


async def read_committed_until(
    bootstrap: str, topic: str, done: Callable[[list[Record]], bool]
) -> list[Record]:
    """Committed records of `topic` from the beginning until `done` holds for them."""
    partitions = await _partitions(bootstrap, topic)
    async with groupless_consumer(bootstrap, "read_committed") as consumer:
        return await read_until(consumer, partitions, done, None)


async def read_until(
    consumer: AIOKafkaConsumer,
    partitions: list[TopicPartition],
    done: Callable[[list[Record]], bool],
    ends: Mapping[TopicPartition, int] | None,
) -> list[Record]:
    """From the beginning until `done(records)`, or until `ends` when given."""
    consumer.assign(partitions)
    await consumer.seek_to_beginning(*partitions)
    records: list[Record] = []

    async def finished() -> bool:
        if ends is None:
            return done(records)
        return not [tp for tp in partitions if await consumer.position(tp) < ends[tp]]

    async with asyncio.timeout(WAIT_S):
        while not await finished():
            batches = await consumer.getmany(timeout_ms=200)
            for tp, batch in batches.items():
                records.extend(r for r in batch if ends is None or r.offset < ends[tp])
    return records


def groupless_consumer(bootstrap: str, isolation_level: str) -> AIOKafkaConsumer:
    """A consumer of no group, for reading assigned partitions; `async with` starts and stops it."""
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        isolation_level=isolation_level,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )


async def wait_last_stable(changelog: ChangelogReader, ends: Mapping[int, int]) -> None:
    """Until the changelog's last stable offsets are `ends`: a transaction's commit returns before
    the broker has written its commit marker, and the offsets move past it only then."""

    async def reached() -> bool:
        return await changelog.ends(ends) == ends

    await wait_for(reached, f"the last stable offsets of {changelog.topic} to reach {ends}")


async def restored_states(bootstrap: str, topic: str) -> dict[int, PartitionState]:
    """Each partition's state as the service restores it on assignment, from the changelog
    `topic` (its writers have stopped)."""
    partitions = [tp.partition for tp in await _partitions(bootstrap, topic)]
    options = {"bootstrap_servers": bootstrap}
    async with ChangelogReader(options, topic, len(partitions)) as changelog:
        return await restore(changelog, partitions, {})


async def _partitions(bootstrap: str, topic: str) -> list[TopicPartition]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return [TopicPartition(topic, p["partition"]) for p in described["partitions"]]


async def committed(admin: AIOKafkaAdminClient, group: str, topic: str) -> dict[int, int]:
    """The group's committed offsets of `topic` (none yet on a blank broker: `group_offsets`)."""
    offsets = await group_offsets(admin, group)
    return {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic}


def ends_of(produced: Iterable[Produced]) -> dict[int, int]:
    """The offset after the last produced event of each partition."""
    ends: dict[int, int] = {}
    for event in produced:
        ends[event.partition] = max(ends.get(event.partition, 0), event.offset + 1)
    return ends


Labels = tuple[tuple[str, str], ...]


def exposition_samples(text: str) -> dict[str, dict[Labels, float]]:
    """The samples of a Prometheus text exposition, as the client library parses them: by sample
    name, then by their labels (sorted pairs; `()` for none)."""
    samples: dict[str, dict[Labels, float]] = defaultdict(dict)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[sample.name][tuple(sorted(sample.labels.items()))] = sample.value
    return dict(samples)


async def wait_for(check: Callable[[], bool | Awaitable[bool]], what: str) -> None:
    async def holds() -> bool:
        result = check()
        return await result if inspect.isawaitable(result) else result

    try:
        async with asyncio.timeout(WAIT_S):
            while not await holds():
                await asyncio.sleep(POLL_S)
    except TimeoutError:
        raise AssertionError(f"waited {WAIT_S:g} s for {what}") from None


async def wait_committed(
    admin: AIOKafkaAdminClient, group: str, topic: str, ends: Mapping[int, int]
) -> None:
    """Until the group's committed offsets reach `ends` on every partition."""

    async def reached() -> bool:
        done = await committed(admin, group, topic)
        return all(done.get(p, 0) >= end for p, end in ends.items())

    await wait_for(reached, f"group {group} to commit {dict(ends)}")


def values(records: Iterable[Record]) -> list[bytes]:
    return [r.value for r in records if r.value is not None]


def by_dataset(payloads: Iterable[bytes]) -> dict[str, list[bytes]]:
    """Invocation requests or evaluation records per dataset, in order."""
    grouped: dict[str, list[bytes]] = defaultdict(list)
    for payload in payloads:
        doc = orjson.loads(payload)
        dataset = doc["dataset_id"] if "dataset_id" in doc else doc["data_source"]["data_source_id"]
        grouped[dataset].append(payload)
    return dict(grouped)


def workload(datasets: int = 20, seed: int = 7) -> list[bytes]:
    """A few hundred events over `datasets` datasets of org og_acme that fire the example
    triggers, then re-evaluate them (metadata updates, re-uploads) so that forgotten fired keys
    would show as duplicates. Each dataset's events keep their order; datasets interleave."""
    return interleaved([dataset_events(f"ds_w{i:02d}") for i in range(datasets)], seed)


def interleaved(streams: Iterable[list[bytes]], seed: int) -> list[bytes]:
    """One log of the events of `streams`: each stream keeps its order, the streams interleave at
    random (the same seed, the same log)."""
    rng = random.Random(seed)
    pending = [list(stream) for stream in streams if stream]
    lines: list[bytes] = []
    while pending:
        stream = rng.choice(pending)
        lines.append(stream.pop(0))
        if not stream:
            pending.remove(stream)
    return lines


# A fast run of robot r2d2: with the tag prod, what run-summary's condition asks of a dataset.
RUN_METADATA: dict[str, Any] = {"robot": "r2d2", "speed": 3}
GPU_METADATA: dict[str, Any] = {**RUN_METADATA, "needs_gpu": True}  # and run-summary-gpu's


def dataset_events(dataset: str) -> list[bytes]:
    """The life of one dataset: created, camera frames, a bag, an MCAP, metadata updates."""
    meta = RUN_METADATA
    events: list[dict[str, Any]] = [
        cloud_event(dataset, "dataset.created", dataset=(["prod"], meta))
    ]
    for frame in range(1, 7):
        path = f"run/cam_front/{frame:04d}.jpg"
        events.append(cloud_event(dataset, "file.uploaded", file=(f"fl_{frame}", path)))
    events.append(cloud_event(dataset, "file.uploaded", file=("fl_bag", "run/log.bag")))
    events.append(cloud_event(dataset, "file.uploaded", file=("fl_mcap", "log.mcap")))
    events.append(cloud_event(dataset, "file.ingested", file=("fl_mcap", None)))
    gpu = GPU_METADATA
    events.append(cloud_event(dataset, "dataset.metadata_updated", dataset=(["prod"], gpu)))
    events.append(cloud_event(dataset, "file.uploaded", file=("fl_1", "run/cam_front/0001.jpg")))
    events.append(cloud_event(dataset, "dataset.metadata_updated", dataset=(["prod", "x"], gpu)))
    events.append(cloud_event(dataset, "file.ingested", file=("fl_mcap", None)))
    events.append(cloud_event(dataset, "file.uploaded", file=("fl_7", "run/cam_front/0007.jpg")))
    return numbered(dataset, events)


@dataclass(frozen=True, slots=True)
class Upload:
    """One dataset's upload as a client makes it: the events while its transactions are open,
    then (`after`) their completions and a file without a transaction. The dataset triggers wait
    for the completion that closes the last transaction and fire there, once, with the whole
    upload."""

    dataset: str
    during: list[bytes]
    after: list[bytes]
    completed_by: str  # the id of the completion that closes the last transaction
    frames_and_bags: list[str]  # the paths run-summary's inputs select then, sorted
    bags: list[str]  # the paths run-summary-gpu's inputs select then, sorted


def upload(dataset: str, *, overlapping: bool, snapshot: bool) -> Upload:
    """Transaction `a` brings camera frames, a bag and an MCAP, ingested meanwhile (mcap-index is
    per file: never deferred); with `overlapping`, transaction `b` opens before `a` completes and
    brings a frame and a bag of its own. Meanwhile the dataset comes to need a GPU (a cause the
    dataset triggers remember) and a file comes without a transaction. `a` completes first and
    without a snapshot; the last completion carries one when `snapshot` is set."""
    transactions = [f"{dataset}-a", f"{dataset}-b"] if overlapping else [f"{dataset}-a"]
    first, last = transactions[0], transactions[-1]
    files_in: Counter[str] = Counter()

    def put(file_id: str, path: str, transaction: str | None) -> dict[str, Any]:
        if transaction is not None:
            files_in[transaction] += 1
        return cloud_event(dataset, "file.uploaded", file=(file_id, path), transaction=transaction)

    frames = [f"run/cam_front/{n:04d}.jpg" for n in range(1, 5 if overlapping else 4)]
    bags = ["run/a.bag", "run/b.bag"] if overlapping else ["run/a.bag"]
    events = [cloud_event(dataset, "dataset.created", dataset=(["prod"], RUN_METADATA))]
    events += [put(f"fl_{n}", path, first) for n, path in enumerate(frames[:3], 1)]
    if overlapping:
        events += [put("fl_4", frames[3], last), put("fl_a", bags[0], first)]
        events.append(put("fl_b", bags[1], last))
    else:
        events.append(put("fl_a", bags[0], first))
    events += [
        put("fl_mcap", "log.mcap", first),
        cloud_event(dataset, "file.ingested", file=("fl_mcap", None), transaction=first),
        cloud_event(dataset, "dataset.metadata_updated", dataset=(["prod"], GPU_METADATA)),
        put("fl_notes", "notes.txt", None),
    ]
    open_until = len(events)
    for transaction in transactions:
        record = (["prod"], {**GPU_METADATA, "site": "lab"}) if snapshot else None
        events.append(
            cloud_event(
                dataset,
                "dataset.upload_completed",
                dataset=record if transaction == last else None,
                transaction=transaction,
                file_count=files_in[transaction],
            )
        )
    completion = events[-1]
    events.append(put("fl_9", "run/cam_front/0009.jpg", None))
    lines = numbered(dataset, events)
    return Upload(
        dataset,
        lines[:open_until],
        lines[open_until:],
        completion["id"],
        sorted(frames + bags),
        bags,
    )


def upload_stream() -> list[bytes]:
    """Uploads of several datasets (overlapping transactions, completions with and without
    snapshots) and the cases around them, interleaved: an upload left open at the end, a dataset
    deleted during its upload, a closed transaction named again, completions of an unknown
    transaction and of none (bad input), and a snapshot on a file no dataset trigger selects that
    completes one, with and without an upload."""
    uploads = [upload(f"ds_u{i}", overlapping=i % 2 == 0, snapshot=i % 3 == 0) for i in range(6)]
    streams = [u.during + u.after for u in uploads]
    streams += [
        _left_open("ds_open"),
        _deleted_during_upload("ds_gone"),
        _named_again("ds_again"),
        _completed_by_a_snapshot("ds_snap", None),
        _completed_by_a_snapshot("ds_snap_up", "snap-1"),
    ]
    return interleaved(streams, seed=5)


def _left_open(dataset: str) -> list[bytes]:
    """Two transactions; the first completes (with a snapshot), the second never does."""
    return numbered(
        dataset,
        [
            cloud_event(dataset, "dataset.created", dataset=(["prod"], RUN_METADATA)),
            cloud_event(
                dataset, "file.uploaded", file=("fl_1", "a/cam_front/1.jpg"), transaction="o1"
            ),
            cloud_event(dataset, "file.uploaded", file=("fl_a", "a/1.bag"), transaction="o2"),
            cloud_event(
                dataset,
                "dataset.upload_completed",
                dataset=(["prod"], GPU_METADATA),
                transaction="o1",
            ),
            cloud_event(dataset, "file.uploaded", file=("fl_2", "a/cam_front/2.jpg")),
            cloud_event(dataset, "dataset.metadata_updated", dataset=(["prod", "x"], GPU_METADATA)),
        ],
    )


def _deleted_during_upload(dataset: str) -> list[bytes]:
    """The deletion discards the upload: its completion comes too late to evaluate anything, and
    the files uploaded afterwards, without a transaction, fire at once."""
    return numbered(
        dataset,
        [
            cloud_event(dataset, "dataset.created", dataset=(["prod"], RUN_METADATA)),
            cloud_event(
                dataset, "file.uploaded", file=("fl_1", "a/cam_front/1.jpg"), transaction="g1"
            ),
            cloud_event(dataset, "file.uploaded", file=("fl_a", "a/1.bag"), transaction="g1"),
            cloud_event(dataset, "dataset.deleted"),
            cloud_event(
                dataset,
                "dataset.upload_completed",
                dataset=(["prod"], RUN_METADATA),
                transaction="g1",
            ),
            cloud_event(dataset, "file.uploaded", file=("fl_2", "a/cam_front/2.jpg")),
            cloud_event(dataset, "file.uploaded", file=("fl_b", "a/2.bag")),
        ],
    )


def _named_again(dataset: str) -> list[bytes]:
    """A transaction completes before the run is whole; a file naming it afterwards behaves as one
    without a transaction. Completions of an unknown transaction and of none come between."""
    return numbered(
        dataset,
        [
            cloud_event(dataset, "dataset.created", dataset=(["prod"], RUN_METADATA)),
            cloud_event(
                dataset, "file.uploaded", file=("fl_1", "a/cam_front/1.jpg"), transaction="n1"
            ),
            cloud_event(dataset, "dataset.upload_completed", transaction="n1", file_count=1),
            cloud_event(dataset, "dataset.upload_completed", transaction="n-unknown"),
            cloud_event(dataset, "dataset.upload_completed"),  # no transactionid: bad input
            cloud_event(dataset, "file.uploaded", file=("fl_a", "a/1.bag"), transaction="n1"),
        ],
    )


def _completed_by_a_snapshot(dataset: str, transaction: str | None) -> list[bytes]:
    """The run is whole but its robot does not qualify, until a snapshot on a text file says it
    does: the dataset trigger fires there, or at the completion when it is part of an upload."""
    events = [
        cloud_event(
            dataset, "dataset.created", dataset=(["prod"], {**RUN_METADATA, "robot": "c3po"})
        ),
        cloud_event(
            dataset, "file.uploaded", file=("fl_1", "a/cam_front/1.jpg"), transaction=transaction
        ),
        cloud_event(dataset, "file.uploaded", file=("fl_a", "a/1.bag"), transaction=transaction),
        cloud_event(
            dataset,
            "file.uploaded",
            file=("fl_notes", "notes.txt"),
            dataset=(["prod"], RUN_METADATA),
            transaction=transaction,
        ),
    ]
    if transaction is not None:
        events.append(cloud_event(dataset, "dataset.upload_completed", transaction=transaction))
    return numbered(dataset, events)


def numbered(dataset: str, events: list[dict[str, Any]]) -> list[bytes]:
    """The events as lines, their ids numbered in order within the dataset."""
    for number, event in enumerate(events):
        event["id"] = f"{dataset}-{number:02d}"
    return [orjson.dumps(event) for event in events]


def cloud_event(
    dataset_id: str,
    kind: str,
    *,
    dataset: tuple[list[str], dict[str, Any]] | None = None,
    file: tuple[str, str | None] | None = None,
    transaction: str | None = None,
    file_count: int | None = None,
) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if dataset is not None:
        tags, metadata = dataset
        data["dataset"] = {"dataset_id": dataset_id, "tags": tags, "metadata": metadata}
    if file is not None:
        file_id, path = file
        data["file"] = {"file_id": file_id, **({"relative_path": path} if path else {})}
    if file_count is not None:
        data["upload"] = {"file_count": file_count}
    event = {
        "specversion": "1.0",
        "type": kind,
        "source": "/orgs/og_acme",
        "time": "2026-11-20T10:00:00Z",
        "orgid": "og_acme",
        "datasetid": dataset_id,
        "data": data,
    }
    if transaction is not None:
        event["transactionid"] = transaction
    return event


async def http_request(port: int, path: str, method: str = "GET") -> tuple[int, str]:
    """One request to the service's HTTP server on loopback: the status and the body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"{method} {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
    await writer.drain()
    response = await reader.read()
    writer.close()
    head, _, body = response.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode()


# Timestamps of records produced for time-range tests: a fixed moment, one second apart. Topics
# that hold them must be created `timeless` (see `CreateTopics`).
STAMPED_FROM_MS = 1_790_000_000_000


def stamp_iso(millis: int) -> str:
    """A record timestamp as the ISO 8601 moment `--since`/`--until` take."""
    return datetime.fromtimestamp(millis / 1000, UTC).isoformat()


async def produce_stamped(
    bootstrap: str, topic: str, records: list[tuple[bytes, bytes | None]]
) -> list[tuple[int, int]]:
    """Record n gets timestamp STAMPED_FROM_MS + n seconds; where each went (partition, offset)."""
    placed = []
    async with AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all") as producer:
        for number, (value, key) in enumerate(records):
            sent = await producer.send_and_wait(
                topic, value, key, timestamp_ms=STAMPED_FROM_MS + number * 1000
            )
            placed.append((sent.partition, sent.offset))
    return placed
