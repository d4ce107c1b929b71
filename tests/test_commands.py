"""Operator commands as events (SPEC §4.4): backfill and invoke, in the evaluator."""

from __future__ import annotations

from typing import Any

import pytest

from engine.errors import EventError
from engine.models import Trigger
from tests.test_evaluator import ORG, Log, _engine

BAGS = {"name": "bags", "required_inputs": ["*.bag"]}
FRAMES = {"name": "frames", "required_inputs": ["*.jpg"], "for_each": "dataset_file"}


def _file(file_id: str, path: str) -> dict[str, Any]:
    return {"file_id": file_id, "relative_path": path}


def _fill(log: Log) -> None:
    """Three datasets before any trigger exists: two with a bag, one with frames only."""
    for dataset in ("ds_b", "ds_a", "ds_c"):
        path = "x.jpg" if dataset == "ds_c" else "run.bag"
        log.send("file.uploaded", {"file": _file(f"{dataset}_f", path)}, datasetid=dataset)
    log.send("file.uploaded", {"file": _file("ds_a_g", "y.jpg")}, datasetid="ds_a")


def _backfill(log: Log, name: str, request_id: str, *, rerun: bool = False) -> None:
    trigger = {"name": name, "request_id": request_id, "rerun": rerun}
    log.send("trigger.backfill_requested", {"trigger": trigger})


def _invoke(log: Log, name: str, dataset: str, key: str, file_id: str | None = None) -> None:
    data: dict[str, Any] = {"trigger": {"name": name, "idempotency_id": key}}
    if file_id is not None:
        data["file_id"] = file_id
    log.send("trigger.invoke_requested", data, datasetid=dataset)


def _summary(log: Log) -> list[tuple[str, str, str | None, str, str]]:
    return [
        (
            i["trigger"]["name"],
            i["data_source"]["data_source_id"],
            i["input_data"]["files"][0]["file_id"] if i["for_each"] == "dataset_file" else None,
            i["cause"],
            i["invocation_source"],
        )
        for i in log.invocations
    ]


def _created_late(*specs: dict[str, Any]) -> Log:
    evaluator = _engine()
    log = Log(evaluator)
    _fill(log)
    for spec in specs:
        evaluator.registry.put(Trigger(org_id=ORG, action="detect", **spec))
    return log


def test_a_backfill_fires_once_per_satisfied_dataset_in_dataset_order() -> None:
    log = _created_late(BAGS, FRAMES)
    _backfill(log, "bags", "r1")
    _backfill(log, "frames", "r2")
    assert _summary(log) == [
        ("bags", "ds_a", None, "backfill", "Trigger"),
        ("bags", "ds_b", None, "backfill", "Trigger"),
        ("frames", "ds_a", "ds_a_g", "backfill", "Trigger"),
        ("frames", "ds_c", "ds_c_f", "backfill", "Trigger"),
    ]


def test_a_second_backfill_is_already_run_and_a_rerun_fires_again() -> None:
    log = _created_late(BAGS)
    _backfill(log, "bags", "r1")
    _backfill(log, "bags", "r2")
    assert len(log.invocations) == 2
    assert [r["reason"] for r in log.records[-2:]] == ["already_run", "already_run"]
    _backfill(log, "bags", "r3", rerun=True)
    first, rerun = log.invocations[0], log.invocations[2]
    assert len(log.invocations) == 4
    assert first["data_source"] == rerun["data_source"]
    assert first["invocation_id"] != rerun["invocation_id"]  # the rerun's own invocation


def test_a_backfill_marks_the_automatic_fired_key() -> None:
    log = _created_late(BAGS)
    _backfill(log, "bags", "r1")
    log.send("file.uploaded", {"file": _file("ds_a_h", "more.bag")}, datasetid="ds_a")
    assert len(log.invocations) == 2
    assert log.records[-1]["reason"] == "already_run"


