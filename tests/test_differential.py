"""Differential test: the engine decides exactly the invocations of the literal rule.

The reference (`benchmarks.naive`) applies the evaluation rule as the specification words it, with
`pathspec` and condition interpreters written independently of `engine/` and `conditions/`, looping
over every trigger of the org; the engine goes through its trigger index, compiled conditions and
upload bookkeeping. For each event, both must decide the same invocations (trigger, dataset, file,
files, cause, event), in the same order.

The reference is first checked on its own, against short scenarios whose invocations are worked out
by hand from the specification (§4.1, §4.2).
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
from engine.vocabulary import LISTENABLE_CAUSES, Cause

Json = dict[str, Any]

ACTIONS = [
    {"org_id": org, "name": "detect", "image_uri": "registry.example.com/detect:1"}
    for org in ("og_1", "og_2")
]
UPLOAD, INGEST = Cause.FILE_UPLOAD.value, Cause.FILE_INGEST.value
DATASET_UPDATE = Cause.DATASET_METADATA_UPDATE.value


def engine_for(triggers: Iterable[Json], actions: Iterable[Json]) -> Evaluator:
    registry = TriggerRegistry(ActionCatalog([Action.model_validate(a) for a in actions]))
    for trigger in triggers:
        registry.put(Trigger.model_validate(trigger), place="test")
    return Evaluator(registry, StateStore(), record_evaluations=False)


def decided_by_both(
    triggers: list[Json], actions: list[Json], events: list[Json]
) -> list[tuple[Json, list[Invocation], list[Invocation]]]:
    """(event, engine's invocations, reference's invocations) for each event, in order."""
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


# -- the reference itself, on scenarios worked out by hand -------------------------------------


def _trigger(name: str, inputs: list[str], **fields: Any) -> Json:
    return {"org_id": "og_1", "name": name, "action": "detect", "required_inputs": inputs, **fields}


def _event(
    event_id: str, event_type: str, data: Json | None = None, transaction: str | None = None
) -> Json:
    event = {
        "specversion": "1.0",
        "id": event_id,
        "type": event_type,
        "source": "/orgs/og_1",
        "orgid": "og_1",
        "datasetid": "ds_1",
        "data": data or {},
    }
    if transaction is not None:
        event["transactionid"] = transaction
    return event


def _record(*tags: str, **metadata: Any) -> Json:
    return {"dataset_id": "ds_1", "org_id": "og_1", "tags": list(tags), "metadata": metadata}


def _upload(
    event_id: str, file_id: str, path: str, transaction: str | None = None, **data: Any
) -> Json:
    file = {"file_id": file_id, "relative_path": path}
    return _event(event_id, "file.uploaded", {"file": file, **data}, transaction)


def _completed(event_id: str, transaction: str, **data: Any) -> Json:
    return _event(event_id, "dataset.upload_completed", data, transaction)


def _for_dataset(name: str, files: tuple[str, ...], cause: str, event_id: str) -> Invocation:
    return Invocation("og_1", name, "ds_1", None, files, cause, event_id)


def _for_file(name: str, file_id: str, cause: str, event_id: str) -> Invocation:
    return Invocation("og_1", name, "ds_1", file_id, (file_id,), cause, event_id)


def _by_reference(triggers: list[Json], events: list[Json]) -> list[list[Invocation]]:
    naive = NaiveEngine(triggers)
    return [naive.process(event) for event in events]


def test_reference_fires_per_file_and_per_dataset_triggers_once() -> None:
    triggers = [
        _trigger(
            "front",
            ["**/cam_front/*.jpg", "!**/tmp/**"],
            for_each="dataset_file",
            required_tag=["prod"],
        ),
        _trigger("summary", ["*.mcap", "metadata.json"]),
    ]
    events = [
        _event("e0", "dataset.created", {"dataset": _record("prod")}),
        _upload("e1", "fl_1", "r1/cam_front/1.jpg"),
        _upload("e2", "fl_2", "r1/tmp/cam_front/2.jpg"),
        _upload("e3", "fl_3", "r1/run.mcap"),  # metadata.json is still missing
        _upload("e4", "fl_4", "r1/metadata.json"),
        _event("e5", "dataset.metadata_updated", {"dataset": _record("prod")}),
    ]

    assert _by_reference(triggers, events) == [
        [],
        [_for_file("front", "fl_1", UPLOAD, "e1")],
        [],
        [],
        [_for_dataset("summary", ("fl_4", "fl_3"), UPLOAD, "e4")],  # in path order
        [],  # both fired already
    ]


def test_reference_a_snapshot_on_a_file_the_trigger_ignores_completes_it() -> None:
    # The specification's example: the bag is there, the robot is not yet an arm; the upload of a
    # text file that the trigger does not match sets `robot: arm_2`, and the trigger fires then.
    triggers = [
        _trigger(
            "arm-bags",
            ["*.bag"],
            condition={"field": "metadata.robot", "comparator": "LIKE", "value": "arm\\_%"},
        )
    ]
    events = [
        _event("e0", "dataset.created", {"dataset": _record()}),
        _upload("e1", "fl_1", "0001.bag"),
        _upload("e2", "fl_2", "0002.txt", dataset=_record(robot="arm_2")),
        _upload("e3", "fl_3", "0003.bag"),
    ]

    assert _by_reference(triggers, events) == [
        [],
        [],
        [_for_dataset("arm-bags", ("fl_1",), UPLOAD, "e2")],
        [],
    ]


def test_reference_fires_at_the_next_listened_cause_after_an_unlistened_change() -> None:
    triggers = [_trigger("prod-bags", ["*.bag"], causes=[UPLOAD], required_tag=["prod"])]
    events = [
        _upload("e1", "fl_1", "a.bag"),
        _event("e2", "dataset.metadata_updated", {"dataset": _record("prod")}),
        _event("e3", "file.ingested", {"file": {"file_id": "fl_1"}}),
        _upload("e4", "fl_2", "notes.txt"),
    ]

    assert _by_reference(triggers, events) == [
        [],
        [],  # satisfied now, but the trigger does not listen to dataset metadata updates
        [],  # nor to ingestion
        [_for_dataset("prod-bags", ("fl_1",), UPLOAD, "e4")],
    ]


def test_reference_one_upload_is_one_unit() -> None:
    # The specification's example: 500 frames and 3 bags in one transaction give one run-summary
    # invocation, with all 503 files, at the completion; a per-file trigger is never deferred.
    triggers = [
        _trigger("run-summary", ["frames/*.jpg", "*.bag"]),
        _trigger("frame-detect", ["frames/*.jpg"], for_each="dataset_file"),
    ]
    paths = {f"fl_f{n:03d}": f"frames/{n:06d}.jpg" for n in range(500)}
    paths |= {f"fl_b{n}": f"bags/{n}.bag" for n in range(3)}
    uploads = [_upload(f"e_{file_id}", file_id, path, "up_1") for file_id, path in paths.items()]
    events = [*uploads, _completed("e_done", "up_1", upload={"file_count": 503})]

    decided = _by_reference(triggers, events)

    in_path_order = tuple(sorted(paths, key=paths.__getitem__))
    assert decided[-1] == [_for_dataset("run-summary", in_path_order, UPLOAD, "e_done")]
    assert len(in_path_order) == 503
    assert decided[:-1] == [
        [_for_file("frame-detect", event["data"]["file"]["file_id"], UPLOAD, event["id"])]
        if event["data"]["file"]["relative_path"].startswith("frames/")
        else []
        for event in uploads
    ]


def test_reference_overlapping_uploads_wait_for_the_last_completion() -> None:
    triggers = [_trigger("prod-bags", ["*.bag"], required_tag=["prod"])]
    events = [
        _upload("e1", "fl_1", "a.bag", "tx_a"),
        _upload("e2", "fl_2", "b.bag", "tx_b"),
        _completed("e3", "tx_a", dataset=_record("prod")),  # tx_b is still open
        _upload("e4", "fl_3", "c.txt", "tx_b"),
        _completed("e5", "tx_b"),
    ]

    assert _by_reference(triggers, events) == [
        [],
        [],
        [],
        [],
        [_for_dataset("prod-bags", ("fl_1", "fl_2"), UPLOAD, "e5")],
    ]


def test_reference_unknown_and_closed_completions_only_apply_their_snapshot() -> None:
    triggers = [_trigger("prod-bags", ["*.bag"], required_tag=["prod"])]
    events = [
        _upload("e1", "fl_1", "a.bag", "tx_a"),
        _completed("e2", "tx_a"),  # evaluated: the condition is false
        _completed("e3", "tx_a", dataset=_record("prod")),  # closed: the snapshot only
        _completed("e4", "tx_never_opened"),
        _upload("e5", "fl_2", "notes.txt", "tx_a"),  # a closed id does not reopen
    ]

    assert _by_reference(triggers, events) == [
        [],
        [],
        [],
        [],
        [_for_dataset("prod-bags", ("fl_1",), UPLOAD, "e5")],
    ]


def test_reference_deleting_a_dataset_discards_its_open_uploads() -> None:
    triggers = [
        _trigger("bags", ["*.bag"]),
        _trigger("each-bag", ["*.bag"], for_each="dataset_file"),
    ]
    events = [
        _upload("e1", "fl_1", "a.bag", "tx_a"),
        _event("e2", "dataset.deleted"),
        _completed("e3", "tx_a"),  # discarded by the deletion: nothing to evaluate
        _upload("e4", "fl_1", "a.bag"),  # fired keys survive the deletion
        _upload("e5", "fl_2", "b.bag", "tx_a"),  # behaves as an upload without a transaction
    ]

    assert _by_reference(triggers, events) == [
        [_for_file("each-bag", "fl_1", UPLOAD, "e1")],
        [],
        [],
        [_for_dataset("bags", ("fl_1",), UPLOAD, "e4")],
        [_for_file("each-bag", "fl_2", UPLOAD, "e5")],
    ]


def test_reference_fires_under_the_first_remembered_cause_it_is_satisfied_under() -> None:
    both = [UPLOAD, INGEST]
    prod = ["prod"]
    triggers = [
        _trigger("any-bag", ["*.bag"], causes=both, required_tag=prod),
        _trigger("each-txt", ["*.txt"], for_each="dataset_file", causes=[UPLOAD]),
        _trigger("ingested-txt", ["*.txt"], causes=[INGEST], required_tag=prod),
        _trigger("late-txt", ["*.txt"], causes=both, required_tag=prod),
        _trigger("off", ["*.bag"], causes=both, enabled=False),
        _trigger("on-update", ["*.bag"], causes=[DATASET_UPDATE], required_tag=prod),
    ]
    ingested = {"file": {"file_id": "fl_1"}}
    events = [
        _upload("e1", "fl_1", "a.bag"),  # no tag yet: nothing fires
        _event("e2", "file.ingested", ingested, "tx_a"),  # opens the upload: file_ingest first
        _upload("e3", "fl_2", "b.txt", "tx_a"),  # then file_upload
        _completed("e4", "tx_a", dataset=_record("prod")),
        _event("e5", "dataset.metadata_updated", {"dataset": _record("prod")}),
    ]

    assert _by_reference(triggers, events) == [
        [],
        [],
        [_for_file("each-txt", "fl_2", UPLOAD, "e3")],  # per-file triggers are not deferred
        [
            _for_dataset("any-bag", ("fl_1",), INGEST, "e4"),
            # b.txt is not ingested: not satisfied under file_ingest, satisfied under file_upload
            _for_dataset("late-txt", ("fl_2",), UPLOAD, "e4"),
        ],
        [_for_dataset("on-update", ("fl_1",), DATASET_UPDATE, "e5")],
    ]


# -- generated workloads -----------------------------------------------------------------------

SPECS = [
    WorkloadSpec(triggers=60, orgs=1, events=1_200, seed=1),
    WorkloadSpec(triggers=150, orgs=3, events=1_200, seed=2),
    WorkloadSpec(triggers=300, orgs=4, events=1_200, seed=3),
    WorkloadSpec(triggers=240, orgs=2, events=1_200, seed=4, files_per_dataset=(3, 12)),
]


@pytest.mark.parametrize(
    "spec", SPECS, ids=lambda spec: f"{spec.triggers}t-{spec.orgs}o-seed{spec.seed}"
)
def test_engine_and_reference_agree_on_generated_workloads(spec: WorkloadSpec) -> None:
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
    for single in ([INGEST], [DATASET_UPDATE], [Cause.FILE_METADATA_UPDATE.value]):
        assert {t["for_each"] for t in triggers if t["causes"] == single} == {
            "dataset",
            "dataset_file",
        }


def _upload_story(events: list[Json]) -> set[str]:
    """What happens to the uploads of an event log, told from the events alone."""
    seen: set[str] = set()
    open_on: dict[str, set[str]] = {}  # dataset -> transactions open
    closed_on: dict[str, set[str]] = {}
    for event in events:
        transaction, data = event.get("transactionid"), event["data"]
        now_open = open_on.setdefault(event["datasetid"], set())
        closed = closed_on.setdefault(event["datasetid"], set())
        if event["type"] == "dataset.deleted" and now_open:
            seen.add("deleted while uploading")
            closed |= now_open
            now_open.clear()
        elif event["type"] == "dataset.upload_completed":
            if transaction not in now_open:
                seen.add("completed unknown or closed")
            elif len(now_open) > 1:
                seen.add("completed while another is open")
            else:
                seen.add("last completed")
            if "dataset" in data:
                seen.add("completion with a snapshot")
            now_open.discard(transaction)
            closed.add(transaction)
        elif transaction in closed:
            seen.add("file event naming a closed upload")
        elif transaction is not None:
            now_open.add(transaction)
        if "file" in data and "dataset" in data:
            seen.add("file event with a snapshot")
        if len(now_open) > 1:
            seen.add("two open at once")
    if any(open_on.values()):
        seen.add("open at the end")
    return seen


def test_generated_workloads_cover_uploads() -> None:
    stories = [_upload_story(generate(spec).events) for spec in SPECS]

    assert set.union(*stories) == {
        "deleted while uploading",
        "completed while another is open",
        "last completed",
        "completed unknown or closed",
        "completion with a snapshot",
        "file event naming a closed upload",
        "file event with a snapshot",
        "two open at once",
        "open at the end",
    }
    assert all("open at the end" in story and "two open at once" in story for story in stories)


def test_generated_dataset_triggers_fire_at_files_they_do_not_match() -> None:
    """A file event (or its snapshot) completes a dataset trigger whose inputs its file does not
    match: the file is not among the invocation's files."""
    fired_by_another_file = 0
    for spec in SPECS:
        workload = generate(spec)
        naive = NaiveEngine(workload.triggers)
        for event in workload.events:
            file = event["data"].get("file")
            for invocation in naive.process(event):
                dataset_level = invocation.file_id is None and file is not None
                fired_by_another_file += dataset_level and file["file_id"] not in invocation.files

    assert fired_by_another_file > 0


