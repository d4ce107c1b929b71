"""State on disk: what the state of millions of files costs in memory, on disk and in time.

`python -m benchmarks --state` runs four parts (docs/performance.md, "State on disk"):

1. **Memory and disk per file.** For each store (the in-memory `StateStore`; a `DiskStateStore`
   per cache size), a fresh process feeds N upload events (`workload.many_uploads`, made on the
   fly) through `Evaluator.process` with the uploads' one per-file trigger, which fires for every
   file, committing a disk store every `COMMIT_EVENTS` events as the service does per
   transaction. It reports peak and final RSS, RSS per file, the bytes the store leaves on disk
   and events/s. At the smallest N each store runs `repetitions` times, in alternating order, for
   the hot-path ratio; larger N run once each.
2. **Replay**: a generated workload replayed in memory and as `replay --state-dir` does, in
   alternating order, medians.
3. **Restore from the changelog alone**: a changelog partition of N records, produced directly
   (the journal's records of N written files, with offset records), read into the in-memory state
   (`changelog.restore`) and into an empty disk store (`changelog.restore_stores`), each in a
   fresh process, through the broker.
4. **Restart after kill -9**: the service (`--state-dir`) on a changelog of N files, killed and
   started again, in turn with its state directory kept, emptied, and without one (its state in
   memory): from the SIGKILL to the first new invocation request, as `benchmarks.recovery`
   measures it.

    python -m benchmarks.state_bench feed --store disk:100000 --files 100000   # one part-1 step
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import itertools
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from aiokafka.admin import NewTopic

from benchmarks.hotpath import build_registry, forget_directories
from benchmarks.kafka_bench import (
    EVENT_PARTITIONS,
    Topics,
    create_registry_topics,
    create_topics,
    delete_topics,
    free_port,
    http_get,
    produce_triggers,
    prometheus_samples,
    resolve_bootstrap,
    service_command,
    stop_service,
    wait_ready,
)
from benchmarks.recovery import Outputs, produce_steadily, start_process
from benchmarks.replay_bench import write_events
from benchmarks.workload import (
    UPLOADS_ORG,
    Workload,
    WorkloadSpec,
    generate,
    generate_uploads,
    many_uploads,
    many_uploads_datasets,
    uploads_workload,
)
from engine.collector import long_lived
from engine.evaluator import Evaluator
from engine.events import Event, event_from_dict
from engine.journal import ChangelogRecord, encode
from engine.registry import TriggerRegistry
from engine.replay import committing, read_events, replay, temporary_disk_store
from engine.service.changelog import offset_record, restore, restore_stores
from engine.service.changelog_reader import ChangelogReader
from engine.service.settings import ServiceSettings
from engine.service.topics import DEFAULT_DELETE_RETENTION_MS
from engine.sinks import JsonlSink
from engine.state import DatasetWritten, FileWritten, StateStore

COMMIT_EVENTS = 1_000  # the service commits a transaction of about this many events under load
MEMORY_STORE = "memory"
DISK_STORE = "disk"
# Feeding stops, with a clear message, when the machine's available memory falls below this.
MEMORY_FLOOR_BYTES = 1 << 30
_MEMORY_CHECK_EVENTS = 50_000


class StateBenchError(Exception):
    """A part could not run; the message says why."""


@dataclass(frozen=True, slots=True)
class StateSettings:
    files: tuple[int, ...] = (1_000_000, 10_000_000)  # part 1
    caches: tuple[int, ...] = (100_000, 1_000)  # disk stores' cached datasets, part 1
    files_per_dataset: int = 1_000
    repetitions: int = 3  # per store at the smallest size (part 1), and per side in part 2
    replay_events: int = 100_000
    replay_triggers: int = 10_000  # over one org per 100 triggers
    restore_records: tuple[int, ...] = (1_000_000,)  # files of the changelog, part 3
    restart_files: int = 1_000_000  # part 4
    kills: int = 2  # per kind of restart, part 4
    bootstrap: str | None = None
    kafka: bool = True  # parts 3 and 4
    seed: int = 7

    @property
    def cache(self) -> int:
        """The disk store's cache in parts 2 to 4: the default of `--state-cache-datasets`."""
        return self.caches[0]


