"""The level-triggered rule (SPEC §4.1) and uploads as one unit (SPEC §4.2), scenario by scenario.

`tests/test_differential.py` checks the same rules on random scenarios against the literal
reference; these name the cases a user meets first.
"""

from __future__ import annotations

from typing import Any

from engine.models import Trigger
from tests.test_evaluator import ORG, Log, _engine

ARM = {"field": "metadata.robot", "comparator": "LIKE", "value": "arm\\_%"}
SUMMARY = {"name": "run-summary", "required_inputs": ["**/cam_front/*.jpg", "**/*.bag"]}


def _snapshot(metadata: dict[str, Any], tags: list[str] | None = None) -> dict[str, Any]:
    return {"dataset_id": "ds_1", "org_id": ORG, "tags": tags or [], "metadata": metadata}


def _file(file_id: str, path: str) -> dict[str, Any]:
    return {"file_id": file_id, "relative_path": path}


def _fired(log: Log) -> list[tuple[str, str, str, int]]:
    """(trigger, cause, event id, number of files) per invocation."""
    return [
        (i["trigger"]["name"], i["cause"], i["event_id"], len(i["input_data"]["files"]))
        for i in log.invocations
    ]


def test_a_snapshot_on_a_non_matching_file_event_completes_a_dataset_trigger() -> None:
    log = Log(_engine({"name": "arm-bags", "required_inputs": ["*.bag"], "condition": ARM}))
    log.upload("f1", "0001.bag")  # the bag is there, but the robot is not an arm yet
    log.send(
        "file.uploaded",
        {"file": _file("f2", "0002.txt"), "dataset": _snapshot({"robot": "arm_2"})},
    )
    assert _fired(log) == [("arm-bags", "file_upload", "ev-2", 1)]
    # Recorded: the skip at the bag (its file matched) and the fire at the text file.
    assert log.reasons() == [("arm-bags", None, "condition_not_met"), ("arm-bags", None, None)]


def test_a_change_through_an_unheard_cause_fires_at_the_next_heard_event() -> None:
    trigger = {
        "name": "tagged",
        "required_inputs": ["*.bag"],
        "required_tag": ["prod"],
        "causes": ["file_upload"],
    }
    log = Log(_engine(trigger))
    log.upload("f1", "a.bag")
    log.dataset(["prod"])  # dataset_metadata_update: not a cause it listens to
    assert _fired(log) == []
    log.upload("f2", "notes.txt")
    assert _fired(log) == [("tagged", "file_upload", "ev-3", 1)]
    log.upload("f3", "more.txt")
    assert len(log.invocations) == 1  # at most once


def test_a_trigger_created_or_re_enabled_after_the_dataset_was_complete_fires_next() -> None:
    evaluator = _engine({"name": "late", "required_inputs": ["*.bag"], "enabled": False})
    log = Log(evaluator)
    log.upload("f1", "a.bag")
    registry = evaluator.registry
    registry.put(Trigger(org_id=ORG, name="later", action="detect", required_inputs=["*.bag"]))
    log.upload("f2", "x.txt")
    registry.put(Trigger(org_id=ORG, name="late", action="detect", required_inputs=["*.bag"]))
    log.upload("f3", "y.txt")
    assert _fired(log) == [("later", "file_upload", "ev-2", 1), ("late", "file_upload", "ev-3", 1)]


def test_fired_keys_survive_updates_of_inputs_condition_and_causes() -> None:
    evaluator = _engine({"name": "t", "required_inputs": ["*.bag"]})
    log = Log(evaluator)
    log.upload("f1", "a.bag")
    evaluator.registry.put(
        Trigger(
            org_id=ORG,
            name="t",
            action="detect",
            required_inputs=["*.txt"],
            causes=["file_upload", "file_ingest"],
        )
    )
    log.upload("f2", "b.txt")
    assert len(log.invocations) == 1
    assert log.reasons()[-1] == ("t", None, "already_run")


def test_a_condition_reading_the_event_is_asked_at_every_event() -> None:
    third = {"==": [{"var": "event.id"}, "ev-3"]}
    log = Log(_engine({"name": "t", "required_inputs": ["*.bag"], "condition": third}))
    log.upload("f1", "a.bag")
    log.upload("f2", "b.txt")
    assert _fired(log) == []
    log.upload("f3", "c.txt")
    assert _fired(log) == [("t", "file_upload", "ev-3", 1)]


def test_under_file_ingest_only_ingested_files_satisfy() -> None:
    log = Log(_engine({"name": "t", "required_inputs": ["*.bag"], "causes": ["file_ingest"]}))
    log.upload("f1", "a.bag")
    log.upload("f2", "b.txt")
    log.send("file.ingested", {"file": {"file_id": "f2"}})
    assert _fired(log) == []
    log.send("file.ingested", {"file": {"file_id": "f1"}})
    assert _fired(log) == [("t", "file_ingest", "ev-4", 1)]


def test_a_removed_file_unsatisfies_a_ready_trigger() -> None:
    trigger = {"name": "t", "required_inputs": ["*.bag"], "causes": ["dataset_metadata_update"]}
    log = Log(_engine(trigger))
    log.upload("f1", "a.bag")
    log.send("file.deleted", {"file": {"file_id": "f1"}})
    log.upload("f2", "b.txt")
    log.dataset(["x"])
    assert _fired(log) == []


