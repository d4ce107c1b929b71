"""The state restored with each dataset's records held encoded is the state that decoding every
record in changelog order makes, and it decides as that state does; a dataset is decoded only
when it is first looked up."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks.workload import generate
from engine.errors import EventError
from engine.evaluator import Evaluator
from engine.events import event_from_dict
from engine.journal import ChangelogRecord, decode, encode
from engine.registry import TriggerRegistry
from engine.restored_state import RestoredStateStore
from engine.state import DatasetState, StateStore
from tests.test_disk_state import SPEC, _outputs, _registry, _with_commands

Json = dict[str, Any]
RESTART_AT = 900  # events before the restart


def _changelog(registry: TriggerRegistry, events: list[Json]) -> list[ChangelogRecord]:
    """Every change the events make, encoded in the order made, as an uncompacted changelog
    holds them: keys written again, files and datasets removed."""
    evaluator = Evaluator(registry, StateStore())
    records = []
    for event in events:
        try:
            result = evaluator.process(event_from_dict(event))
        except EventError:
            continue
        records.extend(encode(change) for change in result.changes)
    return records


def _eager(records: list[ChangelogRecord]) -> StateStore:
    store = StateStore()
    for key, value in records:
        if (change := decode(key, value)) is not None:
            store.restore(change)
    return store


def _held(records: list[ChangelogRecord]) -> RestoredStateStore:
    store = RestoredStateStore()
    for key, value in records:
        store.hold(key, value)
    return store


@pytest.fixture(scope="module")
def workload() -> tuple[TriggerRegistry, list[Json], list[ChangelogRecord]]:
    spec = generate(SPEC)
    registry = _registry(spec.triggers, spec.actions)
    events = _with_commands(spec.events, spec.triggers)
    return registry, events, _changelog(registry, events[:RESTART_AT])


def _facts(ds: DatasetState | None) -> Any:
    return None if ds is None else (ds, list(ds.files), sorted(ds.fired))


def test_held_records_make_the_state_their_decoding_in_order_makes(
    workload: tuple[TriggerRegistry, list[Json], list[ChangelogRecord]],
) -> None:
    _, _, records = workload
    eager, held = _eager(records), _held(records)
    dataset_ids = {decode(key, value).dataset_id for key, value in records}  # type: ignore[union-attr]
    orgs = {ds.org_id for ds in map(eager.get, dataset_ids) if ds is not None}
    assert len(orgs) > 1 and len(held) == len(eager)
    for org in sorted(orgs):
        assert list(held.datasets_of(org)) == list(eager.datasets_of(org))
    for dataset_id in sorted(dataset_ids):
        assert _facts(held.get(dataset_id)) == _facts(eager.get(dataset_id))
    assert any(not ds.exists for ds in map(eager.get, dataset_ids) if ds is not None)


def test_the_held_state_decides_as_the_decoded_one(
    workload: tuple[TriggerRegistry, list[Json], list[ChangelogRecord]],
) -> None:
    registry, events, records = workload
    later = events[RESTART_AT:]
    decided = _outputs(Evaluator(registry, _eager(records)), later, commit_every=1)
    assert _outputs(Evaluator(registry, _held(records)), later, commit_every=1) == decided
    assert any(b"invoked_action" in line for line in decided)


def test_a_dataset_is_decoded_when_first_looked_up_and_not_before(
    workload: tuple[TriggerRegistry, list[Json], list[ChangelogRecord]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from engine import restored_state

    decoded: list[str] = []
    original = restored_state.decoded_dataset

    def counted(dataset_id: str, records: list[ChangelogRecord]) -> DatasetState | None:
        decoded.append(dataset_id)
        return original(dataset_id, records)

    monkeypatch.setattr(restored_state, "decoded_dataset", counted)
    _, _, records = workload
    held = _held(records)
    assert decoded == []
    first = decode(*records[0])
    assert first is not None
    assert held.get(first.dataset_id) is held.get(first.dataset_id)
    assert decoded == [first.dataset_id]
    assert held.get("ds_never_seen") is None
    assert decoded == [first.dataset_id]