# -- part 1: one store fed N files, in a process of its own -----------------------------------


# Every disk store here bounds its cache's files as the service and replay do by default.
CACHE_FILES: int = ServiceSettings.model_fields["state_cache_files"].default


def store_label(cache_datasets: int | None) -> str:
    """`memory`, or `disk:<cache datasets>`: how a feed step names its store."""
    return MEMORY_STORE if cache_datasets is None else f"{DISK_STORE}:{cache_datasets}"


def parse_store(label: str) -> int | None:
    """The cache size a store label names; None for the in-memory store."""
    if label == MEMORY_STORE:
        return None
    kind, _, cache = label.partition(":")
    if kind != DISK_STORE or not cache.isdigit() or int(cache) < 1:
        raise ValueError(f"store {label!r}: expected 'memory' or 'disk:<datasets cached>'")
    return int(cache)


def feed(
    cache_datasets: int | None, files: int, files_per_dataset: int, directory: Path
) -> dict[str, Any]:
    """Feed `files` uploads to a fresh store in this process; its memory, disk and speed."""
    from engine.disk_state import DiskStateStore  # RocksDB only when asked for

    registry, _ = build_registry(uploads_workload([]))
    path = directory / "state"
    store = (
        StateStore()
        if cache_datasets is None
        else DiskStateStore.fresh(path, cache_datasets, CACHE_FILES)
    )
    evaluator = Evaluator(registry, store, record_evaluations=False)
    rss_before = memory_status()["VmRSS"]
    process = evaluator.process
    busy = 0.0  # in the store and the evaluator: applying, deciding, committing
    fired = 0
    stopped = None
    started = time.perf_counter()
    with long_lived():
        for n, document in enumerate(many_uploads(files, files_per_dataset), 1):
            event = event_from_dict(document)
            tick = time.perf_counter()
            fired += len(process(event).invocations)
            if n % COMMIT_EVENTS == 0 and isinstance(store, DiskStateStore):
                store.commit(n, n)
            busy += time.perf_counter() - tick
            if n % _MEMORY_CHECK_EVENTS == 0 and available_memory() < MEMORY_FLOOR_BYTES:
                stopped = f"stopped after {n:,} files: less than 1 GiB of memory left available"
                files = n
                break
        tick = time.perf_counter()
        if isinstance(store, DiskStateStore):
            store.commit(files, files)
        busy += time.perf_counter() - tick
    wall = time.perf_counter() - started
    status = memory_status()
    if isinstance(store, DiskStateStore):
        store.close()
    result = {
        "store": store_label(cache_datasets),
        "files": files,
        "files_per_dataset": files_per_dataset,
        "datasets": many_uploads_datasets(files, files_per_dataset),
        "invocations": fired,
        "events_per_s": round(files / busy, 1),
        "wall_events_per_s": round(files / wall, 1),
        "rss_before_bytes": rss_before,
        "rss_final_bytes": status["VmRSS"],
        "rss_peak_bytes": status["VmHWM"],
        "rss_per_file_bytes": round((status["VmRSS"] - rss_before) / files, 1),
        "disk_bytes": tree_bytes(path),
    }
    if stopped is not None:
        result["stopped"] = stopped
    return result


def memory_status() -> dict[str, int]:
    """VmRSS and VmHWM (peak) of this process, in bytes, from /proc/self/status."""
    found = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(value.split()[0]) * 1024
    return found


