"""The disk-backed state store decides exactly as the in-memory one, whatever its cache holds, and
its commits, checkpoints and reopenings keep exactly what was committed."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson
import pytest

from benchmarks.naive import NaiveTrigger
from benchmarks.workload import WorkloadSpec, generate
from engine.actions import ActionCatalog
from engine.disk_state import (
    Checkpoint,
    DiskStateStore,
    StoreInUse,
    StoreUnreadable,
)
from engine.errors import EventError
from engine.evaluator import Evaluator
from engine.events import Event, event_from_dict
from engine.journal import encode
from engine.models import Action, Trigger
from engine.registry import TriggerRegistry
from engine.service.changelog import distrust, open_store
from engine.state import StateStore
from engine.vocabulary import Cause, EventType, ForEach, Reason

Json = dict[str, Any]
SPEC = WorkloadSpec(triggers=150, orgs=3, events=1_500, seed=2, files_per_dataset=(3, 12))


def _registry(triggers: Iterable[Json], actions: Iterable[Json]) -> TriggerRegistry:
    registry = TriggerRegistry(ActionCatalog([Action.model_validate(a) for a in actions]))
    for trigger in triggers:
        registry.put(Trigger.model_validate(trigger), place="test")
    return registry


def _event(kind: EventType, event_id: str, org_id: str, dataset_id: str | None, data: Json) -> Json:
    event = {"specversion": "1.0", "id": event_id, "type": kind.value, "source": "/test"}
    event |= {"orgid": org_id, "data": data}
    return event if dataset_id is None else event | {"datasetid": dataset_id}


def _backfill(n: int, trigger: Json) -> Json:
    """A backfill of `trigger`, rerun: every dataset of its org is evaluated again."""
    command = {"name": trigger["name"], "request_id": "r", "rerun": True}
    kind = EventType.TRIGGER_BACKFILL_REQUESTED
    return _event(kind, f"backfill-{n}", trigger["org_id"], None, {"trigger": command})


def _invoke(n: int, trigger: Json, upload: Json, idempotency_id: str) -> Json:
    """An invocation of `trigger` on the dataset of `upload` (on its file, for a per-file one)."""
    data: Json = {"trigger": {"name": trigger["name"], "idempotency_id": idempotency_id}}
    if trigger.get("for_each") == ForEach.DATASET_FILE:
        data["file_id"] = upload["data"]["file"]["file_id"]
    kind = EventType.TRIGGER_INVOKE_REQUESTED
    return _event(kind, f"invoke-{n}", upload["orgid"], upload["datasetid"], data)


def _with_commands(events: list[Json], triggers: list[Json]) -> list[Json]:
    """`events` with operator commands among them: every 50th event is followed by an invocation,
    on a file uploaded earlier, of a trigger of its org whose inputs (as the reference reads them)
    select that file, and sent again 25 events later (deduplicated then by what the state
    remembers of its idempotency id); every 300th by a backfill; and a backfill of 40 triggers at
    the end."""
    by_org: dict[str, list[tuple[Json, NaiveTrigger]]] = {}
    for trigger in triggers:
        by_org.setdefault(trigger["org_id"], []).append(
            (trigger, NaiveTrigger.from_definition(trigger))
        )
    uploads: list[Json] = []
    invoked: tuple[Json, Json, str] | None = None
    mixed: list[Json] = []
    for n, event in enumerate(events, 1):
        mixed.append(event)
        if event["type"] == EventType.FILE_UPLOADED:
            uploads.append(event)
        if n % 50 == 0 and uploads:
            upload = uploads[(n * 7) % len(uploads)]
            path = upload["data"]["file"]["relative_path"]
            candidates = by_org[upload["orgid"]]
            pool = [t for t, naive in candidates if naive.spec.match_file(path)]
            pool = pool or [t for t, _ in candidates]
            trigger = pool[n % len(pool)]
            invoked = (trigger, upload, f"key-{n}")
            mixed.append(_invoke(n, *invoked))
        elif n % 50 == 25 and invoked is not None:
            mixed.append(_invoke(n, *invoked))
        if n % 300 == 0:
            mixed.append(_backfill(n, triggers[n % len(triggers)]))
    return mixed + [_backfill(len(events) + n, t) for n, t in enumerate(triggers[:40])]


def _outputs(evaluator: Evaluator, events: list[Json], commit_every: int) -> list[bytes]:
    """Each event's invocations and evaluation records (or its error), as JSON; a disk store
    commits every `commit_every` events."""
    outputs = []
    state = evaluator.state
    for number, event in enumerate(events, 1):
        try:
            result = evaluator.process(event_from_dict(event))
        except EventError as exc:
            outputs.append(str(exc).encode())
            continue
        outputs.extend(r.to_json() for r in result.invocations)
        outputs.extend(map(orjson.dumps, result.evaluations))
        if isinstance(state, DiskStateStore) and number % commit_every == 0:
            state.commit(number, number)
    return outputs


@pytest.fixture(scope="module")
def workload() -> tuple[TriggerRegistry, list[Json]]:
    spec = generate(SPEC)
    return _registry(spec.triggers, spec.actions), _with_commands(spec.events, spec.triggers)


@pytest.fixture(scope="module")
def in_memory(workload: tuple[TriggerRegistry, list[Json]]) -> list[bytes]:
    registry, events = workload
    return _outputs(Evaluator(registry, StateStore()), events, commit_every=1)


@pytest.mark.parametrize(
    ("cache", "commit_every"), [(100_000, 50), (1, 1), (2, 7), (2, 1000), (30, 3)]
)
def test_the_disk_store_decides_as_the_in_memory_one(
    tmp_path: Path,
    workload: tuple[TriggerRegistry, list[Json]],
    in_memory: list[bytes],
    cache: int,
    commit_every: int,
) -> None:
    registry, events = workload
    store = DiskStateStore(tmp_path / "state", cache)
    try:
        on_disk = _outputs(Evaluator(registry, store), events, commit_every)
        store.commit(len(events), len(events))
        assert len(store) <= cache
    finally:
        store.close()
    assert on_disk == in_memory
    assert any(b"invoked_action" in line for line in in_memory)
    outcomes = {
        (record.get("cause"), record.get("reason"), "invocation_id" in record)
        for record in (orjson.loads(line) for line in in_memory if line.startswith(b"{"))
    }
    # As JSON reads them: plain strings (an enum member hashes apart from its value).
    assert {(Cause.BACKFILL.value, None, True), (Cause.MANUAL.value, None, True)} <= outcomes
    assert (Cause.MANUAL.value, Reason.ALREADY_RUN.value, False) in outcomes  # deduplicated


def _states(store: StateStore, dataset_ids: Iterable[str]) -> dict[str, Any]:
    return {dataset_id: store.get(dataset_id) for dataset_id in sorted(dataset_ids)}


def test_a_reopened_store_holds_what_was_committed_and_its_checkpoint(
    tmp_path: Path, workload: tuple[TriggerRegistry, list[Json]]
) -> None:
    registry, events = workload
    committed, uncommitted = events[:800], events[800:900]
    memory = Evaluator(registry, StateStore())
    _outputs(memory, committed, commit_every=1)
    dataset_ids = {e["datasetid"] for e in events if "datasetid" in e}
    expected = _states(memory.state, dataset_ids)

    path = tmp_path / "state"
    store = DiskStateStore(path, cache_datasets=5)
    _outputs(Evaluator(registry, store), committed, commit_every=len(committed))
    store.commit(123, 45)
    _outputs(Evaluator(registry, store), uncommitted, commit_every=len(events))
    store.close()  # the last events never committed: as if the process stopped

    reopened = DiskStateStore(path, cache_datasets=5)
    try:
        checkpoint = reopened.checkpoint
        assert checkpoint is not None
        assert (checkpoint.changelog_offset, checkpoint.input_offset) == (123, 45)
        assert _states(reopened, dataset_ids) == expected
    finally:
        reopened.close()


def test_discard_forgets_what_was_not_committed(
    tmp_path: Path, workload: tuple[TriggerRegistry, list[Json]]
) -> None:
    registry, events = workload
    memory = Evaluator(registry, StateStore())
    _outputs(memory, events[:300], commit_every=1)
    dataset_ids = {e["datasetid"] for e in events if "datasetid" in e}
    store = DiskStateStore(tmp_path / "state", 100)
    try:
        evaluator = Evaluator(registry, store)
        _outputs(evaluator, events[:300], commit_every=300)
        _outputs(evaluator, events[300:600], commit_every=len(events))
        store.discard()
        assert len(store) == 0
        assert _states(store, dataset_ids) == _states(memory.state, dataset_ids)
    finally:
        store.close()


def test_written_records_replace_and_remove_keys_with_the_checkpoint(tmp_path: Path) -> None:
    source = StateStore()
    event = {
        "specversion": "1.0",
        "id": "e1",
        "type": "file.uploaded",
        "source": "/test",
        "orgid": "og_1",
        "datasetid": "ds_1",
        "data": {"file": {"file_id": "fl_1", "relative_path": "a/b.jpg"}},
    }
    source.apply(event_from_dict(event))
    records = [encode(change) for change in source.take_changes()]
    removed = {**event, "id": "e2", "type": "file.deleted", "data": {"file": {"file_id": "fl_1"}}}
    source.apply(event_from_dict(removed))
    tombstones = [encode(change) for change in source.take_changes()]
    assert any(value is None for _, value in tombstones)

    path = tmp_path / "state"
    store = DiskStateStore(path, 100)
    store.write_records(records, 10, 3)
    ds = store.get("ds_1")
    assert ds is not None and set(ds.files) == {"fl_1"}
    store.write_records(tombstones, 12, None)
    store.close()
    reopened = DiskStateStore(path, 100)
    try:
        assert reopened.get("ds_1") == source.get("ds_1")
        checkpoint = reopened.checkpoint
        assert checkpoint is not None
        assert (checkpoint.changelog_offset, checkpoint.input_offset) == (12, None)
    finally:
        reopened.close()


def test_of_two_records_of_one_key_in_a_batch_the_later_counts(tmp_path: Path) -> None:
    source = StateStore()
    file = {"file_id": "fl_1", "relative_path": "a/b.jpg"}
    source.apply(
        event_from_dict(_event(EventType.FILE_UPLOADED, "e1", "og_1", "ds_1", {"file": file}))
    )
    written = [encode(change) for change in source.take_changes()]
    deleted = _event(EventType.FILE_DELETED, "e2", "og_1", "ds_1", {"file": {"file_id": "fl_1"}})
    source.apply(event_from_dict(deleted))
    removed = [encode(change) for change in source.take_changes()]
    store = DiskStateStore(tmp_path / "state", 100)
    try:
        store.write_records(written + removed, 2, 2)  # the file's key: written, then removed
        assert store.get("ds_1") == source.get("ds_1")
        store.write_records(removed + written, 4, 4)  # removed, then written again
        ds = store.get("ds_1")
        assert ds is not None and set(ds.files) == {"fl_1"}
    finally:
        store.close()


def test_a_directory_that_is_no_store_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "state"
    path.mkdir()
    (path / "CURRENT").write_bytes(b"MANIFEST-garbage\n")
    with pytest.raises(StoreUnreadable, match="state store"):
        DiskStateStore(path, 100)
    DiskStateStore.fresh(path, 100).close()  # a fresh one replaces it
    reopened = DiskStateStore(path, 100)
    assert reopened.checkpoint is None
    reopened.close()


def test_a_store_open_elsewhere_is_in_use_and_not_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / "state"
    owner = DiskStateStore(path, 100)
    try:
        owner.apply(_uploaded("ds_1", "fl_1"))
        owner.take_changes()
        owner.commit(5, 9)
        with pytest.raises(StoreInUse, match="give each instance a --state-dir of its own"):
            open_store(path, 100)
        assert owner.get("ds_1") is not None
    finally:
        owner.close()
    reopened = open_store(path, 100)
    try:
        checkpoint = reopened.checkpoint
        assert checkpoint is not None and checkpoint.changelog_offset == 5
        assert reopened.get("ds_1") is not None
    finally:
        reopened.close()


def _uploaded(dataset_id: str, file_id: str) -> Event:
    return event_from_dict(_uploaded_doc(dataset_id, file_id))


def _uploaded_doc(dataset_id: str, file_id: str) -> Json:
    data = {"file": {"file_id": file_id, "relative_path": f"a/{file_id}.jpg"}}
    return _event(EventType.FILE_UPLOADED, f"up-{file_id}", "og_1", dataset_id, data)


@pytest.mark.parametrize(
    ("checkpoint", "now", "expected"),
    [
        (None, 0.0, "it has no checkpoint"),
        (Checkpoint(5, 9, 1000.0), 1010.0, None),
        (Checkpoint(3, 9, 1000.0), 1010.0, "changelog offset 3, is outside offsets 4 to 20"),
        (Checkpoint(21, 9, 1000.0), 1010.0, "changelog offset 21, is outside offsets 4 to 20"),
        (Checkpoint(20, 9, 1000.0), 1000.0 + 86_400, None),
        (Checkpoint(20, 9, 1000.0), 1001.0 + 86_400, "longer than the changelog keeps tombstones"),
    ],
)
def test_a_checkpoint_is_trusted_within_the_changelog_and_its_tombstones_retention(
    checkpoint: Checkpoint | None, now: float, expected: str | None
) -> None:
    reason = distrust(checkpoint, 4, 20, now, tombstones_kept_s=86_400)
    if expected is None:
        assert reason is None
    else:
        assert reason is not None and expected in reason


def test_a_file_marked_fired_stays_in_memory_until_committed(tmp_path: Path) -> None:
    store = DiskStateStore(tmp_path / "state", 1)
    try:
        first = store.apply(_uploaded("ds_1", "fl_1"))
        store.apply(_uploaded("ds_2", "fl_2"))
        store.take_changes()
        store.commit(1, 1)
        store.mark_file_fired(first, "tr_1", "fl_1")  # as a backfill marks a dataset it reads
        store.take_changes()
        store.get("ds_2")  # a cache of one: what is not kept goes
        ds = store.get("ds_1")
        assert ds is not None and ds.has_fired("tr_1", "fl_1")
        store.commit(2, 2)
        store.get("ds_2")
        reloaded = store.get("ds_1")
        assert reloaded is not None and reloaded.has_fired("tr_1", "fl_1")
    finally:
        store.close()


def test_the_cache_holds_at_most_its_files_but_always_the_dataset_used_last(
    tmp_path: Path,
) -> None:
    store = DiskStateStore(tmp_path / "state", cache_datasets=100, cache_files=3)
    try:
        for dataset_id, files in (("ds_1", 2), ("ds_2", 2), ("ds_3", 4)):
            for n in range(files):
                store.apply(_uploaded(dataset_id, f"fl_{dataset_id}_{n}"))
        store.take_changes()
        store.commit(1, 1)  # ds_3 alone is over the budget: it stays, as the one used last
        assert len(store) == 1 and store.get("ds_3") is not None
        assert store.get("ds_1") is not None and store.get("ds_2") is not None
        assert len(store) == 1  # each read back from disk, evicting the one before
        reloaded = store.get("ds_1")
        assert reloaded is not None and len(reloaded.files) == 2
        store.get("ds_2")  # 2 + 2 files: over 3, so ds_1 goes
        assert len(store) == 1
    finally:
        store.close()


def test_a_smaller_file_budget_gives_the_same_decisions(
    tmp_path: Path, workload: tuple[TriggerRegistry, list[Json]]
) -> None:
    registry, events = workload
    want = _outputs(Evaluator(registry, StateStore()), events, commit_every=1)
    store = DiskStateStore(tmp_path / "state", cache_datasets=1000, cache_files=2)
    try:
        assert _outputs(Evaluator(registry, store), events, commit_every=7) == want
    finally:
        store.close()


def test_a_restored_change_is_written_at_the_next_commit(tmp_path: Path) -> None:
    source = StateStore()
    source.apply(_uploaded("ds_1", "fl_1"))
    path = tmp_path / "state"
    store = DiskStateStore(path, 100)
    try:
        for change in source.take_changes():
            store.restore(change)
        store.commit(3, 1)
    finally:
        store.close()
    reopened = DiskStateStore(path, 100)
    try:
        assert reopened.get("ds_1") == source.get("ds_1")
    finally:
        reopened.close()


# Restored records (written without the write-ahead log), then, if asked, a commit (with it);
# then the process kills itself, as kill -9 would: nothing is closed or flushed.
_KILLED_AFTER_WRITING = """
import os, signal, sys
from pathlib import Path
from engine.disk_state import DiskStateStore
from engine.journal import encode
from engine.state import StateStore
from tests.test_disk_state import _uploaded

