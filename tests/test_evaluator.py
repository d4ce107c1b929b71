"""The evaluation core: granularities, causes, every skip reason, invocation payloads."""

from __future__ import annotations

from typing import Any

import pytest

from engine.actions import ActionCatalog
from engine.errors import EventError
from engine.evaluator import Evaluator
from engine.events import event_from_dict
from engine.invocations import invocation_id
from engine.models import Action, Trigger
from engine.registry import TriggerRegistry
from engine.state import StateStore

ORG = "og_1"
ALL = ["file_upload", "file_ingest", "file_metadata_update", "dataset_metadata_update"]


def _actions() -> ActionCatalog:
    return ActionCatalog(
        [
            Action(
                org_id=ORG,
                name="detect",
                image_uri="img",
                parameters=[
                    {"name": "threshold", "default": 9.8},
                    {"name": "model", "default": "small"},
                ],
                compute_requirements={"vCPU": 1024, "memory": 2048},
                container_parameters={"env_vars": {"A": "1"}, "workdir": "/w"},
                timeout=20,
            ),
            Action(org_id=ORG, name="plain", image_uri="img"),
        ]
    )


def _engine(*triggers: dict[str, Any]) -> Evaluator:
    registry = TriggerRegistry(_actions())
    for spec in triggers:
        registry.put(Trigger(**{"org_id": ORG, "action": "detect", **spec}))
    return Evaluator(registry, StateStore())


class Log:
    """Feeds events to an evaluator and keeps what came out."""

    def __init__(self, evaluator: Evaluator) -> None:
        self.evaluator = evaluator
        self.invocations: list[dict[str, Any]] = []
        self.records: list[dict[str, Any]] = []
        self._n = 0

    def send(self, event_type: str, data: dict[str, Any] | None = None, **fields: str) -> None:
        self._n += 1
        event = {
            "specversion": "1.0",
            "id": f"ev-{self._n}",
            "type": event_type,
            "source": "/t",
            "time": f"2026-11-20T10:00:{self._n:02d}Z",
            "orgid": ORG,
            "datasetid": "ds_1",
            "data": data or {},
        }
        event.update(fields)
        result = self.evaluator.process(event_from_dict(event))
        self.invocations.extend(result.invocations)
        self.records.extend(result.evaluations)

    def dataset(self, tags: list[str], metadata: dict[str, Any] | None = None) -> None:
        snapshot = {"dataset_id": "ds_1", "org_id": ORG, "tags": tags, "metadata": metadata or {}}
        self.send("dataset.metadata_updated", {"dataset": snapshot})

    def upload(self, file_id: str, path: str, **extra: Any) -> None:
        self.send("file.uploaded", {"file": {"file_id": file_id, "relative_path": path, **extra}})

    def reasons(self) -> list[tuple[str, str | None, str | None]]:
        return [(r["trigger_name"], r["file_id"], r["reason"]) for r in self.records]


def test_dataset_file_trigger_invokes_once_per_matching_file() -> None:
    log = Log(
        _engine(
            {
                "name": "cam",
                "required_inputs": ["**/cam_front/*.jpg"],
                "for_each": "dataset_file",
                "required_tag": ["prod"],
            }
        )
    )
    log.dataset(["prod"])
    log.upload("f1", "run/cam_front/1.jpg")
    log.upload("f2", "run/cam_rear/1.jpg")
    log.upload("f1", "run/cam_front/1.jpg")
    assert [i["input_data"]["files"] for i in log.invocations] == [
        [{"file_id": "f1", "relative_path": "run/cam_front/1.jpg"}]
    ]
    assert log.reasons() == [("cam", "f1", None), ("cam", "f1", "already_run")]


def test_invocation_payload_is_merged_as_specified() -> None:
    log = Log(
        _engine(
            {
                "name": "cam",
                "required_inputs": ["*.jpg"],
                "for_each": "dataset_file",
                "additional_inputs": ["*.yaml"],
                "parameter_values": {"model": "big"},
                "compute_requirement_overrides": {"memory": 4096},
                "container_parameter_overrides": {"command": ["run"]},
            }
        )
    )
    log.upload("f1", "a.jpg")
    (request,) = log.invocations
    trigger_id = request["trigger"]["trigger_id"]
    assert request == {
        "invocation_id": invocation_id(trigger_id, "ds_1", "f1"),
        "org_id": ORG,
        "trigger": {"trigger_id": trigger_id, "name": "cam"},
        "action": {"name": "detect", "owner": ORG, "digest": None},
        "for_each": "dataset_file",
        "data_source": {"data_source_type": "Dataset", "data_source_id": "ds_1"},
        "input_data": {
            "required_inputs": ["*.jpg"],
            "additional_inputs": ["*.yaml"],
            "files": [{"file_id": "f1", "relative_path": "a.jpg"}],
        },
        "parameter_values": {"threshold": "9.8", "model": "big"},
        "compute_requirements": {"vCPU": 1024, "memory": 4096, "storage": 21, "gpu": False},
        "container_parameters": {
            "entry_point": None,
            "command": ["run"],
            "env_vars": {"A": "1"},
            "workdir": "/w",
        },
        "timeout": 20,
        "invocation_source": "Trigger",
        "invocation_source_id": trigger_id,
        "cause": "file_upload",
        "event_id": "ev-1",
        "event_time": "2026-11-20T10:00:01Z",
    }