# -- random scenarios: every cause, both granularities, uploads --------------------------------

PATHS = ("a.bag", "b.bag", "frames/1.jpg", "frames/2.jpg", "notes.txt", "tmp/x.bag")
POSITIVE_PATTERNS = ("*.bag", "frames/*.jpg", "**/*.txt", "frames/", "*.jpg", "tmp/")
TRANSACTIONS = ("tx1", "tx2", "tx3")
DATASETS = {"ds_1": "og_1", "ds_2": "og_1", "ds_3": "og_2"}
DATASET_CONDITIONS: tuple[Json, ...] = (
    {"field": "tags", "comparator": "CONTAINS", "value": "prod"},
    {"field": "metadata.robot", "comparator": "LIKE", "value": "arm\\_%"},
    {
        "operator": "OR",
        "conditions": [
            {"field": "metadata.speed", "comparator": "GREATER_THAN", "value": 2},
            {"field": "dataset.tags", "comparator": "CONTAINS", "value": "night"},
        ],
    },
    {"operator": "NOT", "conditions": [{"field": "metadata.robot", "comparator": "EXISTS"}]},
    {"in": ["prod", {"var": "dataset.tags"}]},
    {
        "and": [
            {">": [{"var": "dataset.metadata.speed"}, 2]},
            {"!": {"var": "dataset.metadata.robot"}},
        ]
    },
    {"!=": [{"var": "event.type"}, "dataset.upload_completed"]},
)
FILE_CONDITIONS: tuple[Json, ...] = (
    {"field": "file.tags", "comparator": "CONTAINS", "value": "keyframe"},
    {"field": "file.ingestion_status", "comparator": "EQUALS", "value": "ingested"},
    {"or": [{"in": ["keyframe", {"var": "file.tags"}]}, {"in": ["prod", {"var": "dataset.tags"}]}]},
)