def test_a_backfill_skips_datasets_with_an_open_upload() -> None:
    log = _created_late(BAGS)
    log.send(
        "file.uploaded", {"file": _file("ds_a_u", "z.bag")}, datasetid="ds_a", transactionid="tx"
    )
    _backfill(log, "bags", "r1")
    assert [i["data_source"]["data_source_id"] for i in log.invocations] == ["ds_b"]
    waiting = [r for r in log.records if r["cause"] == "backfill" and r["reason"]]
    assert [(r["dataset_id"], r["reason"]) for r in waiting] == [("ds_a", "upload_in_progress")]


def test_invokes_are_deduplicated_by_idempotency_id_and_never_mark_the_automatic_key() -> None:
    log = _created_late(BAGS)
    _invoke(log, "bags", "ds_a", "k1")
    _invoke(log, "bags", "ds_a", "k1")
    _invoke(log, "bags", "ds_a", "k2")
    assert _summary(log) == [("bags", "ds_a", None, "manual", "Manual")] * 2
    assert log.invocations[0]["invocation_id"] != log.invocations[1]["invocation_id"]
    assert log.records[1]["reason"] == "already_run"
    _backfill(log, "bags", "r1")  # the rule still fires: an invoke is not a fire
    assert [i["cause"] for i in log.invocations[2:]] == ["backfill", "backfill"]


def test_an_invoke_ignores_the_condition_and_needs_a_matching_file() -> None:
    log = _created_late({**BAGS, "required_tag": ["never"]}, FRAMES)
    _invoke(log, "bags", "ds_a", "k1")
    _invoke(log, "bags", "ds_c", "k1")
    _invoke(log, "frames", "ds_a", "k1", file_id="ds_a_g")
    _invoke(log, "frames", "ds_a", "k2", file_id="ds_a_f")  # a bag: not a frame
    assert _summary(log) == [
        ("bags", "ds_a", None, "manual", "Manual"),
        ("frames", "ds_a", "ds_a_g", "manual", "Manual"),
    ]
    assert [r["reason"] for r in log.records] == [
        None,
        "no_matching_files",
        None,
        "no_matching_files",
    ]


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (lambda log: _invoke(log, "nope", "ds_a", "k"), "no trigger 'nope' in org 'og_1'"),
        (lambda log: _backfill(log, "nope", "r"), "no trigger 'nope' in org 'og_1'"),
        (lambda log: _invoke(log, "bags", "ds_a", "k", "ds_a_f"), "'data.file_id': not allowed"),
        (lambda log: _invoke(log, "frames", "ds_a", "k"), "'data.file_id': required"),
        (lambda log: _invoke(log, "bags", "ds_zz", "k"), "dataset 'ds_zz' is not in state"),
    ],
)
def test_bad_commands_are_bad_input_and_change_nothing(command: Any, message: str) -> None:
    log = _created_late(BAGS, FRAMES)
    with pytest.raises(EventError, match=message):
        command(log)
    assert log.invocations == [] and log.records == []


def test_an_invoke_for_a_dataset_of_another_org_is_bad_input() -> None:
    log = _created_late(BAGS)
    log.send("file.uploaded", {"file": _file("o", "a.bag")}, datasetid="ds_other", orgid="og_2")
    with pytest.raises(EventError, match="'ds_other' belongs to org 'og_2'"):
        _invoke(log, "bags", "ds_other", "k")


def test_an_invoke_leaves_the_rule_to_fire_at_the_next_event_of_its_causes() -> None:
    """The invoke decides nothing for the rule: a trigger satisfied before it still fires at the
    next event of a cause it listens to, even one whose file its inputs do not match."""
    trigger = {**BAGS, "causes": ["file_metadata_update"]}
    log = Log(_engine(trigger))
    log.send("file.uploaded", {"file": _file("a", "run.bag")}, datasetid="ds_a")
    log.send("file.uploaded", {"file": _file("n", "notes.txt")}, datasetid="ds_a")
    _invoke(log, "bags", "ds_a", "k1")
    _invoke(log, "bags", "ds_a", "k1")  # already_run: for the invoke's key, not the rule's
    log.send("file.metadata_updated", {"file": {"file_id": "n", "tags": ["x"]}}, datasetid="ds_a")
    assert [(i["cause"], i["event_id"]) for i in log.invocations] == [
        ("manual", "ev-3"),
        ("file_metadata_update", "ev-5"),
    ]