def test_timeout_and_compute_defaults() -> None:
    registry = TriggerRegistry(_actions(), default_timeout=30)
    registry.put(
        Trigger(
            org_id=ORG, name="t", action="plain", required_inputs=["*"], for_each="dataset_file"
        )
    )
    registry.put(
        Trigger(
            org_id=ORG,
            name="u",
            action="plain",
            required_inputs=["*"],
            for_each="dataset_file",
            timeout=5,
        )
    )
    log = Log(Evaluator(registry, StateStore()))
    log.upload("f1", "x")
    assert [(i["trigger"]["name"], i["timeout"]) for i in log.invocations] == [("t", 30), ("u", 5)]
    assert log.invocations[0]["compute_requirements"] == {
        "vCPU": 512,
        "memory": 1024,
        "storage": 21,
        "gpu": False,
    }
    assert log.invocations[0]["parameter_values"] == {}


def test_dataset_trigger_waits_for_every_positive_pattern() -> None:
    log = Log(
        _engine(
            {
                "name": "both",
                "required_inputs": ["**/*.jpg", "**/*.bag", "!skip/*"],
                "for_each": "dataset",
            }
        )
    )
    log.upload("f1", "cam/b.jpg")
    log.upload("f0", "skip/x.bag")
    log.upload("f2", "cam/a.jpg")
    log.upload("f3", "drive.bag")
    log.upload("f4", "other.bag")
    assert [r for _, _, r in log.reasons()] == [
        "no_matching_files",
        "no_matching_files",
        None,
        "already_run",
    ]
    (request,) = log.invocations
    assert [f["relative_path"] for f in request["input_data"]["files"]] == [
        "cam/a.jpg",
        "cam/b.jpg",
        "drive.bag",
    ]
    assert request["invocation_id"] == invocation_id(request["trigger"]["trigger_id"], "ds_1", None)


def test_unmatched_file_does_not_evaluate_a_trigger() -> None:
    log = Log(_engine({"name": "t", "required_inputs": ["*.bag"], "for_each": "dataset"}))
    log.upload("f1", "a.jpg")
    assert log.records == [] and log.invocations == []


def test_condition_not_met_then_metadata_update_fires() -> None:
    log = Log(
        _engine(
            {
                "name": "d",
                "required_inputs": ["*.bag"],
                "for_each": "dataset",
                "condition": {"field": "metadata.speed", "comparator": "GREATER_THAN", "value": 2},
            },
            {
                "name": "f",
                "required_inputs": ["*.jpg"],
                "for_each": "dataset_file",
                "required_tag": ["prod"],
            },
        )
    )
    log.upload("f1", "x.bag")
    log.upload("f2", "b.jpg")
    log.upload("f3", "a.jpg")
    log.dataset(["prod"], {"speed": "3"})  # a numeric string compares as a number
    assert log.reasons() == [
        ("d", None, "condition_not_met"),
        ("f", "f2", "condition_not_met"),
        ("f", "f3", "condition_not_met"),
        ("d", None, None),
        ("f", "f3", None),  # a.jpg sorts before b.jpg
        ("f", "f2", None),
    ]
    # order within an event: trigger name, then file path
    assert [(i["trigger"]["name"], i["event_id"]) for i in log.invocations] == [
        ("d", "ev-4"),
        ("f", "ev-4"),
        ("f", "ev-4"),
    ]
    assert [i["input_data"]["files"][0]["relative_path"] for i in log.invocations[1:]] == [
        "a.jpg",
        "b.jpg",
    ]


def test_file_ingest_counts_only_ingested_files() -> None:
    log = Log(
        _engine(
            {
                "name": "ing",
                "required_inputs": ["*.mcap"],
                "for_each": "dataset",
                "causes": ["file_ingest"],
            },
        )
    )
    log.upload("f1", "a.mcap")
    log.upload("f2", "b.mcap")
    assert log.records == []  # file_upload is not a cause of this trigger
    log.send("file.ingested", {"file": {"file_id": "f2"}})
    (request,) = log.invocations
    assert request["cause"] == "file_ingest"
    assert request["input_data"]["files"] == [{"file_id": "f2", "relative_path": "b.mcap"}]


