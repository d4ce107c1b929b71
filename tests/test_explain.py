"""`explain` on uploads and the level-triggered rule: why a dataset trigger waits, and why it fired
at an event whose file its inputs do not match."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from engine.cli import main

ARM = {"field": "metadata.robot", "comparator": "LIKE", "value": "arm\\_%"}


def _event(n: int, dataset: str, path: str | None, **extra: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": f"ev-{n}",
        "type": "file.uploaded",
        "source": "/s",
        "orgid": "og_1",
        "datasetid": dataset,
        "data": {} if path is None else {"file": {"file_id": f"f{n}", "relative_path": path}},
    }
    event.update(extra)
    return event


def _arm(robot: str) -> dict[str, Any]:
    return {"tags": [], "metadata": {"robot": robot}}


@pytest.fixture
def explain(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Any:
    events = [
        _event(1, "ds_1", "0001.bag"),
        _event(
            2,
            "ds_1",
            "0002.txt",
            data={"file": {"file_id": "f2", "relative_path": "0002.txt"}, "dataset": _arm("arm_2")},
        ),
        _event(
            3,
            "ds_2",
            "0001.bag",
            transactionid="tx_9",
            data={"file": {"file_id": "f3", "relative_path": "0001.bag"}, "dataset": _arm("arm_1")},
        ),
        _event(4, "ds_3", "0001.bag"),
        _event(5, "ds_3", None, type="dataset.metadata_updated", data={"dataset": _arm("arm_3")}),
        _event(6, "ds_3", "0002.txt"),
    ]
    (tmp_path / "events.jsonl").write_bytes(b"\n".join(orjson.dumps(e) for e in events))
    trigger = {
        "org_id": "og_1",
        "name": "arm-bags",
        "action": "detect",
        "required_inputs": ["*.bag"],
        "condition": ARM,
        "causes": ["file_upload"],
    }
    (tmp_path / "triggers.json").write_bytes(orjson.dumps([trigger]))
    (tmp_path / "actions").mkdir()
    action = {"org_id": "og_1", "name": "detect", "image_uri": "img"}
    (tmp_path / "actions" / "detect.json").write_bytes(orjson.dumps(action))

    def run(dataset: str) -> str:
        args = [
            "explain",
            str(tmp_path / "events.jsonl"),
            "--triggers",
            str(tmp_path / "triggers.json"),
            "--actions",
            str(tmp_path / "actions"),
            "--trigger",
            "arm-bags",
            "--dataset",
            dataset,
            "--cause",
            "file_upload",
        ]
        assert main(args) == 0
        return capsys.readouterr().out

    return run


def test_explain_says_a_snapshot_on_a_non_matching_file_completed_the_trigger(explain: Any) -> None:
    out = explain("ds_1")
    assert (
        "fired at event 'ev-2' (file.uploaded of 0002.txt), cause file_upload: a dataset trigger "
        "is evaluated at every event of a cause it listens to, whatever file the event carries; "
        "the file does not match its inputs, and its dataset snapshot completed the trigger"
    ) in out


def test_explain_names_the_unheard_event_since_which_the_dataset_satisfied_it(explain: Any) -> None:
    out = explain("ds_3")
    assert "fired at event 'ev-6' (file.uploaded of 0002.txt), cause file_upload" in out
    assert (
        "satisfied it since event 'ev-5' (dataset.metadata_updated), cause "
        "dataset_metadata_update it does not listen to"
    ) in out


def test_explain_says_which_upload_a_dataset_trigger_waits_for(explain: Any) -> None:
    out = explain("ds_2")
    assert "not fired yet: an upload is open on the dataset" in out
    assert (
        "outcome: skipped, reason upload_in_progress: waits for the upload to complete: 'tx_9' "
        "(open since event 'ev-3'); causes remembered for its completion: file_upload; as things "
        "stand, it would then be invoked_action with files 0001.bag"
    ) in out
