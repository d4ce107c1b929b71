"""The committed records of a partition's record batches, as one fetch response holds them.

A read_committed consumer makes an object of every record it reads; a restore reads millions of
them for their key and value alone, and making those objects was a large part of its work.
`committed_records`
takes the key and value straight out of the batches, by the rules a read_committed consumer
follows:

- a control batch (a transaction's commit or abort marker) holds no data;
- a transactional batch is skipped while its producer is aborting: from the first offset of an
  aborted transaction the broker lists with the response, up to that producer's abort marker;
- a batch's first records may lie before the offset asked for (the broker sends whole batches);
- a batch that fails its CRC check is an error, not data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aiokafka.record.control_record import ABORT_MARKER, ControlRecord
from aiokafka.record.default_records import DefaultRecordBatch
from aiokafka.record.legacy_records import LegacyRecordBatch
from aiokafka.record.memory_records import MemoryRecords

# A compacted topic's records all have keys: the broker refuses one without.
KeyedRecord = tuple[bytes, bytes | None]


class CorruptBatch(Exception):
    """A record batch whose bytes are not the ones written."""


@dataclass(frozen=True, slots=True)
class Unpacked:
    records: list[KeyedRecord]  # in offset order
    next_offset: int  # past every batch read: where reading goes on
    batches: int  # the batches read (a response may end in part of one, which is not read)


def committed_records(
    data: bytes, aborted: Sequence[tuple[int, int]], start: int, stop: int
) -> Unpacked:
    """The committed records at offsets `start` to `stop` (not included) of a fetch response's
    record batches `data`, which begin with the batch holding `start`; `aborted` is the response's
    list of aborted transactions, (producer id, first offset) each."""
    batches = MemoryRecords(data)
    transactions = _Transactions(aborted)
    records: list[KeyedRecord] = []
    next_offset, read = start, 0
    while next_offset < stop and (batch := batches.next_batch()) is not None:
        read += 1
        if not batch.validate_crc():
            raise CorruptBatch(f"the batch at offset {next_offset} fails its CRC check")
        if transactions.holds_data(batch):
            records += _in_range(batch, start, stop)
        next_offset = batch.next_offset
    return Unpacked(records, min(next_offset, stop), read)


class _Transactions:
    """Which producers are aborting, batch after batch."""

    def __init__(self, aborted: Sequence[tuple[int, int]]) -> None:
        self._pending = sorted(aborted, key=lambda transaction: transaction[1])
        self._aborting: set[int] = set()

    def holds_data(self, batch: DefaultRecordBatch | LegacyRecordBatch) -> bool:
        if isinstance(batch, LegacyRecordBatch):  # a format from before transactions
            return True
        producer = batch.producer_id
        while self._pending and self._pending[0][1] <= batch.base_offset:
            self._aborting.add(self._pending.pop(0)[0])
        if batch.is_control_batch:
            if _is_abort_marker(batch):
                self._aborting.discard(producer)
            return False
        return not (batch.is_transactional and producer in self._aborting)


def _in_range(
    batch: DefaultRecordBatch | LegacyRecordBatch, start: int, stop: int
) -> list[KeyedRecord]:
    # Keys are typed `bytes | None` by aiokafka; see `KeyedRecord`.
    if (
        isinstance(batch, DefaultRecordBatch)
        and start <= batch.base_offset
        and batch.next_offset <= stop
    ):
        return [(r.key, r.value) for r in batch]  # type: ignore[misc]  # whole: no offset to test
    return [(r.key, r.value) for r in batch if start <= r.offset < stop]  # type: ignore[misc]


def _is_abort_marker(batch: DefaultRecordBatch) -> bool:
    for record in batch:
        if record.key is None:
            break
        return bool(ControlRecord.parse(record.key) == ABORT_MARKER)
    raise CorruptBatch(f"the control batch at offset {batch.base_offset} holds no control record")
