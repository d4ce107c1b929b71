"""`committed_records` against a model of the log: a record counts when its batch is not
transactional or its transaction committed, at offsets from the start asked for to the stop, in
the batches whole in the response. The logs are built with aiokafka's own batch builders."""

from __future__ import annotations

import struct
from dataclasses import dataclass

import pytest
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from aiokafka.record.legacy_records import LegacyRecordBatchBuilder
from aiokafka.record.util import calc_crc32c
from hypothesis import given
from hypothesis import strategies as st

from engine.service.record_batches import CorruptBatch, KeyedRecord, committed_records

_NOT_TRANSACTIONAL = -1
_CONTROL_ATTRIBUTE = 0x20
_ATTRIBUTES_AT, _CRC_AT = 21, 17  # in a batch of format 2


@dataclass(frozen=True, slots=True)
class Batch:
    base_offset: int
    data: bytes
    records: list[tuple[int, KeyedRecord]]  # offset, record
    counts: bool  # its records are committed data


def _data_batch(base: int, producer: int, records: list[KeyedRecord]) -> bytes:
    transactional = producer != _NOT_TRANSACTIONAL
    builder = DefaultRecordBatchBuilder(2, 0, int(transactional), producer, 0, 0, 1 << 20)
    for delta, (key, value) in enumerate(records):
        builder.append(delta, timestamp=0, key=key, value=value, headers=[])
    return _at(base, builder.build())


def _marker(base: int, producer: int, commit: bool) -> bytes:
    builder = DefaultRecordBatchBuilder(2, 0, 1, producer, 0, 0, 1 << 20)
    key, value = struct.pack(">hh", 0, int(commit)), struct.pack(">hi", 0, 0)
    builder.append(0, timestamp=0, key=key, value=value, headers=[])
    batch = builder.build()
    attributes = struct.unpack_from(">h", batch, _ATTRIBUTES_AT)[0] | _CONTROL_ATTRIBUTE
    struct.pack_into(">h", batch, _ATTRIBUTES_AT, attributes)
    struct.pack_into(">I", batch, _CRC_AT, calc_crc32c(bytes(batch[_ATTRIBUTES_AT:])))
    return _at(base, batch)


def _at(base: int, batch: bytearray) -> bytes:
    struct.pack_into(">q", batch, 0, base)
    return bytes(batch)


@dataclass(slots=True)
class Log:
    batches: list[Batch]
    aborted: list[tuple[int, int, int]]  # producer, first offset, offset of the abort marker

    @property
    def end(self) -> int:
        return self.batches[-1].base_offset + max(1, len(self.batches[-1].records))


# A step: (producer, records) writes a batch, (producer, None) ends its transaction.
_steps = st.lists(
    st.tuples(
        st.sampled_from([_NOT_TRANSACTIONAL, 7, 8, 9]),
        st.one_of(st.none(), st.integers(1, 4)),
        st.booleans(),  # whether an ending commits
    ),
    min_size=1,
    max_size=30,
).filter(lambda steps: any(size is not None for _, size, _ in steps))


def _log(steps: list[tuple[int, int | None, bool]]) -> Log:
    batches: list[Batch] = []
    aborted: list[tuple[int, int, int]] = []
    open_: dict[int, tuple[int, list[Batch]]] = {}  # producer: first offset, its batches
    offset = 0

    def end(producer: int, commit: bool) -> None:
        nonlocal offset
        first, written = open_.pop(producer)
        for i, batch in enumerate(batches):
            if batch in written:
                batches[i] = Batch(batch.base_offset, batch.data, batch.records, commit)
        if not commit:
            aborted.append((producer, first, offset))
        batches.append(Batch(offset, _marker(offset, producer, commit), [], False))
        offset += 1

    for producer, size, commit in steps:
        if size is None:
            if producer in open_:
                end(producer, commit)
            continue
        records = [(f"k{offset + i}".encode(), f"v{offset + i}".encode()) for i in range(size)]
        batch = Batch(
            offset,
            _data_batch(offset, producer, records),
            [(offset + i, r) for i, r in enumerate(records)],
            producer == _NOT_TRANSACTIONAL,
        )
        batches.append(batch)
        if producer != _NOT_TRANSACTIONAL:
            open_.setdefault(producer, (offset, []))[1].append(batch)
        offset += size
    for producer in sorted(open_):  # below the last stable offset, every transaction ended
        end(producer, commit=True)
    return Log(batches, aborted)


@st.composite
def _reads(draw: st.DrawFn) -> tuple[Log, int, int, int]:
    """A log, the offsets to read between, and how many bytes of the response to cut off."""
    log = _log(draw(_steps))
    start = draw(st.integers(0, log.end - 1))
    stop = draw(st.integers(start + 1, log.end))
    return log, start, stop, draw(st.integers(0, 60))


def _response(log: Log, start: int, cut: int) -> tuple[bytes, list[tuple[int, int]]]:
    """The batches from the one holding `start` on, and the aborted transactions the broker lists
    with them: those not ended before `start`."""
    sent = [b for b in log.batches if b.base_offset + max(1, len(b.records)) > start]
    data = b"".join(b.data for b in sent)
    aborted = [(producer, first) for producer, first, marker in log.aborted if marker >= start]
    return data[: len(data) - cut] if cut else data, aborted


@given(_reads())
def test_the_records_are_the_committed_ones_in_range_of_the_whole_batches(
    read: tuple[Log, int, int, int],
) -> None:
    log, start, stop, cut = read
    data, aborted = _response(log, start, cut)
    unpacked = committed_records(data, aborted, start, stop)
    whole = [b for b in log.batches if b.base_offset + max(1, len(b.records)) > start]
    kept, length = [], 0
    for batch in whole:
        length += len(batch.data)
        if length > len(data) or batch.base_offset >= stop:
            break
        kept.append(batch)
    expected = [r for b in kept if b.counts for offset, r in b.records if start <= offset < stop]
    assert unpacked.records == expected
    assert unpacked.batches == len(kept)
    past = kept[-1].base_offset + max(1, len(kept[-1].records)) if kept else start
    assert unpacked.next_offset == min(past, stop)


def test_an_aborted_transaction_is_skipped_until_its_producers_abort_marker() -> None:
    a = [(b"a", b"1"), (b"b", b"2")]
    data = b"".join(
        [
            _data_batch(0, 7, a),
            _marker(2, 7, commit=False),
            _data_batch(3, 7, [(b"c", None)]),
            _marker(4, 7, commit=True),
        ]
    )
    unpacked = committed_records(data, [(7, 0)], 0, 5)
    assert unpacked.records == [(b"c", None)]
    assert unpacked.next_offset == 5


def test_a_batch_that_fails_its_crc_check_is_an_error() -> None:
    batch = bytearray(_data_batch(0, _NOT_TRANSACTIONAL, [(b"key", b"value")]))
    batch[-3] ^= 0xFF
    with pytest.raises(CorruptBatch, match="offset 0 fails its CRC check"):
        committed_records(bytes(batch), [], 0, 1)


def test_the_records_of_a_format_from_before_transactions_count() -> None:
    builder = LegacyRecordBatchBuilder(1, 0, 1 << 20)
    builder.append(0, timestamp=0, key=b"k", value=b"v")
    unpacked = committed_records(_at(5, builder.build()), [], 5, 6)
    assert unpacked.records == [(b"k", b"v")]
    assert unpacked.next_offset == 6
