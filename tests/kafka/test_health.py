"""Health against a real broker: `/readyz`, `/healthz` and the health metrics tell the truth while
a member waits for the group's assignment, while a partition's records wait without progress,
while the main loop is wedged, and while the broker is down.

Every wait ends on a condition. The stalls are made by holding the engine's own steps (restoring
a partition's state, processing a batch) until the test lets them go; the outage by stopping a
broker of this test's own, on ports of its own, so the session's broker stays up for the others.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from engine.service import service as service_module
from engine.service.changelog import PartitionState
from engine.service.partition import BatchOutcome, PartitionWorker
from engine.service.service import TriggerService
from engine.service.topic_reader import Record
from tests.kafka.conftest import CreateTopics, PrivateBroker
from tests.kafka.helpers import (
    Deployment,
    Labels,
    dataset_events,
    ends_of,
    example_deployment,
    exposition_samples,
    http_request,
    produce_events,
    unique_deployment,
    wait_committed,
    wait_for,
)

HEALTH_LOGGER = "engine.service.health"
# The engine asks the brokers every second (docs/operations.md, "HTTP endpoints").
LOOK_INTERVAL_S = 1.0
LAG = "trigger_engine_consumer_lag"
STALLED_SECONDS = "trigger_engine_stalled_seconds"


async def _scrape(port: int) -> dict[str, dict[Labels, float]]:
    status, body = await http_request(port, "/metrics")
    assert status == 200
    return exposition_samples(body)


async def _samples(port: int) -> dict[str, float]:
    """The unlabelled samples of `/metrics`, by name."""
    scraped = await _scrape(port)
    return {name: by_labels[()] for name, by_labels in scraped.items() if () in by_labels}


async def _by_partition(port: int, name: str, topic: str) -> dict[int, float]:
    """The samples of `name` on `/metrics`, one per partition of `topic`."""
    by_labels = (await _scrape(port)).get(name, {})
    assert {dict(labels)["topic"] for labels in by_labels} <= {topic}
    return {int(dict(labels)["partition"]): value for labels, value in by_labels.items()}


def _logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == HEALTH_LOGGER]


async def _deployment(
    bootstrap: str, create_topics: CreateTopics, unique_name: Callable[[str], str]
) -> Deployment:
    """Fresh topics of one partition each: members beyond the first get none."""
    dep = unique_deployment(bootstrap, unique_name)
    await create_topics({t: 1 for t in (dep.events, dep.invocations, dep.evaluations, dep.dlq)})
    await create_topics({dep.state: 1, dep.triggers: 1}, compacted=True)
    return dep


class _HeldRevocation(ConsumerRebalanceListener):
    """Holds a member's revocation of its partitions until released, and with it the group's
    rebalance: the group gives out no partition before every member has rejoined."""

    def __init__(self) -> None:
        self.revoking = asyncio.Event()
        self.release = asyncio.Event()

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        if revoked:
            self.revoking.set()
            await self.release.wait()

    def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        pass


async def test_a_member_is_ready_once_the_group_assigned_it_partitions_even_none(
    kafka_bootstrap: str, create_topics: CreateTopics, unique_name: Callable[[str], str]
) -> None:
    """A member that has just started (say, restarted after a crash) owns nothing until the group
    has rebalanced: it is not ready meanwhile. Once assigned, it is, even with no partition (a
    group with more members than partitions)."""
    dep = await _deployment(kafka_bootstrap, create_topics, unique_name)
    listener = _HeldRevocation()
    holder = AIOKafkaConsumer(
        bootstrap_servers=kafka_bootstrap,
        group_id=dep.group,
        enable_auto_commit=False,
        heartbeat_interval_ms=100,  # hears of the rebalance soon
    )
    await holder.start()
    try:
        holder.subscribe([dep.events], listener=listener)

        async def holds() -> bool:
            await holder.getmany(timeout_ms=100)
            return bool(holder.assignment())

        await wait_for(holds, "the holder to own the partition")
        async with TriggerService(dep.settings()) as first:
            port = first.http_port
            await wait_for(listener.revoking.is_set, "the group to rebalance for the new member")
            waiting = (503, "waiting for the group to assign partitions\n")
            assert await http_request(port, "/readyz") == waiting
            assert (await _samples(port))["trigger_engine_ready"] == 0
            assert await http_request(port, "/healthz") == (200, "alive\n")

            listener.release.set()
            await wait_for(lambda: first.ready, "the first member to be assigned and ready")
            await holder.stop()
            await wait_for(
                lambda: first.ready and first.partitions == [0],
                "the first member to take the partition over",
            )
            async with TriggerService(dep.settings()) as second:
                await wait_for(
                    lambda: (
                        first.ready
                        and second.ready
                        and sorted([*first.partitions, *second.partitions]) == [0]
                    ),
                    "both members to be assigned and ready",
                )
                idle = first if second.partitions else second
                assert await http_request(idle.http_port, "/readyz") == (200, "ready\n")
                samples = await _samples(idle.http_port)
                assert samples["trigger_engine_assigned_partitions"] == 0
                assert samples["trigger_engine_ready"] == 1
    finally:
        listener.release.set()
        await holder.stop()


async def test_a_partition_whose_records_wait_without_progress_shows_in_metrics_and_probes(
    kafka_bootstrap: str,
    kafka_admin: AIOKafkaAdminClient,
    create_topics: CreateTopics,
    unique_name: Callable[[str], str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The lag of every owned partition is shown while its state is restored and while it is
    stuck; a partition whose batch does not complete is stalled (metrics, `/readyz`, the log),
    and once fetching stops behind it the main loop is wedged (`/healthz`); all clears when the
    batch completes."""
    caplog.set_level(logging.INFO, logger=HEALTH_LOGGER)
    dep, _ = await example_deployment(kafka_bootstrap, create_topics, unique_name)
    lines = dataset_events("ds_held")
    first = await produce_events(kafka_bootstrap, dep.events, lines[:5])
    held = first[0].partition
    restored, processed = asyncio.Event(), asyncio.Event()
    restore, process = service_module.restore, PartitionWorker.process

    async def held_restore(*args: object) -> dict[int, PartitionState]:
        await restored.wait()
        return await restore(*args)  # type: ignore[arg-type]

    async def held_process(worker: PartitionWorker, records: list[Record]) -> BatchOutcome:
        if worker.tp.partition == held:
            await processed.wait()
        return await process(worker, records)

    monkeypatch.setattr(service_module, "restore", held_restore)
    monkeypatch.setattr(PartitionWorker, "process", held_process)
    # The first five records make one batch; the next ten, more than a batch, stop the fetching.
    settings = dep.settings(stalled_after=1.0, wedged_after=1.0, batch_max_records=8)
    async with TriggerService(settings) as service:
        port = service.http_port
        lags = {p: 5 if p == held else 0 for p in range(3)}

        async def lags_shown() -> bool:
            return await _by_partition(port, LAG, dep.events) == lags

        await wait_for(lags_shown, f"the lags {lags} while the state is restored")
        assert await http_request(port, "/readyz") == (
            503,
            "restoring the state of partitions 0, 1, 2\n",
        )

        restored.set()

        async def stalled() -> bool:
            return (await _samples(port))["trigger_engine_stalled_partitions"] == 1

        await wait_for(stalled, f"partition {held} to stall")
        await wait_for(lambda: len(_logged(caplog)) == 1, "the stall to be logged")
        status, body = await http_request(port, "/readyz")
        assert status == 503
        assert body.startswith(f"stalled partitions, no progress while records wait: {held} (")
        stalled_seconds = await _by_partition(port, STALLED_SECONDS, dep.events)
        assert stalled_seconds[held] > 1
        assert [stalled_seconds[p] for p in range(3) if p != held] == [0, 0]
        assert await _by_partition(port, LAG, dep.events) == lags
        assert (await _samples(port))["trigger_engine_broker_reachable"] == 1
        assert await http_request(port, "/healthz") == (200, "alive\n")  # the main loop turns

        rest = await produce_events(kafka_bootstrap, dep.events, lines[5:])

        async def wedged() -> bool:
            return (await http_request(port, "/healthz"))[0] == 503

        await wait_for(wedged, "the main loop to wedge behind the held batch")
        status, body = await http_request(port, "/healthz")
        assert body.startswith("wedged: the main loop has not turned for ")
        await wait_for(lambda: len(_logged(caplog)) == 2, "the wedge to be logged")

        processed.set()
        await wait_committed(kafka_admin, dep.group, dep.events, ends_of(first + rest))

        async def recovered() -> bool:
            return await http_request(port, "/readyz") == (200, "ready\n")

        await wait_for(recovered, "the service to be ready again")
        assert await http_request(port, "/healthz") == (200, "alive\n")
        assert (await _samples(port))["trigger_engine_stalled_partitions"] == 0
        stalled_seconds = await _by_partition(port, STALLED_SECONDS, dep.events)
        assert stalled_seconds == {p: 0 for p in range(3)}
        assert await _by_partition(port, LAG, dep.events) == {p: 0 for p in range(3)}
        await wait_for(lambda: len(_logged(caplog)) == 4, "the recovery to be logged")

    logged = _logged(caplog)
    assert [line.split(":")[0] for line in logged[:2]] == [f"partition {held} is stalled", "wedged"]
    # Both clear when the batch completes: one look logs both, or two looks one each.
    assert sorted(logged[2:]) == [
        f"partition {held} makes progress again",
        "the main loop turns again",
    ]