def available_memory() -> int:
    """MemAvailable from /proc/meminfo, in bytes."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    raise StateBenchError("/proc/meminfo has no MemAvailable line")


def tree_bytes(path: Path) -> int:
    """The sizes of the files under `path` (0 if there is none)."""
    if not path.exists():
        return 0
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def run_feed_step(label: str, files: int, files_per_dataset: int) -> dict[str, Any]:
    """`feed` in a fresh interpreter, so that the RSS it reports is the store's own."""
    with tempfile.TemporaryDirectory(prefix="trigger-engine-state-bench-") as tmp:
        command = [
            sys.executable, "-m", "benchmarks.state_bench", "feed",
            "--store", label,
            "--files", str(files),
            "--files-per-dataset", str(files_per_dataset),
            "--directory", tmp,
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, check=False)
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace")[-2000:]
        raise StateBenchError(f"feed step {label} at {files:,} files failed:\n{tail}")
    result: dict[str, Any] = orjson.loads(done.stdout)
    return result


def run_state(settings: StateSettings) -> dict[str, Any]:
    """Every part's results, as a JSON-ready dict."""
    result: dict[str, Any] = {
        "files_per_dataset": settings.files_per_dataset,
        "memory": run_memory(settings),
    }
    result["hot_path"], result["replay"] = run_workload_pairs(settings)
    if not settings.kafka:
        result["restore"] = result["restart"] = {"status": "skipped (--no-kafka)"}
        return result
    bootstrap = resolve_bootstrap(settings.bootstrap)
    result["restore"] = [run_restore(bootstrap, n, settings) for n in settings.restore_records]
    result["restart"] = asyncio.run(run_restart(bootstrap, settings))
    return result


def run_memory(settings: StateSettings) -> list[dict[str, Any]]:
    """Part 1: every store at every size, each run in a process of its own. At the smallest size
    the stores take turns, `repetitions` rounds, the order turned around every round."""
    labels = [store_label(None), *(store_label(cache) for cache in settings.caches)]
    runs: list[dict[str, Any]] = []
    for size_rank, files in enumerate(settings.files):
        rounds = settings.repetitions if size_rank == 0 else 1
        for round_number in range(rounds):
            order = labels if round_number % 2 == 0 else labels[::-1]
            for label in order:
                say(f"state: {label} fed {files:,} files (round {round_number + 1}/{rounds})")
                runs.append(_guarded_feed(label, files, settings, runs))
    return summarise_memory(runs)


def _guarded_feed(
    label: str, files: int, settings: StateSettings, done: list[dict[str, Any]]
) -> dict[str, Any]:
    """A feed step, unless the memory per file of the same store at a smaller size says it would
    not fit in the memory available now."""
    smaller = [r for r in done if r["store"] == label and r["files"] < files and "error" not in r]
    if smaller:
        needed = max(r["rss_per_file_bytes"] for r in smaller) * files
        free = available_memory()
        if needed > free - MEMORY_FLOOR_BYTES:
            return {
                "store": label,
                "files": files,
                "error": f"not run: it would need about {needed / 2**30:.1f} GiB "
                f"and {free / 2**30:.1f} GiB is available",
            }
    try:
        return run_feed_step(label, files, settings.files_per_dataset)
    except StateBenchError as exc:
        return {"store": label, "files": files, "error": str(exc)}


