"""Reading the state changelog: its partitions' offsets, and their committed records between two.

A restore reads a whole partition, millions of records, for their keys and values alone. So the
records come from fetch requests of our own to the partitions' leaders, unpacked by
`record_batches.committed_records`, rather than from a consumer, which makes an object of each;
and the next fetch of a partition goes out before the records of the last are handed over, so
the broker prepares it while they are applied. Offsets come from a consumer of no group, which
asks for them with the same isolation level.
"""

from __future__ import annotations

import asyncio
import logging
from asyncio import FIRST_COMPLETED
from collections.abc import AsyncIterator, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka import errors as kafka_errors
from aiokafka.client import AIOKafkaClient
from aiokafka.protocol.fetch import FetchRequest

from engine.service.lifecycle import Lifecycle
from engine.service.record_batches import CorruptBatch, KeyedRecord, committed_records

log = logging.getLogger(__name__)

_READ_COMMITTED = 1
_FETCH_MAX_WAIT_MS = 500
_FETCH_MAX_BYTES = 50 * 1024 * 1024
_PARTITION_FETCH_MAX_BYTES = 1024 * 1024
_RETRY_BACKOFF_S = 0.1


class ChangelogReadError(Exception):
    """A changelog partition that cannot be read on: the error names it and the offset."""


@dataclass(frozen=True, slots=True)
class FetchedRecords:
    partition: int
    records: list[KeyedRecord]  # in offset order, possibly none
    next_offset: int  # past these records and the control or aborted batches after them


class ChangelogReader(Lifecycle):
    """The changelog topic's reader: `start`, then reads, then `stop` (or `async with`)."""

    def __init__(self, client_options: Mapping[str, Any], topic: str, partitions: int) -> None:
        self.topic = topic
        self.partitions = partitions
        self._client = AIOKafkaClient(**client_options)
        self._offsets = AIOKafkaConsumer(
            **client_options,
            group_id=None,
            isolation_level="read_committed",
            enable_auto_commit=False,
        )

    async def start(self) -> None:
        """Connect, and learn the topic's leaders now rather than at the first read."""
        await self._client.bootstrap()
        await self._client.add_topic(self.topic)
        await self._offsets.start()
        # Assigned and paused: with nothing assigned, aiokafka asks for the metadata of every
        # topic of the cluster, at once and again every metadata_max_age_ms, and decoding that
        # stalls the event loop on a cluster with many topics.
        tps = self._tps(range(self.partitions))
        self._offsets.assign(tps)
        self._offsets.pause(*tps)

    async def stop(self) -> None:
        try:
            await self._offsets.stop()
        finally:
            await self._client.close()

    async def ends(self, partitions: Iterable[int]) -> dict[int, int]:
        """The partitions' last stable offsets: every transaction below them has ended."""
        ends = await self._offsets.end_offsets(self._tps(partitions))
        return {tp.partition: offset for tp, offset in ends.items()}

    async def beginnings(self, partitions: Iterable[int]) -> dict[int, int]:
        found = await self._offsets.beginning_offsets(self._tps(partitions))
        return {tp.partition: offset for tp, offset in found.items()}

    async def read(self, ranges: Mapping[int, tuple[int, int]]) -> AsyncIterator[FetchedRecords]:
        """The committed records of each partition from its range's first offset up to, not
        including, its last, a fetch at a time; the last offsets must be at most the partitions'
        `ends`."""
        stops = {p: stop for p, (_, stop) in ranges.items()}
        waiting = {p: start for p, (start, stop) in ranges.items() if start < stop}
        fetches: dict[int, asyncio.Task[list[FetchedRecords]]] = {}
        try:
            while waiting or fetches:
                self._fetch_next(waiting, stops, fetches)
                if not fetches:
                    leaderless = sorted(waiting)
                    await self._retry_later(f"changelog {self.topic}: no leader of {leaderless}")
                    continue
                done, _ = await asyncio.wait(fetches.values(), return_when=FIRST_COMPLETED)
                fetched = [
                    chunk
                    for node in _nodes_of(done, fetches)
                    for chunk in fetches.pop(node).result()
                ]
                waiting.update(
                    (c.partition, c.next_offset)
                    for c in fetched
                    if c.next_offset < stops[c.partition]
                )
                # Asked for before these records are handed over: the broker prepares the next
                # while they are applied.
                self._fetch_next(waiting, stops, fetches)
                for chunk in fetched:
                    if chunk.records:
                        yield chunk
        finally:
            for task in fetches.values():
                task.cancel()
            await asyncio.gather(*fetches.values(), return_exceptions=True)

    def _fetch_next(
        self,
        waiting: dict[int, int],
        stops: Mapping[int, int],
        fetches: dict[int, asyncio.Task[list[FetchedRecords]]],
    ) -> None:
        """A fetch to each leader of partitions waiting that has none in flight."""
        by_node: dict[int, dict[int, int]] = {}
        for p, offset in waiting.items():
            node = self._client.cluster.leader_for_partition(TopicPartition(self.topic, p))
            if node is not None and node >= 0 and node not in fetches:
                by_node.setdefault(node, {})[p] = offset
        for node, offsets in by_node.items():
            for p in offsets:
                del waiting[p]
            fetches[node] = asyncio.create_task(self._fetch(node, offsets, stops))

    async def _fetch(
        self, node: int, offsets: dict[int, int], stops: Mapping[int, int]
    ) -> list[FetchedRecords]:
        """What one fetch from `node` brings of each partition; a partition it brings nothing of,
        for a reason that passes, is left where it was."""
        try:
            response = await self._client.send(node, _request(self.topic, offsets))
        except kafka_errors.KafkaError as exc:
            if not exc.retriable:
                raise ChangelogReadError(
                    f"changelog {self.topic}: fetch from broker {node}: {exc!r}"
                ) from exc
            await self._retry_later(f"fetch from broker {node}: {exc!r}")
            return [FetchedRecords(p, [], offset) for p, offset in offsets.items()]
        if response.API_VERSION < 4:
            raise ChangelogReadError(
                f"changelog {self.topic}: broker {node} answers fetches in version "
                f"{response.API_VERSION}, which cannot read committed records only"
            )
        fetched, passing = _fetched(response, offsets, stops)
        if passing:
            await self._retry_later("; ".join(passing))
        return fetched

    async def _retry_later(self, what: str) -> None:
        log.warning("%s; trying again", what)
        await asyncio.sleep(_RETRY_BACKOFF_S)
        await self._client.force_metadata_update()

    def _tps(self, partitions: Iterable[int]) -> list[TopicPartition]:
        return [TopicPartition(self.topic, p) for p in partitions]


