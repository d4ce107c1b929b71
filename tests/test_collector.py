"""The engine's garbage-collector policy, and the fact it rests on: evaluation makes no cycles."""

from __future__ import annotations

import gc
import io
import weakref
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from benchmarks.workload import WorkloadSpec, generate
from engine.actions import ActionCatalog
from engine.api import build_registry
from engine.collector import long_lived, settle
from engine.evaluator import Evaluator
from engine.models import Action, Trigger
from engine.registry import TriggerRegistry, load_registry
from engine.replay import read_events, replay
from engine.sinks import JsonlSink, Origin
from engine.state import StateStore

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_long_lived_pauses_the_collector_then_freezes_what_was_made() -> None:
    assert gc.isenabled()
    frozen = gc.get_freeze_count()
    try:
        with long_lived():
            assert not gc.isenabled()
            made = [[n] for n in range(100)]  # tracked containers, alive afterwards
        assert gc.isenabled()
        assert gc.get_freeze_count() >= frozen + len(made)
    finally:
        gc.unfreeze()


def test_long_lived_turns_the_collector_back_on_after_an_error_and_only_if_it_was() -> None:
    with pytest.raises(RuntimeError), long_lived():
        raise RuntimeError("stop")
    assert gc.isenabled()
    gc.disable()
    try:
        with long_lived():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
        gc.unfreeze()


class _Node:
    """A container that can be part of a cycle and be weakly referenced."""

    def __init__(self) -> None:
        self.other: object = None


def test_settle_reclaims_the_rounds_cyclic_garbage_then_freezes_what_is_alive() -> None:
    gc.collect()
    kept = [[n] for n in range(100)]  # tracked containers, alive afterwards
    first, second = _Node(), _Node()
    first.other, second.other = second, first  # a cycle, dropped: only a collection frees it
    dropped = weakref.ref(first)
    del first, second
    try:
        settle()
        assert dropped() is None
        assert not any(obj is kept[0] for obj in gc.get_objects())  # frozen: out of sight
    finally:
        gc.unfreeze()


def test_replay_evaluates_with_the_collector_paused_and_freezes_the_state_it_built() -> None:
    enabled: list[bool] = []
    line = orjson.dumps(
        {
            "specversion": "1.0",
            "id": "ev-1",
            "type": "file.uploaded",
            "orgid": "og_1",
            "datasetid": "ds_1",
            "data": {"file": {"file_id": "fl_1", "relative_path": "a/b.jpg"}},
        }
    )

    def events() -> Iterator[Origin]:
        enabled.append(gc.isenabled())
        yield Origin("log", 1, line)

    state = StateStore()
    evaluator = Evaluator(TriggerRegistry(ActionCatalog()), state)
    gc.collect()
    try:
        summary = replay(events(), evaluator, JsonlSink())
        assert enabled == [False]
        assert (summary.lines, summary.rejected) == (1, 0)
        assert gc.isenabled()
        ds = state.get("ds_1")
        assert ds is not None
        assert not any(ds.files is obj for obj in gc.get_objects())  # frozen: out of sight
    finally:
        gc.unfreeze()


def _cyclic_garbage_of_replay(registry: TriggerRegistry, events: list[Origin]) -> Counter[str]:
    """The objects in reference cycles that a replay left unreachable, by type."""
    outputs = [io.BytesIO() for _ in range(3)]
    gc.unfreeze()  # earlier tests' frozen garbage (asyncio, aiokafka) goes now, not in the count
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)  # keep what a collection finds, to look at it
    try:
        evaluator = Evaluator(registry, StateStore())
        summary = replay(
            iter(events),
            evaluator,
            JsonlSink(outputs[0], evaluations=outputs[1], rejects=outputs[2]),
        )
        del evaluator
        gc.unfreeze()  # replay froze what it made: cyclic garbage too, out of the collector's sight
        gc.collect()
        garbage = Counter(type(obj).__name__ for obj in gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert summary.lines == len(events)
    assert all(output.getvalue() for output in outputs)  # every kind of output was written
    return garbage


def test_replaying_the_examples_makes_no_cyclic_garbage() -> None:
    registry = build_registry(EXAMPLES / "triggers.yaml", EXAMPLES / "actions")
    events = list(read_events([str(EXAMPLES / "events.jsonl")]))
    assert _cyclic_garbage_of_replay(registry, events) == Counter()


def test_replaying_a_generated_workload_makes_no_cyclic_garbage() -> None:
    workload = generate(WorkloadSpec(triggers=300, orgs=3, events=3000, seed=11))
    catalog = ActionCatalog([Action.model_validate(a) for a in workload.actions])
    triggers = [(Trigger.model_validate(t), "workload") for t in workload.triggers]
    registry = load_registry(triggers, catalog)
    lines = [orjson.dumps(event) for event in workload.events]
    lines.insert(len(lines) // 2, b'{"specversion": "1.0", "id": "bad"}')  # rejected midway
    events = [Origin("workload", n, line) for n, line in enumerate(lines, start=1)]
    assert {e["type"] for e in workload.events} >= {"dataset.deleted", "file.deleted"}
    assert _cyclic_garbage_of_replay(registry, events) == Counter()