def summarise_memory(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per store and size: the medians of its runs (events/s), their largest RSS."""
    rows = []
    keys = sorted({(r["store"], r["files"]) for r in runs}, key=lambda k: (k[1], k[0]))
    for store, files in keys:
        mine = [r for r in runs if (r["store"], r["files"]) == (store, files)]
        good = [r for r in mine if "error" not in r]
        if not good:
            rows.append(mine[0])
            continue
        row = dict(max(good, key=lambda r: r["rss_peak_bytes"]))
        row["runs"] = len(good)
        row["events_per_s_runs"] = [r["events_per_s"] for r in good]
        row["events_per_s"] = statistics.median(row["events_per_s_runs"])
        rows.append(row)
    return rows


# -- part 2: replay in memory and with --state-dir ---------------------------------------------


def run_workload_pairs(settings: StateSettings) -> tuple[dict[str, Any], dict[str, Any]]:
    """Part 2: the harness's generated workload, its hot path and its replay, each in memory and
    with a disk store, the stores in turn; the hot path's results, then replay's."""
    triggers = settings.replay_triggers
    spec = WorkloadSpec(triggers, max(1, triggers // 100), settings.replay_events, settings.seed)
    say(f"state: hot path and replay of {spec.label}, in memory and on disk, in turn")
    workload = generate(spec)
    registry, _ = build_registry(workload)
    events = [event_from_dict(raw) for raw in workload.events]
    hot: dict[str, list[float]] = {MEMORY_STORE: [], DISK_STORE: []}
    replayed: dict[str, list[float]] = {MEMORY_STORE: [], DISK_STORE: []}
    with tempfile.TemporaryDirectory(prefix="trigger-engine-state-replay-") as tmp:
        directory = Path(tmp)
        lines = directory / "events.jsonl"
        write_events(workload, lines)
        for round_number in range(settings.repetitions):
            order = [None, settings.cache]
            for cache in order if round_number % 2 == 0 else order[::-1]:
                side = MEMORY_STORE if cache is None else DISK_STORE
                hot[side].append(hot_path_seconds(registry, events, directory, cache))
                replayed[side].append(replay_seconds(registry, lines, directory, cache))
    return (
        _pair_result(spec.label, len(events), settings.cache, hot),
        _pair_result(spec.label, len(events), settings.cache, replayed),
    )


def _pair_result(
    label: str, events: int, cache: int, seconds: dict[str, list[float]]
) -> dict[str, Any]:
    memory_s, disk_s = (statistics.median(seconds[s]) for s in (MEMORY_STORE, DISK_STORE))
    return {
        "workload": label,
        "events": events,
        "cache_datasets": cache,
        "memory_events_per_s": round(events / memory_s, 1),
        "disk_events_per_s": round(events / disk_s, 1),
        "memory_s": [round(s, 3) for s in seconds[MEMORY_STORE]],
        "disk_s": [round(s, 3) for s in seconds[DISK_STORE]],
        "disk_over_memory_time": round(disk_s / memory_s, 3),
    }


def hot_path_seconds(
    registry: TriggerRegistry, events: list[Event], directory: Path, cache_datasets: int | None
) -> float:
    """`Evaluator.process` over every event from a fresh state, as the harness's hot path runs
    it, a disk store committed as replay commits it (the commits timed too)."""
    forget_directories(registry.index)
    with ExitStack() as stack:
        state: StateStore = StateStore()
        fed: Iterable[Event] = events
        if cache_datasets is not None:
            disk = stack.enter_context(
                temporary_disk_store(directory / "state", cache_datasets, CACHE_FILES)
            )
            state, fed = disk, committing(events, disk)
        process = Evaluator(registry, state, record_evaluations=False).process
        gc.collect()
        with long_lived():
            started = time.perf_counter()
            for event in fed:
                process(event)
            return time.perf_counter() - started


def replay_seconds(
    registry: TriggerRegistry, events: Path, directory: Path, cache_datasets: int | None
) -> float:
    """One replay, JSON Lines in and out, as `trigger-engine replay [--state-dir]` runs it."""
    forget_directories(registry.index)
    with ExitStack() as stack:
        lines = read_events([str(events)])
        state: StateStore = StateStore()
        if cache_datasets is not None:
            disk = stack.enter_context(
                temporary_disk_store(directory / "state", cache_datasets, CACHE_FILES)
            )
            state, lines = disk, committing(lines, disk)
        evaluator = Evaluator(registry, state, record_evaluations=False)
        out = stack.enter_context((directory / "invocations.jsonl").open("wb"))
        started = time.perf_counter()
        replay(lines, evaluator, JsonlSink(out))
        return time.perf_counter() - started


# -- part 3: restore from the changelog alone --------------------------------------------------

_TRANSACTION_RECORDS = 100_000
_OFFSET_EVERY = 1_000  # the service writes an offset record per transaction


def changelog_records(files: int, files_per_dataset: int) -> Iterator[ChangelogRecord]:
    """The journal's records of `files` uploads fired for, as the service would leave them in a
    compacted changelog: each dataset's record, each file's record with its fired trigger, and an
    offset record every `_OFFSET_EVERY` records."""
    trigger_id = _uploads_trigger_id()
    seen: set[str] = set()
    for number, document in enumerate(many_uploads(files, files_per_dataset), 1):
        dataset_id = document["datasetid"]
        if dataset_id not in seen:
            seen.add(dataset_id)
            yield encode(DatasetWritten(dataset_id, UPLOADS_ORG, [], {}, True))
        yield encode(FileWritten(dataset_id, document["data"]["file"], (trigger_id,)))
        if number % _OFFSET_EVERY == 0:
            yield offset_record(0)


def _uploads_trigger_id() -> str:
    registry, _ = build_registry(uploads_workload([]))
    (trigger,) = registry
    return trigger.trigger_id


def produce_changelog(
    bootstrap: str, topic: str, partitions: int, files: int, files_per_dataset: int
) -> int:
    """Write the changelog of `files` uploads into `partitions` partitions of `topic` (a
    dataset's records in one), in transactions, with a final offset record in each partition;
    the number of records written."""
    from confluent_kafka import KafkaException, Producer

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "transactional.id": f"{topic}-loader",
            "linger.ms": 50,
            "batch.size": 1_000_000,
            "queue.buffering.max.messages": 1_000_000,
            "queue.buffering.max.kbytes": 1_000_000,
        }
    )
    producer.init_transactions()
    producer.begin_transaction()
    written = 0
    for key, value in changelog_records(files, files_per_dataset):
        partition = _partition_of(key, partitions)
        while True:
            try:
                producer.produce(topic, value, key, partition=partition)
                break
            except BufferError:
                producer.poll(0.05)
        written += 1
        if written % _TRANSACTION_RECORDS == 0:
            producer.commit_transaction()
            producer.begin_transaction()
    for partition in range(partitions):
        key, value = offset_record(0)
        producer.produce(topic, value, key, partition=partition)
        written += 1
    try:
        producer.commit_transaction()
    except KafkaException as exc:
        raise StateBenchError(f"the changelog could not be written: {exc}") from exc
    return written


def _partition_of(key: bytes, partitions: int) -> int:
    """Datasets `ds_<n>` go to partition n mod `partitions`; offset records to the first."""
    if not key.startswith(b'["ds_'):
        return 0
    return int(key[5:12]) % partitions


def run_restore(bootstrap: str, files: int, settings: StateSettings) -> dict[str, Any]:
    """Part 3: a fresh one-partition changelog of `files` files, read into each kind of state,
    each in a fresh process, in turn."""
    topic = Topics.fresh().state
    say(f"state: restore of a changelog of {files:,} files")
    asyncio.run(create_topics(bootstrap, [_changelog_topic(topic, 1)]))
    try:
        started = time.perf_counter()
        records = produce_changelog(bootstrap, topic, 1, files, settings.files_per_dataset)
        produced_s = time.perf_counter() - started
        sides = []
        for label in (store_label(None), store_label(settings.cache)):
            sides.append(run_restore_step(bootstrap, topic, label))
    finally:
        asyncio.run(_delete_topic(bootstrap, topic))
    return {
        "files": files,
        "records": records,
        "produced_records_per_s": round(records / produced_s, 1),
        "sides": sides,
    }


def _changelog_topic(name: str, partitions: int) -> NewTopic:
    return NewTopic(name, partitions, 1, topic_configs={"cleanup.policy": "compact"})


async def _delete_topic(bootstrap: str, topic: str) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics([topic])
    finally:
        await admin.close()


def run_restore_step(bootstrap: str, topic: str, label: str) -> dict[str, Any]:
    """`restore_partition` in a fresh interpreter."""
    with tempfile.TemporaryDirectory(prefix="trigger-engine-state-restore-") as tmp:
        command = [
            sys.executable, "-m", "benchmarks.state_bench", "restore",
            "--store", label, "--bootstrap-servers", bootstrap, "--topic", topic,
            "--directory", tmp,
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, check=False)
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace")[-2000:]
        return {"store": label, "error": f"restore step failed:\n{tail}"}
    result: dict[str, Any] = orjson.loads(done.stdout)
    return result


async def restore_partition(
    bootstrap: str, topic: str, cache_datasets: int | None, directory: Path
) -> dict[str, Any]:
    """Partition 0 of the changelog `topic` read into a fresh state, as the service restores it."""
    from engine.disk_state import DiskStateStore

    changelog = ChangelogReader({"bootstrap_servers": bootstrap}, topic, 1)
    await changelog.start()
    path = directory / "state"
    try:
        started = time.perf_counter()
        if cache_datasets is None:
            states = await restore(changelog, [0], {})
        else:
            stores = {0: DiskStateStore.fresh(path, cache_datasets, CACHE_FILES)}
            # A fresh store has no checkpoint to age: the changelog's default retention will do.
            kept_s = DEFAULT_DELETE_RETENTION_MS / 1000
            states = await restore_stores(changelog, stores, kept_s)
        seconds = time.perf_counter() - started
    finally:
        await changelog.stop()
    state = states[0]
    datasets = len(state.state)
    if isinstance(state.state, DiskStateStore):
        state.state.close()
    status = memory_status()
    return {
        "store": store_label(cache_datasets),
        "records": state.restored_records,
        "seconds": round(seconds, 3),
        "entries_per_s": round(state.restored_records / seconds, 1),
        "datasets_in_memory": datasets,
        "rss_final_bytes": status["VmRSS"],
        "rss_peak_bytes": status["VmHWM"],
        "disk_bytes": tree_bytes(path),
    }


# -- part 4: restart after kill -9, with the local store and without --------------------------

RESTART_INSTANCE_ID = "state-bench"
RESTART_RATE = 200.0  # events per second while the service is killed and restarted
RESTART_UPTIME_S = 3.0  # after a restart's first output, before the next kill
RESTART_TIMEOUT_S = 900.0
# The kinds of restart: with the state directory kept, emptied, and without one (in memory).
KEPT, EMPTIED, IN_MEMORY = "local store", "changelog alone", "in memory"
RESTART_KINDS = (KEPT, EMPTIED, IN_MEMORY)


async def run_restart(bootstrap: str, settings: StateSettings) -> dict[str, Any]:
    """Part 4: the service on a changelog of `restart_files` files, killed and restarted in
    turn with its state directory kept, emptied, and without one."""
    files = settings.restart_files
    say(f"state: kill -9 and restart of the service over {files:,} files of state")
    topics = Topics.fresh()
    duration = (RESTART_UPTIME_S + 60) * (3 * settings.kills + 1)
    workload = generate_uploads(int(RESTART_RATE * duration), settings.seed)
    try:
        await create_registry_topics(bootstrap, topics)
        await create_topics(bootstrap, [_changelog_topic(topics.state, EVENT_PARTITIONS)])
        await produce_triggers(bootstrap, topics, workload)
        records = await asyncio.to_thread(
            produce_changelog,
            bootstrap,
            topics.state,
            EVENT_PARTITIONS,
            files,
            settings.files_per_dataset,
        )
        with tempfile.TemporaryDirectory(prefix="trigger-engine-state-restart-") as tmp:
            measured = await _kill_and_restart(settings, bootstrap, topics, workload, Path(tmp))
    finally:
        await delete_topics(bootstrap, topics)
    return {"files": files, "changelog_records": records, "events_per_s": RESTART_RATE, **measured}


async def _kill_and_restart(
    settings: StateSettings, bootstrap: str, topics: Topics, workload: Workload, tmp: Path
) -> dict[str, Any]:
    actions = tmp / "actions.json"
    actions.write_bytes(orjson.dumps(workload.actions))
    state_dir = tmp / "state"
    port = free_port()
    in_memory = [
        *service_command(bootstrap, topics, actions, port),
        f"--group-instance-id={RESTART_INSTANCE_ID}",
    ]
    on_disk = [
        *in_memory,
        "--state-dir",
        str(state_dir),
        "--state-cache-datasets",
        str(settings.cache),
    ]
    log = tmp / "engine.log"
    outputs = Outputs()
    restarts: dict[str, list[dict[str, float]]] = {kind: [] for kind in RESTART_KINDS}
    with log.open("wb") as log_stream:
        started = time.monotonic()
        service = start_process(on_disk, log_stream)
        await wait_ready(service, port, log, len(workload.triggers), RESTART_TIMEOUT_S)
        first_start_s = time.monotonic() - started
        first_restored = await _restored_records(port)
        async with outputs.following(bootstrap, topics.invocations):
            producing = asyncio.ensure_future(
                produce_steadily(bootstrap, topics.events, workload, RESTART_RATE)
            )
            try:
                await outputs.first_after(0.0, RESTART_TIMEOUT_S)
                kinds = itertools.chain.from_iterable(
                    RESTART_KINDS if n % 2 == 0 else RESTART_KINDS[::-1]
                    for n in range(settings.kills)
                )
                for kind in kinds:
                    await asyncio.sleep(RESTART_UPTIME_S)
                    killed_at = time.time()
                    service.kill()
                    await asyncio.to_thread(service.wait)
                    if kind == EMPTIED:
                        shutil.rmtree(state_dir, ignore_errors=True)
                    service = start_process(in_memory if kind == IN_MEMORY else on_disk, log_stream)
                    first = await outputs.first_after(killed_at, RESTART_TIMEOUT_S)
                    restored = await _restored_records(port)
                    restarts[kind].append(
                        {"seconds": round(first - killed_at, 2), "restored_records": restored}
                    )
            finally:
                producing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await producing
                await stop_service(service)
    return {
        "first_start_s": round(first_start_s, 2),
        "first_start_restored_records": first_restored,
        "restarts": {
            kind: {
                "runs": runs,
                "median_s": round(statistics.median(r["seconds"] for r in runs), 2),
            }
            for kind, runs in restarts.items()
        },
    }


async def _restored_records(port: int) -> float | None:
    """The service's count of changelog records read to restore its state, once it answers."""
    for _ in range(100):
        with contextlib.suppress(OSError):
            text = await asyncio.to_thread(http_get, f"http://127.0.0.1:{port}/metrics")
            found = prometheus_samples(text).get("trigger_engine_state_restored_records_total")
            if found is not None:
                return found
        await asyncio.sleep(0.1)
    return None


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.state_bench", description="One step of the state benchmark."
    )
    steps = parser.add_subparsers(dest="step", required=True)
    step = steps.add_parser("feed", help="feed N uploads to one store; JSON on stdout")
    step.add_argument("--store", required=True, help="'memory' or 'disk:<datasets cached>'")
    step.add_argument("--files", type=int, required=True)
    step.add_argument("--files-per-dataset", type=int, required=True)
    step.add_argument("--directory", type=Path, required=True, help="for the disk store")
    step = steps.add_parser("restore", help="restore one changelog partition; JSON on stdout")
    step.add_argument("--store", required=True, help="'memory' or 'disk:<datasets cached>'")
    step.add_argument("--bootstrap-servers", required=True)
    step.add_argument("--topic", required=True, help="the changelog, read from partition 0")
    step.add_argument("--directory", type=Path, required=True, help="for the disk store")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    cache = parse_store(args.store)
    if args.step == "feed":
        result = feed(cache, args.files, args.files_per_dataset, args.directory)
    else:
        result = asyncio.run(
            restore_partition(args.bootstrap_servers, args.topic, cache, args.directory)
        )
    sys.stdout.write(orjson.dumps(result).decode() + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
