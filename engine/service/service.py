"""The deployed consumer: the evaluation core driven by Kafka, exactly once.

One group consumer reads the events topic (read_committed, no auto-commit). Each assigned input
partition p gets a `PartitionWorker`: its state, restored from changelog partition p, and a
transactional producer with its own transactional id. aiokafka's `send_offsets_to_transaction`
takes only a group id, not the consumer's group metadata (KIP-447), so the broker cannot fence a
zombie by group generation; instead, initialising the transactional id of p fences whoever held p
before (Kafka Streams' first exactly-once mode). Each batch of p is one transaction of p's producer.
Fetching goes on while a round of transactions (one per partition with records) commits; what it
brings waits in its worker's queue for the next round.

A transaction that fails is aborted and its partition reopened (a new producer, the committed
state) after a backoff, while the consumer pauses it. Failures that may be the records' fault are
bounded: a batch that fails `batch_attempts` times is retried one record per transaction, and a
record that fails that often alone is set aside: dead-lettered with the reason, unprocessed. The
broker being unreachable or busy is no record's fault: that is retried, backing off, as long as
it lasts.

Rebalances: on assignment, the new partitions are paused, and a background task (the group's
heartbeats must go on meanwhile) opens their producers, restores their state and resumes them. On
revocation, the open batch finishes (batches and ownership changes take one lock), producers are
closed, queued records dropped (the next owner reads them again) and states parked: a partition
that comes back unchanged reuses its state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from http import HTTPStatus
from typing import TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import IllegalStateError, KafkaError, KafkaTimeoutError, ProducerFenced

from engine.actions import ActionCatalog, load_actions
from engine.collector import settle
from engine.disk_state import DiskStateStore
from engine.registry import TriggerRegistry
from engine.service.changelog import PartitionState, open_store, restore, restore_stores
from engine.service.changelog_reader import ChangelogReader
from engine.service.health import Health, HealthLimits
from engine.service.http import HttpServer, Response
from engine.service.kafka_sink import RecordTooLarge
from engine.service.lifecycle import Lifecycle
from engine.service.limits import WriteLimits
from engine.service.logs import partition_fields
from engine.service.membership import leave_group
from engine.service.metrics import (
    CONTENT_TYPE,
    Labels,
    ScrapedGauge,
    ServiceMetrics,
    by_partition,
    single,
)
from engine.service.partition import BatchOutcome, PartitionWorker, open_producer
from engine.service.registry_topic import RegistryFollower
from engine.service.settings import ServiceSettings
from engine.service.topic_reader import Record
from engine.service.topics import max_message_bytes, prepare_topics, tombstone_retention_ms
from engine.vocabulary import Outcome

log = logging.getLogger(__name__)

_OWNERSHIP_CHECK_S = 10.0
# How often the brokers and the partitions' progress are looked at, and how long one look may take.
_WATCH_INTERVAL_S = 1.0
_WATCH_TIMEOUT_S = 5.0

Fetched = list[tuple[PartitionWorker, list[Record]]]


@dataclass(slots=True)
class _Failing:
    """A partition whose transactions fail: at which record, how often, and up to where its
    records go one per transaction."""

    offset: int  # the first record of the failed transactions
    alone_until: int  # records below it are processed one per transaction
    tries: int = 0  # failed transactions from `offset`
    attempts: int = 0  # those of them that may be the records' fault
    error: BaseException | None = None  # the last failure

    def exhausted(self, offset: int, bound: int) -> bool:
        """Whether the record at `offset` has failed alone as often as it may."""
        return offset == self.offset and self.attempts >= bound


class _Listener(ConsumerRebalanceListener):
    def __init__(
        self,
        revoked: Callable[[set[TopicPartition]], Awaitable[None]],
        assigned: Callable[[set[TopicPartition]], None],
    ) -> None:
        self._revoked = revoked
        self._assigned = assigned

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._revoked(revoked)

    def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self._assigned(assigned)


class StartError(Exception):
    """The service cannot start; the message says what and why, in one line."""


class TriggerService(Lifecycle):
    """`start()` / `stop()` or `async with`; `wait()` returns when a stop is requested (SIGTERM
    calls `request_stop`) or the service fails (`failure` then says why)."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        actions = ActionCatalog(load_actions(settings.actions)) if settings.actions else None
        self.registry = TriggerRegistry(
            actions or ActionCatalog(), default_timeout=settings.default_timeout
        )
        self.metrics = ServiceMetrics(self._gauges())
        self.failure: BaseException | None = None
        # The topics' limits are read at start; until then, Kafka's defaults.
        self.limits = WriteLimits(
            settings.producer_max_request_bytes, {}, settings.large_record_compression
        )
        health_limits = HealthLimits(
            settings.broker_unreachable_after, settings.stalled_after, settings.wedged_after
        )
        self._health = Health(health_limits, time.monotonic())
        self._follower = RegistryFollower(
            self.registry,
            settings.kafka,
            settings.triggers_topic,
            None if actions else settings.actions_topic,
            on_reject=lambda topic, reason: self.metrics.registry_rejects.labels(
                topic=topic, reason=reason
            ).inc(),
        )
        self._http = HttpServer(
            settings.http_host,
            settings.http_port,
            {"/healthz": self._healthz, "/readyz": self._readyz, "/metrics": self._metrics},
        )
        self._consumer: AIOKafkaConsumer | None = None
        self._changelog: ChangelogReader | None = None
        self._workers: dict[TopicPartition, PartitionWorker] = {}
        self._parked: dict[int, PartitionState] = {}
        # With --state-dir, each partition's store: open while the partition is assigned (and
        # across a rebalance that gives it back), its datasets used last in memory.
        self._stores: dict[int, DiskStateStore] = {}
        self._tombstones_kept_s: float | None = None  # the changelog's, with a state dir
        self._failing: dict[TopicPartition, _Failing] = {}
        self._reopening: dict[TopicPartition, asyncio.Future[None]] = {}
        self._restoring: set[TopicPartition] = set()
        self._opening: asyncio.Future[None] | None = None
        self._lock = asyncio.Lock()  # batches, assignment and revocation, one at a time
        self._stop_requested = asyncio.Event()
        self._consuming: asyncio.Future[None] | None = None
        self._following: asyncio.Future[None] | None = None
        self._watching: asyncio.Future[None] | None = None
        self._started = False
        self._registry_loaded = False

    # lifecycle

    @property
    def http_port(self) -> int:
        return self._http.port

    @property
    def partitions(self) -> list[int]:
        """The input partitions this instance processes now."""
        return sorted(tp.partition for tp in self._workers)

    @property
    def ready(self) -> bool:
        return self._unready_reason() is None

    @property
    def healthy(self) -> bool:
        return self._unhealthy_reason() is None

    async def start(self) -> None:
        """Serve HTTP, check the topics, load the registry and join the group. A dynamic member
        joins once the registry is loaded, so that the partitions a rebalance gives it never wait
        for the load. A static member joins first: its partitions wait for it anyway (the group
        kept them while it was away), and their producers and state get ready during the load."""
        self._started = True
        joins_first = self.settings.group_instance_id is not None
        try:
            await self._serve_http()
            partitions = await prepare_topics(self.settings)
            self.limits = WriteLimits(
                self.settings.producer_max_request_bytes,
                await max_message_bytes(self.settings),
                self.settings.large_record_compression,
            )
            if self.settings.state_dir is not None:
                self._tombstones_kept_s = await tombstone_retention_ms(self.settings) / 1000
            self._changelog = ChangelogReader(
                self.settings.kafka.client_options(), self.settings.state_topic, partitions
            )
            await self._changelog.start()
            if joins_first:
                await self._join()
            await self._follower.load()
            self._registry_loaded = True
            log.info("registry loaded: %d triggers", len(self.registry))
            if not joins_first:
                await self._join()
            self._consuming = self._spawn(self._consume())
            self._following = self._spawn(self._follower.follow())
            self._watching = self._spawn(self._watch())
        except BaseException:
            await self._close_clients()
            await self._http.stop()
            raise

    async def _join(self) -> None:
        self._consumer = self._group_consumer()
        await self._consumer.start()
        self._consumer.subscribe(
            [self.settings.events_topic], listener=_Listener(self._revoked, self._assigned)
        )

    async def _serve_http(self) -> None:
        try:
            await self._http.start()
        except OSError as exc:  # the port is taken, or the host is not an address of this machine
            reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
            where = f"{self.settings.http_port} on {self.settings.http_host}"
            raise StartError(f"HTTP port {where}: {reason}") from exc

    def request_stop(self) -> None:
        self._stop_requested.set()

    async def wait(self) -> None:
        await self._stop_requested.wait()

    async def stop(self) -> bool:
        """Finish the open batch, close the producers and leave the group within the shutdown
        timeout; False when the deadline passed and the rest was cut short."""
        self.request_stop()
        try:
            async with asyncio.timeout(self.settings.shutdown_timeout):
                await self._drain()
        except TimeoutError:
            log.error(
                "shutdown took longer than %g s: stopped waiting; an open transaction is aborted "
                "by the partition's next owner",
                self.settings.shutdown_timeout,
            )
            for task in (self._opening, self._consuming, self._following, self._watching):
                if task is not None:
                    task.cancel()
            for task in self._reopening.values():
                task.cancel()
            return False
        finally:
            await self._http.stop()
        return True

    async def _drain(self) -> None:
        if self._opening is not None:
            await _cancelled(self._opening)
        await self._cancel_reopening()
        if self._consuming is not None:
            await asyncio.wait([self._consuming])  # it stops after the batch in flight
        if self._following is not None:
            await _cancelled(self._following)
        if self._watching is not None:
            await _cancelled(self._watching)
        async with self._lock:
            await asyncio.gather(*(worker.close() for worker in self._workers.values()))
            self._workers.clear()
            self._close_stores(set(self._stores))
        await self._close_clients()
        await self._leave_as_static_member()

    async def _close_clients(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()  # leaves the group, unless a static member
        if self._changelog is not None:
            await self._changelog.stop()
        await self._follower.stop()

    async def _leave_as_static_member(self) -> None:
        """A static member's partitions would wait for its session to time out: hand them over
        now, as a dynamic member's stop does."""
        instance_id = self.settings.group_instance_id
        if instance_id is None or self._consumer is None:
            return
        try:
            await leave_group(self.settings.kafka, self.settings.group_id, instance_id)
        except KafkaError as exc:
            log.warning(
                "could not leave the group as %s (%r): its partitions move when its session "
                "times out",
                instance_id,
                exc,
            )
        else:
            log.info("left group %s as static member %s", self.settings.group_id, instance_id)

    def _spawn(self, coroutine: Awaitable[None]) -> asyncio.Future[None]:
        task = asyncio.ensure_future(coroutine)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Future[None]) -> None:
        error = None if task.cancelled() else task.exception()
        if error is not None:
            self._fail(error)

    def _fail(self, error: BaseException) -> None:
        if self.failure is None:
            self.failure = error
            log.error("the service failed", exc_info=error)
        self.request_stop()

    # clients

    def _group_consumer(self) -> AIOKafkaConsumer:
        settings = self.settings
        return AIOKafkaConsumer(
            **settings.kafka.client_options(),
            group_id=settings.group_id,
            group_instance_id=settings.group_instance_id,
            session_timeout_ms=settings.session_timeout_ms,
            heartbeat_interval_ms=settings.heartbeat_interval_ms,
            rebalance_timeout_ms=settings.rebalance_timeout_ms,
            max_poll_interval_ms=settings.max_poll_interval_ms,
            isolation_level="read_committed",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=settings.batch_max_records,
        )

    # processing

    async def _consume(self) -> None:
        """Fetch while a round of transactions commits, so the next round takes all that arrived
        meanwhile: under load a batch grows to what arrives during one commit instead of staying
        at what one fetch happened to hold, and fewer, larger transactions cost less per event."""
        fetching: asyncio.Future[Fetched] | None = None
        committing: asyncio.Future[None] | None = None
        try:
            while not self._stop_requested.is_set():
                self._health.loop_turned(time.monotonic())
                if fetching is None and not self._backlogged():
                    fetching = asyncio.ensure_future(self._fetch())
                if committing is None and any(w.queued for w in self._workers.values()):
                    committing = asyncio.ensure_future(self._round())
                running = [task for task in (fetching, committing) if task is not None]
                await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                if fetching is not None and fetching.done():
                    self._queue(fetching.result())
                    fetching = None
                if committing is not None and committing.done():
                    committing.result()
                    committing = None
                    settle()  # the state the round left is not walked by collections again
        except BaseException:  # failed, or cancelled at the shutdown deadline: wait for nothing
            for task in (fetching, committing):
                if task is not None:
                    task.cancel()
            raise
        # Stopping: fetch no more (what is fetched but not committed, the next owner reads again)
        # and let the round in flight commit.
        if fetching is not None:
            await _cancelled(fetching)
        if committing is not None:
            await committing

    def _backlogged(self) -> bool:
        """Whether a partition holds a full batch already: fetch no more until it is taken."""
        limit = self.settings.batch_max_records
        return any(worker.queued >= limit for worker in self._workers.values())

    async def _fetch(self) -> Fetched:
        """Fetched records with the worker each is for. The pairing is made as the consumer hands
        the records over: a worker installed later (its partition sought anew) must not get them."""
        assert self._consumer is not None
        settings = self.settings
        batches = await self._consumer.getmany(
            timeout_ms=settings.batch_timeout_ms, max_records=settings.batch_max_records
        )
        return [
            (worker, records)
            for tp, records in batches.items()
            if (worker := self._workers.get(tp)) is not None
        ]

    def _queue(self, fetched: Fetched) -> None:
        for worker, records in fetched:
            self._health.fetched(worker.tp.partition, records[-1].offset + 1)
            if self._workers.get(worker.tp) is worker:  # else revoked, fenced or reopened since
                worker.queue(records)

    async def _round(self) -> None:
        """One transaction per partition with queued records, all partitions at once."""
        async with self._lock, asyncio.TaskGroup() as group:
            for worker in self._workers.values():
                records = worker.take(self._batch_limit(worker))
                if records:
                    group.create_task(self._run_batch(worker, records))

    def _batch_limit(self, worker: PartitionWorker) -> int:
        failing = self._failing.get(worker.tp)
        offset = worker.next_offset
        if failing is not None and (
            offset < failing.alone_until or failing.exhausted(offset, self.settings.batch_attempts)
        ):
            return 1
        return self.settings.batch_max_records

    async def _run_batch(self, worker: PartitionWorker, records: list[Record]) -> None:
        tp = worker.tp
        failing = self._failing.get(tp)
        started = time.perf_counter()
        try:
            if failing is not None and failing.exhausted(
                records[0].offset, self.settings.batch_attempts
            ):
                outcome = await self._set_aside(worker, records[0], failing)
            else:
                outcome = await worker.process(records)
        except ProducerFenced:
            self.metrics.partition(tp.topic, tp.partition).aborted.inc()
            await self._fenced(worker)
            return
        except Exception as exc:  # whatever failed, the records must not stop the partition
            self.metrics.partition(tp.topic, tp.partition).aborted.inc()
            delay = self._failed(tp, records, exc)
            log.warning(
                "transaction of %s from offset %d aborted (%r); reopening the partition in %g s",
                tp,
                records[0].offset,
                exc,
                delay,
                exc_info=None if isinstance(exc, KafkaError | RecordTooLarge) else exc,
                extra=partition_fields(*tp, offset=records[0].offset, error=repr(exc)),
            )
            await self._reopen(worker, delay)
            return
        self._succeeded(tp, worker.next_offset)
        self._count(tp, outcome, time.perf_counter() - started)

    async def _set_aside(
        self, worker: PartitionWorker, record: Record, failing: _Failing
    ) -> BatchOutcome:
        reason = (
            f"set aside unprocessed: {failing.tries} transactions from it failed, "
            f"the last with {failing.error!r}"
        )
        outcome = await worker.set_aside(record, reason)
        self.metrics.records_set_aside.labels(error=type(failing.error).__name__).inc()
        log.error(
            "%s: the record at offset %d is %s",
            worker.tp,
            record.offset,
            reason,
            extra=partition_fields(*worker.tp, offset=record.offset, reason=reason),
        )
        return outcome

    def _failed(self, tp: TopicPartition, records: list[Record], error: Exception) -> float:
        """Count a failed transaction of `records`; the seconds to wait before the next."""
        settings, first = self.settings, records[0].offset
        failing = self._failing.get(tp)
        if failing is None or failing.offset != first:
            alone_until = 0 if failing is None else failing.alone_until
            failing = self._failing[tp] = _Failing(first, alone_until)
        failing.tries += 1
        failing.error = error
        if isinstance(error, RecordTooLarge):  # no retry writes it: at once to the bound
            failing.attempts = settings.batch_attempts
        elif _about_the_records(error):
            failing.attempts += 1
        if failing.attempts >= settings.batch_attempts and len(records) > 1:
            failing.alone_until = max(failing.alone_until, records[-1].offset + 1)
            failing.attempts = 0
            log.warning(
                "%s: records %d to %d go one per transaction, to find those that fail",
                tp,
                first,
                records[-1].offset,
                extra=partition_fields(*tp, offset=first, last_offset=records[-1].offset),
            )
        backoff = settings.batch_retry_backoff_ms * 2 ** min(failing.tries - 1, 30)
        return min(backoff, settings.batch_retry_backoff_max_ms) / 1000

    def _succeeded(self, tp: TopicPartition, next_offset: int) -> None:
        failing = self._failing.get(tp)
        if failing is None:
            return
        if next_offset >= failing.alone_until:
            del self._failing[tp]
        else:
            self._failing[tp] = _Failing(next_offset, failing.alone_until)

    def _count(self, tp: TopicPartition, outcome: BatchOutcome, seconds: float) -> None:
        metrics, stats = self.metrics, outcome.stats
        counters = metrics.partition(tp.topic, tp.partition)
        counters.committed.inc()
        metrics.batch_duration.observe(seconds)
        metrics.commit_duration.observe(outcome.commit_seconds)
        counters.events.inc(outcome.events)
        counters.dead_letters.inc(outcome.dead_letters)
        metrics.dead_letters_truncated.inc(outcome.truncated)
        for output, count in outcome.too_large.items():
            metrics.outputs_too_large.labels(output=output).inc(count)
        counters.invocations.inc(stats.invocations - outcome.too_large["invocation"])
        metrics.evaluation_failures.inc(stats.failed)
        if stats.invocations:
            metrics.evaluations.labels(outcome=Outcome.INVOKED, reason="").inc(stats.invocations)
        for reason, count in stats.skipped.items():
            metrics.evaluations.labels(outcome=Outcome.SKIPPED, reason=reason).inc(count)

    async def _fenced(self, worker: PartitionWorker) -> None:
        """Someone initialised this partition's transactional id: a new owner (the group gave the
        partition to another member, and this one has not noticed yet), or an operator's
        `admin seek`, which changed the partition's position in its changelog. While the group
        still gives the partition to this member, it is the latter: reopen the partition, at the
        state and position of the changelog. Else stop touching it until it is assigned again."""
        if await self._still_assigned(worker.tp):
            log.warning(
                "%s was fenced from outside the group (admin seek?); reopening it",
                worker.tp,
                extra=partition_fields(*worker.tp),
            )
            await self._reopen(worker)
            return
        log.error(
            "%s is fenced: another instance owns it now; pausing it",
            worker.tp,
            extra=partition_fields(*worker.tp),
        )
        assert self._consumer is not None
        del self._workers[worker.tp]
        self._consumer.pause(worker.tp)
        await worker.close()

    async def _still_assigned(self, tp: TopicPartition) -> bool:
        """Whether the group coordinator confirms that this member still holds `tp`. An offset
        commit is checked against the member's generation and fails once the group has moved on;
        this one commits the offset the group holds already (a seek commits one)."""
        assert self._consumer is not None
        try:
            async with asyncio.timeout(_OWNERSHIP_CHECK_S):
                offset = await self._consumer.committed(tp)
                if offset is None:  # nothing to commit again: no way to ask, leave it to the group
                    return False
                await self._consumer.commit({tp: offset})
        except (KafkaError, TimeoutError):
            return False
        return True

    async def _reopen(self, worker: PartitionWorker, delay: float = 0.0) -> None:
        """After an aborted transaction: a new producer and the committed state, `delay` seconds
        from now; the consumer pauses the partition meanwhile."""
        assert self._consumer is not None
        del self._workers[worker.tp]
        self._consumer.pause(worker.tp)
        await worker.close()
        self._reopening[worker.tp] = self._spawn(self._reopen_later(worker.tp, delay))

    async def _reopen_later(self, tp: TopicPartition, delay: float) -> None:
        assert self._consumer is not None
        await asyncio.sleep(delay)
        async with self._lock:
            [fresh] = await self._open_workers([tp], parked={})
            await self._install(fresh)
        del self._reopening[tp]
        self._consumer.resume(tp)

    async def _cancel_reopening(self) -> None:
        for task in list(self._reopening.values()):
            await _cancelled(task)
        self._reopening.clear()

    # rebalancing

    def _assigned(self, assigned: set[TopicPartition]) -> None:
        assert self._consumer is not None
        if self._stop_requested.is_set():
            return  # leaving the group: the partitions stay paused, the next owner takes them
        self.metrics.rebalances.inc()
        tps = sorted(assigned)
        self._health.assigned((tp.partition for tp in tps), time.monotonic())
        log.info("assigned %s", ", ".join(f"{tp.topic}/{tp.partition}" for tp in tps) or "nothing")
        self._consumer.pause(*tps)
        kept = {tp.partition for tp in tps}
        self._parked = {p: state for p, state in self._parked.items() if p in kept}
        self._close_stores(set(self._stores) - kept)
        self._restoring = set(tps)
        self._opening = self._spawn(self._open_assigned(tps))

    async def _open_assigned(self, tps: list[TopicPartition]) -> None:
        assert self._consumer is not None
        async with self._lock:
            for worker in await self._open_workers(tps, self._parked):
                await self._install(worker)
            self._parked.clear()
        self._consumer.resume(*tps)
        self._restoring.clear()

    async def _revoked(self, revoked: set[TopicPartition]) -> None:
        try:
            if self._opening is not None:
                await _cancelled(self._opening)
            await self._cancel_reopening()
            for tp in revoked:
                self._failing.pop(tp, None)
            async with self._lock:  # the batch in flight, if any, is committed first
                workers = list(self._workers.values())
                self._workers.clear()
                await asyncio.gather(*(worker.close() for worker in workers))
                self._parked.update({w.tp.partition: w.restored for w in workers})
            self._restoring.clear()
        except Exception as exc:  # aiokafka would only log it
            self._fail(exc)

    async def _open_workers(
        self, tps: list[TopicPartition], parked: dict[int, PartitionState]
    ) -> list[PartitionWorker]:
        """Producers first: their init fences the previous owners and completes their
        transactions, so the changelog read next holds everything they committed."""
        producers = await _all_or_none(
            [self._timed_producer(tp.partition) for tp in tps], close=lambda p: p.stop()
        )
        try:
            started = time.perf_counter()
            states = await self._restore([tp.partition for tp in tps], parked)
            seconds = time.perf_counter() - started
            self.metrics.state_restore.observe(seconds)
            kept = sorted(p for p, state in states.items() if state is parked.get(p))
            restored_records = sum(state.restored_records for state in states.values())
            self.metrics.state_restored_records.inc(restored_records)
            log.info(
                "state of partitions %s restored in %.3f s (kept: %s; restored_records: %d)",
                sorted(states),
                seconds,
                kept,
                restored_records,
            )
            workers = []
            for tp, producer in zip(tps, producers, strict=True):
                state = states[tp.partition]
                next_offset = await self._start_offset(tp, state)
                workers.append(
                    PartitionWorker(
                        tp, producer, state, next_offset, self.registry, self.settings, self.limits
                    )
                )
            return workers
        except BaseException:
            await asyncio.gather(*(p.stop() for p in producers))
            raise

    async def _restore(
        self, partitions: list[int], parked: dict[int, PartitionState]
    ) -> dict[int, PartitionState]:
        """The partitions' state: in memory from their changelog, else from their disk stores."""
        settings, changelog = self.settings, self._changelog
        assert changelog is not None
        if settings.state_dir is None:
            return await restore(changelog, partitions, parked)
        for p in partitions:
            if p not in self._stores:
                path = settings.state_dir / settings.state_topic / str(p)
                self._stores[p] = open_store(
                    path, settings.state_cache_datasets, settings.state_cache_files
                )
        stores = {p: self._stores[p] for p in partitions}
        assert self._tombstones_kept_s is not None  # read at start with a state dir
        states = await restore_stores(changelog, stores, self._tombstones_kept_s)
        for p, state in states.items():  # a store rebuilt is a new one
            assert isinstance(state.state, DiskStateStore)
            self._stores[p] = state.state
        return states

    def _close_stores(self, partitions: set[int]) -> None:
        for p in partitions:
            self._stores.pop(p).close()

    async def _timed_producer(self, partition: int) -> AIOKafkaProducer:
        started = time.perf_counter()
        producer = await open_producer(self.settings, partition, self.limits)
        self.metrics.producer_init.observe(time.perf_counter() - started)
        return producer

    async def _start_offset(self, tp: TopicPartition, state: PartitionState) -> int:
        """Where the partition's input resumes: the changelog's record of it, else the group's
        committed offset (a changelog from before offsets were recorded), else the beginning."""
        if state.input_offset is not None:
            return state.input_offset
        return await self._group_offset(tp)

    async def _group_offset(self, tp: TopicPartition) -> int:
        """The group's committed offset of `tp`, else its beginning."""
        assert self._consumer is not None
        committed = await self._consumer.committed(tp)
        if committed is not None:
            return committed
        return (await self._consumer.beginning_offsets([tp]))[tp]

    async def _install(self, worker: PartitionWorker) -> None:
        assert self._consumer is not None
        self._workers[worker.tp] = worker
        self._consumer.seek(worker.tp, worker.next_offset)
        log.info(
            "%s/%d ready at offset %d with %d datasets",
            worker.tp.topic,
            worker.tp.partition,
            worker.next_offset,
            len(worker.restored.state),
            extra=partition_fields(*worker.tp, offset=worker.next_offset),
        )

    # health

    async def _watch(self) -> None:
        while True:
            await self._look()
            await asyncio.sleep(_WATCH_INTERVAL_S)

    async def _look(self) -> None:
        """Ask the brokers for the ends of the owned partitions (of one partition of the events
        topic when this member owns none): whether they answer is whether they are reachable.
        Then note where each owned partition is."""
        assert self._consumer is not None
        consumer, topic = self._consumer, self.settings.events_topic
        owned = [TopicPartition(topic, partition) for partition in self._health.partitions]
        # A look never waits longer than it takes for silent brokers to count as unreachable.
        timeout = min(_WATCH_TIMEOUT_S, self.settings.broker_unreachable_after)
        try:
            async with asyncio.timeout(timeout):
                ends = await consumer.end_offsets(owned or [TopicPartition(topic, 0)])
                # Until its state is restored, a partition's position is the group's offset.
                restoring = {tp: await self._group_offset(tp) for tp in list(self._restoring)}
                fetching = await self._fetch_positions()
        except TimeoutError:
            self._health.broker_failed(f"no answer within {timeout:g} s")
            ends, restoring, fetching = {}, {}, {}
        except KafkaError as exc:
            self._health.broker_failed(repr(exc))
            ends, restoring, fetching = {}, {}, {}
        else:
            self._health.broker_answered(time.monotonic())
        now = time.monotonic()
        for tp in owned:
            self._health.observe(
                tp.partition,
                now,
                position=restoring.get(tp),
                end=ends.get(tp),
                fetch_position=fetching.get(tp),
            )
        self._note_progress(now)
        self._health.report(now)

    async def _fetch_positions(self) -> dict[TopicPartition, int]:
        """The consumer's next offset to fetch of each partition with a worker."""
        assert self._consumer is not None
        positions = {}
        for tp in list(self._workers):
            with contextlib.suppress(IllegalStateError):  # revoked meanwhile
                positions[tp] = await self._consumer.position(tp)
        return positions

    def _note_progress(self, now: float) -> None:
        """Note the position of each owned partition, and its end as the consumer last fetched
        it: what a probe or a scrape says is up to date."""
        if self._consumer is None:
            return
        assigned = self._consumer.assignment()
        for partition in self._health.partitions:
            tp = TopicPartition(self.settings.events_topic, partition)
            worker = self._workers.get(tp)
            self._health.observe(
                partition,
                now,
                position=None if worker is None else worker.next_offset,
                end=self._consumer.last_stable_offset(tp) if tp in assigned else None,
                restoring=tp in self._restoring,
            )

    def _unhealthy_reason(self) -> str | None:
        if not self._started:
            return "not started"
        if self.failure is not None:
            return f"failed: {self.failure!r}"
        if self._stop_requested.is_set():
            return "stopping"
        return self._health.wedged(time.monotonic())

    def _unready_reason(self) -> str | None:
        unhealthy = self._unhealthy_reason()
        if unhealthy is not None:
            return unhealthy
        if not self._registry_loaded:
            return "loading the registry"
        if self._restoring:
            restoring = ", ".join(str(tp.partition) for tp in sorted(self._restoring))
            return f"restoring the state of partitions {restoring}"
        now = time.monotonic()
        self._note_progress(now)
        return self._health.unready(now)

    # HTTP

    def _healthz(self) -> Response:
        return _probe(self._unhealthy_reason(), "alive")

    def _readyz(self) -> Response:
        return _probe(self._unready_reason(), "ready")

    def _metrics(self) -> Response:
        self._note_progress(time.monotonic())
        return Response(HTTPStatus.OK, self.metrics.render(), CONTENT_TYPE)

    def _gauges(self) -> Iterable[ScrapedGauge]:
        return [
            ScrapedGauge(
                "trigger_engine_assigned_partitions", "input partitions owned", self._owned
            ),
            ScrapedGauge(
                "trigger_engine_consumer_lag",
                "records waiting in each owned partition: offsets from its position to its end",
                self._lag,
            ),
            ScrapedGauge(
                "trigger_engine_stalled_seconds",
                "seconds each owned partition has gone without progress while records wait",
                self._stalled_seconds,
            ),
            ScrapedGauge(
                "trigger_engine_stalled_partitions",
                "owned partitions without progress for longer than --stalled-after",
                self._stalled_count,
            ),
            ScrapedGauge(
                "trigger_engine_broker_reachable",
                "0 from a look the brokers did not answer, or a silence longer than "
                "--broker-unreachable-after, until they answer",
                self._broker_reachable,
            ),
            ScrapedGauge("trigger_engine_datasets", "datasets held in memory", self._datasets),
            ScrapedGauge(
                "trigger_engine_triggers", "triggers in the registry", self._trigger_count
            ),
            ScrapedGauge("trigger_engine_ready", "1 when /readyz answers 200", self._ready_value),
        ]

    def _owned(self) -> dict[Labels, float]:
        return single(len(self._workers))

    def _lag(self) -> dict[Labels, float]:
        return by_partition(self.settings.events_topic, self._health.lags())

    def _stalled_seconds(self) -> dict[Labels, float]:
        return by_partition(
            self.settings.events_topic, self._health.stalled_seconds(time.monotonic())
        )

    def _stalled_count(self) -> dict[Labels, float]:
        return single(len(self._health.stalled(time.monotonic())))

    def _broker_reachable(self) -> dict[Labels, float]:
        return single(1 if self._health.broker_reachable(time.monotonic()) else 0)

    def _datasets(self) -> dict[Labels, float]:
        return single(sum(len(w.restored.state) for w in self._workers.values()))

    def _trigger_count(self) -> dict[Labels, float]:
        return single(len(self.registry))

    def _ready_value(self) -> dict[Labels, float]:
        return single(1 if self.ready else 0)