@st.composite
def scenario_triggers(draw: st.DrawFn) -> list[Json]:
    count = draw(st.integers(min_value=1, max_value=6))
    triggers = []
    for number in range(count):
        for_each = draw(st.sampled_from(["dataset", "dataset_file"]))
        positives = draw(st.lists(st.sampled_from(POSITIVE_PATTERNS), min_size=1, max_size=2))
        conditions = DATASET_CONDITIONS + (FILE_CONDITIONS if for_each == "dataset_file" else ())
        trigger = {
            "org_id": draw(st.sampled_from(["og_1", "og_1", "og_2"])),
            "name": f"t{number}",
            "action": "detect",
            "required_inputs": positives + draw(st.lists(st.just("!tmp/**"), max_size=1)),
            "for_each": for_each,
            "causes": draw(
                st.lists(
                    st.sampled_from([c.value for c in LISTENABLE_CAUSES]), min_size=1, unique=True
                )
            ),
            "enabled": draw(st.sampled_from([True, True, True, False])),
        }
        condition = draw(st.none() | st.sampled_from(conditions))
        if condition is not None:
            trigger["condition"] = condition
        triggers.append(trigger)
    return triggers


@st.composite
def snapshots(draw: st.DrawFn, dataset_id: str) -> Json:
    metadata = {}
    if draw(st.booleans()):
        metadata["robot"] = draw(st.sampled_from(["arm_1", "arm_2", "cart"]))
    if draw(st.booleans()):
        metadata["speed"] = draw(st.sampled_from([1, "3", 5]))
    tags = draw(st.lists(st.sampled_from(["prod", "night"]), unique=True))
    return {
        "dataset_id": dataset_id,
        "org_id": DATASETS[dataset_id],
        "tags": tags,
        "metadata": metadata,
    }


