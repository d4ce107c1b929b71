"""Restoring a changelog, into memory and into a disk store, against the real broker: every record
read, and the collector paused throughout (a restore builds state that lives on, or holds each
fetched batch until it is written: collecting meanwhile would walk them again and again)."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from engine.disk_state import DiskStateStore
from engine.journal import encode
from engine.restored_state import RestoredStateStore
from engine.service.changelog import offset_record, restore, restore_stores
from engine.service.changelog_reader import ChangelogReader
from engine.state import DatasetWritten, FileWritten
from tests.kafka.conftest import CreateTopics
from tests.kafka.helpers import wait_last_stable

FILES = 3_000
DATASETS = 3


def _records() -> Iterator[tuple[bytes, bytes | None]]:
    for d in range(DATASETS):
        yield encode(DatasetWritten(f"ds_{d}", "og_1", [], {}, True))
        for f in range(FILES // DATASETS):
            record = {"file_id": f"fl_{d}_{f}", "relative_path": f"a/{f}.jpg"}
            yield encode(FileWritten(f"ds_{d}", record, ("tr_1",)))
    yield offset_record(42)


async def _changelog(bootstrap: str, create_topics: CreateTopics, topic: str) -> int:
    await create_topics({topic: 1}, compacted=True)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id=f"{topic}-writer")
    await producer.start()
    written = 0
    try:
        async with producer.transaction():
            for key, value in _records():
                await producer.send(topic, value, key=key, partition=0)
                written += 1
    finally:
        await producer.stop()
    return written


def _collector_states(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether the collector was on at each record restored into memory and each batch written to
    a disk store."""
    seen: list[bool] = []
    for cls, name in ((RestoredStateStore, "hold"), (DiskStateStore, "write_records")):
        original = getattr(cls, name)

        def watched(self: Any, *args: Any, _original: Any = original) -> None:
            seen.append(gc.isenabled())
            _original(self, *args)

        monkeypatch.setattr(cls, name, watched)
    return seen


async def test_a_restore_reads_every_record_with_the_collector_paused(
    kafka_bootstrap: str,
    create_topics: CreateTopics,
    unique_name: Callable[[str], str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    topic = unique_name("changelog")
    written = await _changelog(kafka_bootstrap, create_topics, topic)
    collector_on = _collector_states(monkeypatch)
    try:
        async with ChangelogReader({"bootstrap_servers": kafka_bootstrap}, topic, 1) as changelog:
            await wait_last_stable(changelog, {0: written + 1})  # past the commit marker
            states = await restore(changelog, [0], {})
            restored = len(collector_on)
            store = DiskStateStore(tmp_path / "state", cache_datasets=1)
            stored = await restore_stores(changelog, {0: store}, tombstones_kept_s=3600)
    finally:
        gc.unfreeze()  # what the restores froze goes back to the collector's sight
    try:
        assert gc.isenabled()
        assert restored == written - 1  # every record but the offset record
        assert len(collector_on) > restored  # then at least one batch written to disk
        assert not any(collector_on)
        for state in (states[0], stored[0]):
            assert state.restored_records == written
            assert state.input_offset == 42
            for d in range(DATASETS):
                ds = state.state.get(f"ds_{d}")
                assert ds is not None and len(ds.files) == FILES // DATASETS
                assert ds.has_fired("tr_1", f"fl_{d}_0")
    finally:
        stored[0].state.close()  # type: ignore[attr-defined]
