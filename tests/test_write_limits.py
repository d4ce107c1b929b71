"""The record batch limits of the written topics, and what a compressed large record weighs."""

from __future__ import annotations

from typing import get_args

from engine.service.limits import CODECS, DEFAULT_MAX_MESSAGE_BYTES, WriteLimits
from engine.service.settings import Compression

MIB = 1 << 20
FILE_LIST = b'{"file_id":"fl_000001","relative_path":"run/cam_front/000001.jpg"},' * 25_000


def test_every_compression_setting_has_a_codec() -> None:
    assert set(CODECS) == set(get_args(Compression))


def test_the_smaller_of_the_request_and_topic_limits_wins() -> None:
    limits = WriteLimits(8 * MIB, {"outputs": 4 * MIB, "state": 16 * MIB})

    assert limits.limit("outputs") == 4 * MIB
    assert limits.limit("state") == 8 * MIB
    assert limits.limit("unknown") == DEFAULT_MAX_MESSAGE_BYTES


def test_a_compressed_record_is_measured_as_the_producer_sends_it() -> None:
    plain, gzip = WriteLimits(8 * MIB, {}, "none"), WriteLimits(8 * MIB, {}, "gzip")

    assert plain.compressed_size(b"ds_1", FILE_LIST, []) > len(FILE_LIST) > MIB
    compressed = gzip.compressed_size(b"ds_1", FILE_LIST, [])
    assert compressed < MIB
    batch = gzip.compressed_batch()
    batch.append(timestamp=None, key=b"ds_1", value=FILE_LIST, headers=[])
    batch._set_producer_state(producer_id=7, producer_epoch=0, base_sequence=0)  # as the sender
    assert len(batch._build()) == compressed


def test_the_producer_batch_is_capped_below_every_topic_written() -> None:
    limits = WriteLimits(8 * MIB, {"outputs": 64 * 1024, "state": MIB})

    assert limits.producer_batch_bytes(512 * 1024) == 64 * 1024
    assert limits.producer_batch_bytes(16 * 1024) == 16 * 1024