@pytest.mark.parametrize(
    "condition",
    [
        {">": [{"var": "file.size"}, 1000]},  # reads the file: the update changes its size
        {"==": [{"var": "event.type"}, "file.metadata_updated"]},  # reads the event: not memoized
    ],
)
def test_file_metadata_update_re_evaluates_file_and_event_conditions(
    condition: dict[str, Any],
) -> None:
    log = Log(
        _engine(
            {
                "name": "t",
                "required_inputs": ["*.ulg"],
                "for_each": "dataset_file",
                "causes": ["file_upload", "file_metadata_update"],
                "condition": condition,
            },
        )
    )
    log.upload("f1", "a.ulg", size=10)
    log.send("file.metadata_updated", {"file": {"file_id": "f1", "size": 5000}})
    assert log.reasons() == [("t", "f1", "condition_not_met"), ("t", "f1", None)]
    assert log.invocations[0]["cause"] == "file_metadata_update"


def test_dataset_condition_verdict_is_reused_until_the_record_changes() -> None:
    evaluator = _engine(
        {
            "name": "t",
            "required_inputs": ["*.jpg"],
            "for_each": "dataset_file",
            "condition": {"in": ["prod", {"var": "dataset.tags"}]},
        },
    )
    log = Log(evaluator)
    log.dataset(["test"])
    log.upload("f1", "a.jpg")
    ds = evaluator.state.get("ds_1")
    assert ds is not None
    memo = evaluator.memos.get(ds)
    assert memo is not None and list(memo.verdicts.values()) == [False]
    log.upload("f2", "b.jpg")
    log.dataset(["prod"])  # a new record: the verdict is asked again
    assert list(memo.verdicts.values()) == [True]
    assert log.reasons() == [
        ("t", "f1", "condition_not_met"),
        ("t", "f2", "condition_not_met"),
        ("t", "f1", None),
        ("t", "f2", None),
    ]


def test_remembered_matches_follow_registry_changes_and_new_paths() -> None:
    spec = {"required_inputs": ["*.jpg"], "for_each": "dataset_file", "causes": ALL}
    evaluator = _engine({"name": "a", **spec})
    log = Log(evaluator)
    log.upload("f1", "x.jpg")
    evaluator.registry.put(Trigger(org_id=ORG, name="b", action="detect", **spec))
    log.send("file.ingested", {"file": {"file_id": "f1"}})  # the index changed since the upload
    log.upload("f1", "x.png")  # a new path: matched again
    assert log.reasons() == [("a", "f1", None), ("a", "f1", "already_run"), ("b", "f1", None)]


def test_disabled_trigger_records_and_never_emits() -> None:
    log = Log(
        _engine(
            {"name": "t", "required_inputs": ["*"], "for_each": "dataset_file", "enabled": False}
        )
    )
    log.upload("f1", "a")
    assert log.reasons() == [("t", "f1", "trigger_disabled")]
    assert log.invocations == []


def test_unresolvable_action_fails_the_evaluation() -> None:
    evaluator = _engine(
        {"name": "t", "required_inputs": ["*"], "for_each": "dataset_file", "action": "plain"}
    )
    evaluator.registry.remove_action(ORG, "plain")
    log = Log(evaluator)
    log.upload("f1", "a")
    (record,) = log.records
    assert (record["status"], record["outcome"], record["reason"]) == ("failed", "skipped", None)
    assert "plain" in record["detail"]
    assert log.invocations == [] and evaluator.stats.failed == 1


def test_org_isolation() -> None:
    log = Log(_engine({"name": "t", "required_inputs": ["*"], "for_each": "dataset_file"}))
    log.send(
        "file.uploaded",
        {"file": {"file_id": "f1", "relative_path": "a"}},
        orgid="og_2",
        datasetid="ds_2",
    )
    assert log.records == []  # og_1's trigger never sees og_2's events
    log.upload("f2", "b")
    with pytest.raises(EventError, match="belongs to org 'og_1'"):
        log.send("file.uploaded", {"file": {"file_id": "f3", "relative_path": "c"}}, orgid="og_2")
    assert len(log.invocations) == 1


def test_dataset_deleted_keeps_fired_keys() -> None:
    log = Log(_engine({"name": "t", "required_inputs": ["*.bag"], "for_each": "dataset"}))
    log.upload("f1", "a.bag")
    log.send("dataset.deleted")
    log.upload("f1", "a.bag")
    assert log.reasons() == [("t", None, None), ("t", None, "already_run")]


def test_deleted_trigger_stops_firing() -> None:
    evaluator = _engine({"name": "t", "required_inputs": ["*"], "for_each": "dataset_file"})
    log = Log(evaluator)
    log.upload("f1", "a")
    assert evaluator.registry.delete(ORG, "t")
    log.upload("f2", "b")
    assert len(log.invocations) == 1
