"""How large a record batch the engine may write to each topic, and how large one would be.

A topic takes record batches up to its `max.message.bytes` (their size as sent), and the engine
sends none larger than `--producer-max-request-bytes`: the smaller of the two is the topic's limit,
known from the start. Batches go uncompressed, capped below every limit; a record too large for
its topic as it is gets a batch of its own, compressed with `--large-record-compression`, and is
measured by building that batch exactly as the producer will.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.record.default_records import DefaultRecordBatchBuilder

Headers = list[tuple[str, bytes | None]]  # a header may have no value (a record's, kept as it came)

# Kafka's default `message.max.bytes`, which a topic's `max.message.bytes` inherits.
DEFAULT_MAX_MESSAGE_BYTES: Final = 1_048_588
# The record batch attribute of each codec.
CODECS: Final[Mapping[str, int]] = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
_MAGIC = 2  # the record batch format of every broker this engine supports


@dataclass(frozen=True, slots=True)
class WriteLimits:
    max_request_bytes: int
    max_message_bytes: Mapping[str, int]  # of each topic written, as the broker reported it
    compression: str = "none"  # of a record too large for its topic uncompressed

    def limit(self, topic: str) -> int:
        """The largest record batch, as sent, that `topic` takes from this engine."""
        return min(
            self.max_request_bytes, self.max_message_bytes.get(topic, DEFAULT_MAX_MESSAGE_BYTES)
        )

    def producer_batch_bytes(self, preferred: int) -> int:
        """The producer's batch size: `preferred`, capped so that a full batch fits every topic
        written (a record larger than a batch gets a batch of its own)."""
        return min([preferred, *map(self.limit, self.max_message_bytes)])

    def compressed_size(self, key: bytes | None, value: bytes | None, headers: Headers) -> int:
        """The bytes of a compressed record batch holding only this record, as it is sent."""
        builder = DefaultRecordBatchBuilder(_MAGIC, CODECS[self.compression], 1, -1, -1, -1, 0)
        builder.append(0, None, key, value, headers)  # the first record always fits
        return len(builder.build())

    def compressed_batch(self) -> BatchBuilder:
        """An empty batch of the producer's transactions, compressed: for one large record."""
        return BatchBuilder(0, CODECS[self.compression], is_transactional=True)