async def test_readiness_fails_while_the_broker_is_down_and_returns_with_it(
    private_broker: PrivateBroker,
    unique_name: Callable[[str], str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=HEALTH_LOGGER)
    bootstrap = private_broker.bootstrap
    dep = unique_deployment(bootstrap, unique_name)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(dep.events, 1, replication_factor=1)])
        limit = 2.0
        settings = dep.settings(create_topics=True, broker_unreachable_after=limit)
        async with TriggerService(settings) as service:
            port = service.http_port
            await wait_for(lambda: service.ready, "the service to be ready")

            await asyncio.to_thread(private_broker.run, "stop")
            bound = limit + LOOK_INTERVAL_S
            try:
                async with asyncio.timeout(bound):
                    await wait_for(lambda: not service.ready, "/readyz to fail")
            except TimeoutError:
                raise AssertionError(
                    f"/readyz still answers 200 {bound:g} s after the broker stopped"
                ) from None
            status, body = await http_request(port, "/readyz")
            assert (status, body.split(" for ")[0]) == (503, "brokers unreachable")
            assert (await _samples(port))["trigger_engine_broker_reachable"] == 0
            assert await http_request(port, "/healthz") == (200, "alive\n")  # no restart would help
            # Its look at the brokers times out within the limit: then it says so, once.
            await wait_for(lambda: len(_logged(caplog)) == 1, "the lost brokers to be logged")

            await asyncio.to_thread(private_broker.run, "start")
            await wait_for(lambda: service.ready, "/readyz to answer 200 with the broker back")
            await wait_for(lambda: len(_logged(caplog)) == 2, "the brokers' return to be logged")
            assert (await _samples(port))["trigger_engine_broker_reachable"] == 1
            produced = await produce_events(bootstrap, dep.events, dataset_events("ds_back"))
            await wait_committed(admin, dep.group, dep.events, ends_of(produced))
    finally:
        await admin.close()

    lost, back = _logged(caplog)
    assert lost.startswith("the brokers do not answer (")
    assert back.startswith("the brokers answer again, after ")