# -- uploads -------------------------------------------------------------------------------------


def _upload_run(log: Log, frames: int, bags: int, transaction: str | None) -> None:
    fields = {} if transaction is None else {"transactionid": transaction}
    for n in range(frames):
        log.send("file.uploaded", {"file": _file(f"fr{n}", f"run/cam_front/{n:04d}.jpg")}, **fields)
    for n in range(bags):
        log.send("file.uploaded", {"file": _file(f"bag{n}", f"run/{n}.bag")}, **fields)


def test_an_upload_in_one_transaction_fires_once_with_every_file_at_its_completion() -> None:
    log = Log(_engine(SUMMARY))
    _upload_run(log, 500, 3, "tx_1")
    assert log.invocations == []
    log.send("dataset.upload_completed", {"upload": {"file_count": 503}}, transactionid="tx_1")
    assert _fired(log) == [("run-summary", "file_upload", "ev-504", 503)]
    waits = {r["reason"] for r in log.records[:-1]}
    assert waits == {"upload_in_progress"}
    assert "'tx_1' (open since event 'ev-1')" in log.records[0]["detail"]


def test_without_a_transaction_the_first_matching_files_fire() -> None:
    log = Log(_engine(SUMMARY))
    _upload_run(log, 5, 3, None)
    assert _fired(log) == [("run-summary", "file_upload", "ev-6", 6)]


def test_per_file_triggers_are_never_deferred() -> None:
    log = Log(_engine({"name": "frame", "required_inputs": ["*.jpg"], "for_each": "dataset_file"}))
    _upload_run(log, 3, 0, "tx_1")
    assert len(log.invocations) == 3


def test_overlapping_uploads_evaluate_at_the_completion_of_the_last() -> None:
    log = Log(_engine(SUMMARY))
    log.send("file.uploaded", {"file": _file("a", "cam_front/1.jpg")}, transactionid="tx_1")
    log.send("file.uploaded", {"file": _file("b", "x/1.bag")}, transactionid="tx_2")
    log.send("dataset.upload_completed", transactionid="tx_1")
    assert log.invocations == []
    log.send("dataset.upload_completed", transactionid="tx_unknown")
    assert log.invocations == []
    log.send("dataset.upload_completed", transactionid="tx_2")
    assert _fired(log) == [("run-summary", "file_upload", "ev-5", 2)]


def test_the_completion_fires_under_the_first_remembered_cause_that_satisfies() -> None:
    trigger = {
        "name": "t",
        "required_inputs": ["*.bag"],
        "required_tag": ["prod"],
        "causes": ["file_upload", "dataset_metadata_update"],
    }
    log = Log(_engine(trigger))
    log.send("file.uploaded", {"file": _file("a", "1.bag")}, transactionid="tx_1")
    log.dataset(["prod"])
    log.send("dataset.upload_completed", transactionid="tx_1")
    assert _fired(log) == [("t", "file_upload", "ev-3", 1)]


def test_a_completion_snapshot_is_applied_before_the_evaluation() -> None:
    log = Log(_engine({"name": "t", "required_inputs": ["*.bag"], "condition": ARM}))
    log.send("file.uploaded", {"file": _file("a", "1.bag")}, transactionid="tx_1")
    log.send(
        "dataset.upload_completed", {"dataset": _snapshot({"robot": "arm_1"})}, transactionid="tx_1"
    )
    assert _fired(log) == [("t", "file_upload", "ev-2", 1)]


def test_a_closed_transaction_is_never_reopened() -> None:
    log = Log(_engine(SUMMARY))
    log.send("file.uploaded", {"file": _file("a", "cam_front/1.jpg")}, transactionid="tx_1")
    log.send("dataset.upload_completed", transactionid="tx_1")
    log.send("file.uploaded", {"file": _file("b", "1.bag")}, transactionid="tx_1")
    assert _fired(log) == [("run-summary", "file_upload", "ev-3", 2)]


def test_deleting_the_dataset_discards_its_uploads() -> None:
    log = Log(_engine(SUMMARY))
    log.send("file.uploaded", {"file": _file("a", "cam_front/1.jpg")}, transactionid="tx_1")
    log.send("file.uploaded", {"file": _file("b", "1.bag")}, transactionid="tx_1")
    log.send("dataset.deleted")
    log.send("dataset.upload_completed", transactionid="tx_1")
    assert log.invocations == []
    log.upload("c", "cam_front/2.jpg")
    log.upload("d", "2.bag")
    assert _fired(log) == [("run-summary", "file_upload", "ev-6", 2)]


def test_the_completion_ignores_triggers_that_heard_none_of_the_causes() -> None:
    trigger = {"name": "t", "required_inputs": ["*.bag"], "causes": ["dataset_metadata_update"]}
    log = Log(_engine(trigger))
    log.send("file.uploaded", {"file": _file("a", "1.bag")}, transactionid="tx_1")
    log.send("dataset.upload_completed", transactionid="tx_1")
    assert log.records == [] and log.invocations == []
    log.dataset(["x"])
    assert _fired(log) == [("t", "dataset_metadata_update", "ev-3", 1)]
