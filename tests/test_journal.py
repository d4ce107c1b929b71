"""The changelog's encoding of state changes: the exact records, and decoding them back."""

from __future__ import annotations

import orjson

from engine.journal import Journal, dataset_prefix, decode, encode
from engine.state import (
    DatasetWritten,
    FileFired,
    FileRemoved,
    FileWritten,
    FiredMarked,
    UploadClosed,
    UploadsWritten,
)
from engine.vocabulary import Cause

FILE = {"file_id": "f1", "relative_path": "a/1.jpg", "size": None, "tags": [], "metadata": {}}
CHANGES = [
    DatasetWritten("ds_1", "og_1", ["a"], {"k": {"n": 1}}, True),
    FileWritten("ds_1", FILE),
    FileWritten("ds_1", FILE, ("tr_1", "tr_2")),
    FiredMarked("ds_1", "tr_3"),
    FiredMarked("ds_1", "tr_4!retry/1"),
    FileRemoved("ds_1", "f1"),
    FileRemoved("ds_1", "f1", ("tr_1",)),
    UploadsWritten("ds_1", (("tx_1", "ev-3"),), (Cause.FILE_UPLOAD, Cause.FILE_INGEST)),
    UploadClosed("ds_1", "tx_0"),
]


def test_each_change_is_one_record_keyed_by_the_fact_it_sets() -> None:
    assert [encode(change) for change in CHANGES] == [
        (
            b'["ds_1","d",""]',
            b'{"org_id":"og_1","tags":["a"],"metadata":{"k":{"n":1}},"exists":true}',
        ),
        (
            b'["ds_1","f","f1"]',
            b'{"file_id":"f1","relative_path":"a/1.jpg","size":null,"tags":[],"metadata":{}}',
        ),
        (
            b'["ds_1","f","f1"]',
            b'{"record":{"file_id":"f1","relative_path":"a/1.jpg","size":null,"tags":[],'
            b'"metadata":{}},"fired":["tr_1","tr_2"]}',
        ),
        (b'["ds_1","k","tr_3"]', b"1"),
        (b'["ds_1","k","tr_4!retry/1"]', b"1"),
        (b'["ds_1","f","f1"]', None),
        (b'["ds_1","f","f1"]', b'{"record":null,"fired":["tr_1"]}'),
        (
            b'["ds_1","u",""]',
            b'{"open":[["tx_1","ev-3"]],"causes":["file_upload","file_ingest"]}',
        ),
        (b'["ds_1","x","tx_0"]', b"1"),
    ]


def test_decoding_gives_the_changes_back() -> None:
    assert [decode(*encode(change)) for change in CHANGES] == CHANGES


def test_tombstones_this_engine_never_writes_decode_to_nothing() -> None:
    assert decode(b'["ds_1","d",""]', None) is None
    assert decode(b'["ds_1","k","tr_1"]', None) is None


def test_an_earlier_versions_per_file_fired_key_is_read() -> None:
    assert decode(b'["ds_1","k","tr_1/dir/f1"]', b"1") == FileFired("ds_1", "dir/f1", ("tr_1",))


def test_the_journal_keeps_the_last_value_of_each_key_in_first_change_order() -> None:
    journal = Journal()
    journal.extend(CHANGES[:2])
    journal.extend(CHANGES[2:])
    records = [encode(change) for change in CHANGES]
    last = dict(records)
    assert journal.drain() == [(key, last[key]) for key in dict.fromkeys(k for k, _ in records)]
    assert journal.drain() == []


def test_a_dataset_is_the_records_under_its_prefix_only() -> None:
    assert dataset_prefix("ds_1") == b'["ds_1",'
    assert not orjson.dumps(["ds_10", "d", ""]).startswith(dataset_prefix("ds_1"))
