"""Differential test: the indexed engine and the naive baseline decide the same invocations.

The baseline (`benchmarks.naive`) loops over every trigger of the org with `pathspec` and condition
interpreters written independently of `engine/` and `conditions/`; the engine goes through its
trigger index and compiled conditions. For each event, both must decide the same invocations
(trigger, dataset, file, files), in the same order.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.naive import Invocation, NaiveEngine
from benchmarks.workload import WorkloadSpec, generate
from engine.actions import ActionCatalog
from engine.evaluator import Evaluator
from engine.events import event_from_dict
from engine.models import Action, Trigger
from engine.registry import TriggerRegistry
from engine.state import StateStore

Json = dict[str, Any]


def engine_for(triggers: Iterable[Json], actions: Iterable[Json]) -> Evaluator:
    registry = TriggerRegistry(ActionCatalog([Action.model_validate(a) for a in actions]))
    for trigger in triggers:
        registry.put(Trigger.model_validate(trigger), place="test")
    return Evaluator(registry, StateStore(), record_evaluations=False)


def decided_by_both(
    triggers: list[Json], actions: list[Json], events: list[Json]
) -> list[tuple[Json, list[Invocation], list[Invocation]]]:
    """(event, engine's invocations, baseline's invocations) for each event, in order."""
    engine = engine_for(triggers, actions)
    naive = NaiveEngine(triggers)
    decided = []
    for event in events:
        requests = engine.process(event_from_dict(event)).invocations
        decided.append(
            (event, [Invocation.from_request(r) for r in requests], naive.process(event))
        )
    return decided


def assert_same(decided: list[tuple[Json, list[Invocation], list[Invocation]]]) -> None:
    for event, by_engine, by_naive in decided:
        assert by_engine == by_naive, f"event {event['id']} ({event['type']}) in {event['data']}"


@pytest.mark.parametrize(
    "spec",
    [
        WorkloadSpec(triggers=60, orgs=1, events=1_200, seed=1),
        WorkloadSpec(triggers=150, orgs=3, events=1_200, seed=2),
        WorkloadSpec(triggers=300, orgs=4, events=1_200, seed=3),
        WorkloadSpec(triggers=240, orgs=2, events=1_200, seed=4, files_per_dataset=(3, 12)),
    ],
    ids=lambda spec: f"{spec.triggers}t-{spec.orgs}o-seed{spec.seed}",
)
def test_engine_and_baseline_agree_on_generated_workloads(spec: WorkloadSpec) -> None:
    workload = generate(spec)
    decided = decided_by_both(workload.triggers, workload.actions, workload.events)

    assert_same(decided)
    invocations = [i for _, by_engine, _ in decided for i in by_engine]
    by_event_type = {event["type"] for event, by_engine, _ in decided if by_engine}
    assert {i.file_id is None for i in invocations} == {True, False}  # both granularities fired
    assert {"file.uploaded", "file.ingested", "dataset.metadata_updated"} <= by_event_type


def test_generated_workloads_cover_both_dialects_negations_and_disabled_triggers() -> None:
    triggers = generate(WorkloadSpec(triggers=300, orgs=4, events=10, seed=3)).triggers
    conditions = [t["condition"] for t in triggers if "condition" in t]

    assert any("operator" in c or "field" in c for c in conditions)  # Roboto
    assert any(
        next(iter(c)) in ("and", "or", "!", "in", "==", ">") for c in conditions
    )  # JsonLogic
    assert any("required_tag" in t for t in triggers)
    assert any("required_metadata" in t for t in triggers)
    assert any(p.startswith("!") for t in triggers for p in t["required_inputs"])
    assert any(t.get("enabled") is False for t in triggers)


# -- random globs: the index against pathspec on patterns the generator never writes ------------

SEGMENTS = ("a", "b", "cam", "logs", "x.jpg", "y.csv", "*", "**", "?", "[ab]", "*.jpg", "c*")
PATH_PARTS = ("a", "b", "cam", "logs", "x.jpg", "y.csv", "ab", "c1", "z.jpg")


@st.composite
def patterns(draw: st.DrawFn, *, negated: bool) -> str:
    body = "/".join(draw(st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=3)))
    anchor = "/" if draw(st.booleans()) else ""
    below = "/" if draw(st.booleans()) else ""
    return ("!" if negated else "") + anchor + body + below


@st.composite
def triggers(draw: st.DrawFn, index: int) -> Json:
    positives = draw(st.lists(patterns(negated=False), min_size=1, max_size=2))
    negations = draw(st.lists(patterns(negated=True), max_size=1))
    return {
        "org_id": "og_1",
        "name": f"t{index:03d}",
        "action": "detect",
        "required_inputs": positives + negations,
        "for_each": draw(st.sampled_from(["dataset", "dataset_file"])),
        "causes": ["file_upload", "dataset_metadata_update"],
    }


def _events(paths: list[str], update_after: int) -> list[Json]:
    def event(n: int, event_type: str, data: Json) -> Json:
        return {
            "specversion": "1.0",
            "id": f"ev-{n}",
            "type": event_type,
            "source": "/orgs/og_1",
            "orgid": "og_1",
            "datasetid": "ds_1",
            "data": data,
        }

    dataset = {"dataset_id": "ds_1", "org_id": "og_1", "tags": [], "metadata": {}}
    events = [event(0, "dataset.created", {"dataset": dataset})]
    for n, path in enumerate(paths, start=1):
        events.append(
            event(n, "file.uploaded", {"file": {"file_id": f"fl_{n}", "relative_path": path}})
        )
        if n == update_after:
            events.append(event(10_000, "dataset.metadata_updated", {"dataset": dataset}))
    return events


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    definitions=st.integers(min_value=1, max_value=12).flatmap(
        lambda n: st.tuples(*(triggers(i) for i in range(n)))
    ),
    paths=st.lists(
        st.lists(st.sampled_from(PATH_PARTS), min_size=1, max_size=4).map("/".join),
        min_size=1,
        max_size=8,
        unique=True,
    ),
    update_after=st.integers(min_value=1, max_value=8),
)
def test_engine_and_baseline_agree_on_random_globs(
    definitions: tuple[Json, ...], paths: list[str], update_after: int
) -> None:
    actions = [{"org_id": "og_1", "name": "detect", "image_uri": "registry.example.com/detect:1"}]

    assert_same(decided_by_both(list(definitions), actions, _events(paths, update_after)))