def _about_the_records(error: Exception) -> bool:
    """Whether a failed transaction may be its records' fault: not when the broker could not be
    reached or was busy (its retriable errors, a timeout), which only waiting cures."""
    if isinstance(error, KafkaError):
        return not (error.retriable or isinstance(error, KafkaTimeoutError))
    return True


def _probe(trouble: str | None, fine: str) -> Response:
    """200 with `fine`, or 503 with what is wrong, on one line."""
    if trouble is None:
        return Response(HTTPStatus.OK, f"{fine}\n".encode())
    line = " ".join(trouble.split())
    return Response(HTTPStatus.SERVICE_UNAVAILABLE, f"{line}\n".encode())


async def _cancelled(task: asyncio.Future[None]) -> None:
    """Cancel `task` and wait until it has finished (its errors are reported elsewhere)."""
    task.cancel()
    await asyncio.wait([task])


T = TypeVar("T")


async def _all_or_none(
    openings: list[Awaitable[T]], close: Callable[[T], Awaitable[None]]
) -> list[T]:
    """Await every opening; if one fails, close the others that succeeded and raise."""
    results = await asyncio.gather(*openings, return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    if failures:
        await asyncio.gather(*(close(r) for r in results if not isinstance(r, BaseException)))
        raise failures[0]
    return [r for r in results if not isinstance(r, BaseException)]