def _request(topic: str, offsets: Mapping[int, int]) -> FetchRequest:
    partitions = [(p, offset, _PARTITION_FETCH_MAX_BYTES) for p, offset in offsets.items()]
    return FetchRequest(
        _FETCH_MAX_WAIT_MS, 1, _FETCH_MAX_BYTES, _READ_COMMITTED, [(topic, partitions)]
    )


def _fetched(
    response: Any, offsets: Mapping[int, int], stops: Mapping[int, int]
) -> tuple[list[FetchedRecords], list[str]]:
    """What a fetch response (version 4 or later) brings of each partition asked for (nothing
    for one with an error that passes), and those errors."""
    fetched = {p: FetchedRecords(p, [], offset) for p, offset in offsets.items()}
    passing: list[str] = []
    for topic, partitions in response.topics:
        for p, error_code, _, *data in partitions:
            place = f"changelog {topic}/{p} at offset {offsets[p]}"
            error = kafka_errors.for_code(error_code)
            if error is not kafka_errors.NoError:
                if not error.retriable:
                    raise ChangelogReadError(f"{place}: {error.__name__}")
                passing.append(f"{place}: {error.__name__}")
                continue
            aborted = data[2] if response.API_VERSION >= 11 else data[-2]
            fetched[p] = _unpacked(place, p, data[-1] or b"", aborted or [], offsets[p], stops[p])
    return list(fetched.values()), passing


def _unpacked(
    place: str, p: int, data: bytes, aborted: list[tuple[int, int]], start: int, stop: int
) -> FetchedRecords:
    try:
        unpacked = committed_records(data, aborted, start, stop)
    except CorruptBatch as exc:
        raise ChangelogReadError(f"{place}: {exc}") from None
    if unpacked.batches == 0 and data:
        raise ChangelogReadError(f"{place}: the fetch brought part of a batch and no whole one")
    return FetchedRecords(p, unpacked.records, unpacked.next_offset)


def _nodes_of(
    done: Collection[asyncio.Task[list[FetchedRecords]]],
    fetches: Mapping[int, asyncio.Task[list[FetchedRecords]]],
) -> list[int]:
    return [node for node, task in fetches.items() if task in done]
