"""The service with `--state-dir`: it gives file replay's output, a restart reads only the
changelog's tail past each store's checkpoint, a store that cannot be trusted is rebuilt from the
changelog, and a kill -9 loses and repeats nothing."""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient

from engine.disk_state import DiskStateStore
from engine.service.metrics import total
from engine.service.service import TriggerService
from tests.kafka.conftest import CreateTopics
from tests.kafka.helpers import (
    PARTITIONS,
    Deployment,
    Expected,
    Produced,
    dataset_key,
    ends_of,
    example_deployment,
    expected,
    produce_events,
    read_all,
    values,
    wait_committed,
    wait_for,
    workload,
)
from tests.kafka.test_service_process import through_kills

CACHE = 3  # far fewer datasets than a partition holds: most are read back from disk


async def _run(
    dep: Deployment, state_dir: Path, admin: AIOKafkaAdminClient, ends: dict[int, int]
) -> float:
    """Run one instance until it has restored every partition and the group has committed
    `ends`; its count of changelog records read to restore."""
    settings = dep.settings(state_dir=state_dir, state_cache_datasets=CACHE)
    async with TriggerService(settings) as service:
        await wait_for(lambda: len(service.partitions) == PARTITIONS, "every partition restored")
        await wait_committed(admin, dep.group, dep.events, ends)
    return total(service.metrics.state_restored_records)


def _checkpoints(state_dir: Path, dep: Deployment) -> dict[int, int]:
    found = {}
    for p in range(PARTITIONS):
        store = DiskStateStore(state_dir / dep.state / str(p), CACHE)
        assert store.checkpoint is not None
        found[p] = store.checkpoint.changelog_offset
        store.close()
    return found


def _assert_stores_hold(stores: Path, produced: list[Produced], want: Expected) -> None:
    """Each partition's store holds exactly the state the produced events make."""
    for p in range(PARTITIONS):
        store = DiskStateStore(stores / str(p), CACHE)
        try:
            datasets = {dataset_key(e.line) for e in produced if e.partition == p} - {None}
            assert datasets
            for dataset_id in sorted(d.decode() for d in datasets if d is not None):
                assert store.get(dataset_id) == want.states[p].get(dataset_id), dataset_id
        finally:
            store.close()


async def test_a_restart_reads_only_the_tail_and_an_untrusted_store_is_rebuilt(
    kafka_bootstrap: str,
    kafka_admin: AIOKafkaAdminClient,
    create_topics: CreateTopics,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    dep, triggers = await example_deployment(kafka_bootstrap, create_topics, unique_name)
    lines = workload()
    mine, other = tmp_path / "mine", tmp_path / "other"
    produced = await produce_events(kafka_bootstrap, dep.events, lines[:100])
    assert await _run(dep, mine, kafka_admin, ends_of(produced)) == 0  # an empty changelog

    # A clean stop left each store at the changelog's end: nothing to read.
    assert await _run(dep, mine, kafka_admin, ends_of(produced)) == 0

    # Another instance (its own store) processes more events: this one reads only what it wrote.
    at = _checkpoints(mine, dep)
    produced += await produce_events(kafka_bootstrap, dep.events, lines[100:200])
    await _run(dep, other, kafka_admin, ends_of(produced))
    changelog = await read_all(kafka_bootstrap, dep.state)
    tail = [r for r in changelog if r.offset >= at[r.partition]]
    assert 0 < len(tail) < len(changelog)
    assert await _run(dep, mine, kafka_admin, ends_of(produced)) == len(tail)

    # Untrusted stores: one gone, one whose checkpoint is beyond the changelog's end, one garbage.
    stores = [mine / dep.state / str(p) for p in range(PARTITIONS)]
    shutil.rmtree(stores[0])
    beyond = DiskStateStore(stores[1], CACHE)
    beyond.commit(10**9, 0)
    beyond.close()
    shutil.rmtree(stores[2])
    stores[2].mkdir()
    (stores[2] / "CURRENT").write_bytes(b"garbage\n")
    produced += await produce_events(kafka_bootstrap, dep.events, lines[200:])
    # Each is rebuilt from the changelog's beginning, as it was before this instance wrote to it.
    assert await _run(dep, mine, kafka_admin, ends_of(produced)) == len(changelog)

    want = expected(produced, triggers)
    assert Counter(values(await read_all(kafka_bootstrap, dep.invocations))) == Counter(
        want.invocations
    )
    _assert_stores_hold(mine / dep.state, produced, want)


async def test_kill_9_with_a_state_dir_loses_and_repeats_nothing(
    kafka_bootstrap: str,
    kafka_admin: AIOKafkaAdminClient,
    create_topics: CreateTopics,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    dep, triggers = await example_deployment(kafka_bootstrap, create_topics, unique_name)
    flags = (f"--state-dir={tmp_path / 'state'}", f"--state-cache-datasets={CACHE}")
    log = tmp_path / "engine.log"
    produced, want, engine = await through_kills(
        kafka_bootstrap, kafka_admin, dep, triggers, log, *flags
    )
    assert "restored_records" in engine.logged()
    # The stores a kill left and a restart trusted hold exactly the state the events make.
    _assert_stores_hold(tmp_path / "state" / dep.state, produced, want)