EVENT_TYPES = (
    "file.uploaded",
    "file.uploaded",
    "file.uploaded",
    "file.ingested",
    "file.ingested",
    "file.metadata_updated",
    "file.deleted",
    "dataset.metadata_updated",
    "dataset.upload_completed",
    "dataset.upload_completed",
    "dataset.deleted",
    "dataset.created",
)


@st.composite
def scenario_event(draw: st.DrawFn, number: int) -> Json:
    event_type = draw(st.sampled_from(EVENT_TYPES))
    dataset_id = draw(st.sampled_from(sorted(DATASETS)))
    event = {
        "specversion": "1.0",
        "id": f"ev-{number}",
        "type": event_type,
        "source": f"/orgs/{DATASETS[dataset_id]}",
        "orgid": DATASETS[dataset_id],
        "datasetid": dataset_id,
        "data": {},
    }
    data = event["data"]
    if event_type.startswith("file."):
        # A file's id names its path, so that every file event may carry it: the file may not be
        # known when the event comes.
        index = draw(st.integers(min_value=0, max_value=len(PATHS) - 1))
        data["file"] = {"file_id": f"fl_{index}", "relative_path": PATHS[index]}
        if event_type in ("file.uploaded", "file.metadata_updated"):
            data["file"]["tags"] = draw(st.lists(st.just("keyframe"), max_size=1))
    carries_transaction = event_type.startswith("file.") and draw(st.booleans())
    if event_type == "dataset.upload_completed" or carries_transaction:
        event["transactionid"] = draw(st.sampled_from(TRANSACTIONS))
    if event_type == "dataset.upload_completed":
        data["upload"] = {"file_count": draw(st.integers(min_value=0, max_value=5))}
    if event_type in ("dataset.created", "dataset.metadata_updated") or (
        event_type != "dataset.deleted" and draw(st.integers(0, 3)) == 0
    ):
        data["dataset"] = draw(snapshots(dataset_id))
    return event


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    triggers=scenario_triggers(),
    events=st.integers(min_value=1, max_value=30).flatmap(
        lambda n: st.tuples(*(scenario_event(number) for number in range(n)))
    ),
)
def test_engine_and_reference_agree_on_random_scenarios(
    triggers: list[Json], events: tuple[Json, ...]
) -> None:
    assert_same(decided_by_both(triggers, ACTIONS, list(events)))


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
def glob_triggers(draw: st.DrawFn, index: int) -> Json:
    positives = draw(st.lists(patterns(negated=False), min_size=1, max_size=2))
    negations = draw(st.lists(patterns(negated=True), max_size=1))
    return {
        "org_id": "og_1",
        "name": f"t{index:03d}",
        "action": "detect",
        "required_inputs": positives + negations,
        "for_each": draw(st.sampled_from(["dataset", "dataset_file"])),
        "causes": [UPLOAD, DATASET_UPDATE],
    }


def _glob_events(paths: list[str], update_after: int) -> list[Json]:
    dataset = _record()
    events = [_event("ev-0", "dataset.created", {"dataset": dataset})]
    for n, path in enumerate(paths, start=1):
        events.append(_upload(f"ev-{n}", f"fl_{n}", path))
        if n == update_after:
            events.append(_event("ev-update", "dataset.metadata_updated", {"dataset": dataset}))
    return events


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    definitions=st.integers(min_value=1, max_value=12).flatmap(
        lambda n: st.tuples(*(glob_triggers(i) for i in range(n)))
    ),
    paths=st.lists(
        st.lists(st.sampled_from(PATH_PARTS), min_size=1, max_size=4).map("/".join),
        min_size=1,
        max_size=8,
        unique=True,
    ),
    update_after=st.integers(min_value=1, max_value=8),
)
def test_engine_and_reference_agree_on_random_globs(
    definitions: tuple[Json, ...], paths: list[str], update_after: int
) -> None:
    assert_same(decided_by_both(list(definitions), ACTIONS, _glob_events(paths, update_after)))