store = DiskStateStore(Path(sys.argv[1]), 100)
source = StateStore()
for offset, file_id in ((10, "fl_1"), (20, "fl_2")):
    source.apply(_uploaded("ds_1", file_id))
    store.write_records([encode(c) for c in source.take_changes()], offset, offset)
if sys.argv[2] == "commit":
    store.apply(_uploaded("ds_1", "fl_3"))
    store.take_changes()
    store.commit(30, 30)
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.parametrize("then", ["commit", "nothing"])
def test_a_store_killed_after_restoring_holds_what_its_checkpoint_says(
    tmp_path: Path, then: str
) -> None:
    path = tmp_path / "state"
    root = Path(__file__).resolve().parent.parent
    killed = subprocess.run(
        [sys.executable, "-c", _KILLED_AFTER_WRITING, str(path), then], cwd=root, check=False
    )
    assert killed.returncode == -signal.SIGKILL

    reopened = DiskStateStore(path, 100)
    try:
        checkpoint = reopened.checkpoint
        offset = None if checkpoint is None else checkpoint.changelog_offset
        ds = reopened.get("ds_1")
        files = set() if ds is None else set(ds.files)
    finally:
        reopened.close()
    # Whatever was lost, the checkpoint covers exactly the records that survived.
    expected = {None: set(), 10: {"fl_1"}, 20: {"fl_1", "fl_2"}, 30: {"fl_1", "fl_2", "fl_3"}}
    assert files == expected[offset]
    if then == "commit":  # the commit went through the log: it and all before it survive
        assert offset == 30


def test_an_orgs_datasets_are_read_one_at_a_time_and_no_other_orgs_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = DiskStateStore(tmp_path / "state", cache_datasets=1)
    try:
        for n in range(6):  # the odd datasets are another org's
            doc = _uploaded_doc(f"ds_{n}", f"fl_{n}")
            store.apply(event_from_dict({**doc, "orgid": "og_2" if n % 2 else "og_1"}))
        store.take_changes()
        store.commit(1, 1)
        loaded: list[str] = []
        load = store._load
        monkeypatch.setattr(store, "_load", lambda d: loaded.append(d) or load(d))

        found = []
        for ds in store.datasets_of("og_1"):
            found.append(ds.dataset_id)
            assert len(store) <= 2  # the cache's one, and the one used last
        assert found == ["ds_0", "ds_2", "ds_4"]
        assert set(loaded) <= {"ds_0", "ds_2", "ds_4"}
    finally:
        store.close()
