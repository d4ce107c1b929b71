"""The command line end to end on the bundled examples: replay, validate, explain, triggers."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from contextlib import nullcontext
from pathlib import Path

import pytest

from engine.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
EVENTS = EXAMPLES / "events.jsonl"
ENGINE = ["--triggers", str(EXAMPLES / "triggers.yaml"), "--actions", str(EXAMPLES / "actions")]


def _replay(tmp_path: Path, *sources: str, name: str = "run") -> tuple[bytes, bytes, bytes]:
    out, evaluations, rejects = (tmp_path / f"{name}-{k}.jsonl" for k in ("inv", "ev", "rej"))
    code = main(
        [
            "replay",
            *sources,
            *ENGINE,
            "--out",
            str(out),
            "--evaluations",
            str(evaluations),
            "--rejects",
            str(rejects),
        ]
    )
    assert code == 0
    return out.read_bytes(), evaluations.read_bytes(), rejects.read_bytes()


def _lines(data: bytes) -> list[dict]:
    return [json.loads(line) for line in data.splitlines()]


def _example_events() -> list[dict]:
    """The example events that are JSON objects (the bad lines left out)."""
    events = []
    for line in EVENTS.read_text().splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return events


def test_replay_examples_is_byte_identical_twice(tmp_path: Path) -> None:
    first = _replay(tmp_path, str(EVENTS), name="a")
    second = _replay(tmp_path, str(EVENTS), name="b")
    assert first == second
    invocations = _lines(first[0])
    assert len(invocations) == 22
    assert {(i["trigger"]["name"], i["data_source"]["data_source_id"]) for i in invocations} >= {
        ("front-cam-detect", "ds_run42"),
        ("run-summary", "ds_run42"),
        ("mag-check", "ds_bench_01"),
        ("hull-thumbnails", "ds_survey_3"),
        ("run-summary-gpu", "ds_sim7"),
    }
    reasons = {r["reason"] for r in _lines(first[1])}
    assert reasons == {
        None,
        "already_run",
        "condition_not_met",
        "no_matching_files",
        "trigger_disabled",
        "upload_in_progress",
    }


def test_the_readme_quotes_the_summary_of_the_examples_replay(tmp_path: Path, capsys) -> None:
    _replay(tmp_path, str(EVENTS))
    summary = next(
        line for line in capsys.readouterr().err.splitlines() if line.startswith("replay summary:")
    )
    assert summary in (ROOT / "README.md").read_text()


def test_an_upload_fires_its_dataset_trigger_once_at_its_completion_with_every_file(
    tmp_path: Path,
) -> None:
    out, evaluations, _ = _replay(tmp_path, str(EVENTS))
    events = _example_events()
    completion = next(e for e in events if e["type"] == "dataset.upload_completed")
    dataset, upload = completion["datasetid"], completion["transactionid"]
    uploaded = [e for e in events if e.get("transactionid") == upload and e is not completion]
    assert len(uploaded) == completion["data"]["upload"]["file_count"]
    paths = sorted(e["data"]["file"]["relative_path"] for e in uploaded)
    frames = [e for e in uploaded if "/cam_front/" in e["data"]["file"]["relative_path"]]
    assert frames and len(frames) < len(uploaded)  # frames and bags

    invocations = [i for i in _lines(out) if i["data_source"]["data_source_id"] == dataset]
    summaries = [i for i in invocations if i["trigger"]["name"] == "run-summary"]
    assert [(i["event_id"], i["cause"]) for i in summaries] == [(completion["id"], "file_upload")]
    assert [f["relative_path"] for f in summaries[0]["input_data"]["files"]] == paths
    # Per-file triggers are never deferred: each frame is detected at its own upload.
    detections = [
        (i["event_id"], i["input_data"]["files"][0]["file_id"])
        for i in invocations
        if i["trigger"]["name"] == "front-cam-detect"
    ]
    assert detections == [(e["id"], e["data"]["file"]["file_id"]) for e in frames]

    waits = [
        r["event_id"]
        for r in _lines(evaluations)
        if r["dataset_id"] == dataset and r["trigger_name"] == "run-summary"
    ]
    assert waits == [e["id"] for e in uploaded] + [completion["id"]]
    assert {
        r["reason"]
        for r in _lines(evaluations)
        if r["dataset_id"] == dataset and r["event_id"] != completion["id"] and r["file_id"] is None
    } == {"upload_in_progress"}


def test_a_dataset_snapshot_on_a_file_event_completes_a_dataset_trigger(tmp_path: Path) -> None:
    out, evaluations, _ = _replay(tmp_path, str(EVENTS))
    notes = next(
        e
        for e in _example_events()
        if e["type"] == "file.uploaded" and e["data"]["file"]["relative_path"] == "notes.txt"
    )
    assert notes["data"]["dataset"]["metadata"]["robot"] == "arm_2"
    fired = [
        i
        for i in _lines(out)
        if i["trigger"]["name"] == "arm-episodes-to-mcap"
        and i["data_source"]["data_source_id"] == notes["datasetid"]
    ]
    assert [(i["event_id"], i["cause"]) for i in fired] == [(notes["id"], "file_upload")]
    assert [f["relative_path"] for f in fired[0]["input_data"]["files"]] == ["episodes/ep_001.bag"]
    before = [
        r["reason"]
        for r in _lines(evaluations)
        if r["trigger_name"] == "arm-episodes-to-mcap" and r["event_id"] != notes["id"]
    ]
    assert before == ["condition_not_met"]  # the bag alone: no robot named yet


def test_replay_writes_rejects_with_place_and_reason(tmp_path: Path) -> None:
    _, _, rejects = _replay(tmp_path, str(EVENTS))
    rows = _lines(rejects)
    assert [(r["source"], r["line"]) for r in rows] == [(str(EVENTS), n) for n in (26, 27, 28)]
    assert "not valid JSON" in rows[0]["reason"]
    assert "unknown event type 'file.renamed'" in rows[1]["reason"]
    assert "belongs to org 'og_acme'" in rows[2]["reason"]
    assert rows[1]["event"] == EVENTS.read_text().splitlines()[26]


def test_replay_reads_gzip_and_stdin_the_same(tmp_path: Path) -> None:
    expected = _replay(tmp_path, str(EVENTS), name="plain")[0]
    packed = tmp_path / "events.jsonl.gz"
    packed.write_bytes(gzip.compress(EVENTS.read_bytes()))
    assert _replay(tmp_path, str(packed), name="gz")[0] == expected
    result = subprocess.run(
        [sys.executable, "-m", "engine", "replay", "-", *ENGINE],
        input=EVENTS.read_bytes(),
        capture_output=True,
        check=True,
    )
    assert result.stdout == expected
    summary = result.stderr.decode()
    assert '"rejected":3' in summary and '"invocations":22' in summary
    assert "pass --rejects FILE" in summary


def test_replay_of_several_logs_keeps_state_across_them(tmp_path: Path) -> None:
    lines = EVENTS.read_text().splitlines(keepends=True)
    head, tail = tmp_path / "head.jsonl", tmp_path / "tail.jsonl"
    head.write_text("".join(lines[:10]))
    tail.write_text("".join(lines[10:]))
    whole = _lines(_replay(tmp_path, str(EVENTS), name="whole")[0])
    split = _lines(_replay(tmp_path, str(head), str(tail), name="split")[0])
    assert split == whole


def test_replay_refuses_an_invalid_trigger_file(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "triggers.json"
    bad.write_text(
        json.dumps(
            [
                {
                    "name": "t",
                    "org_id": "og",
                    "action": "x",
                    "required_inputs": ["*"],
                    "colour": "red",
                }
            ]
        )
    )
    code = main(
        ["replay", str(EVENTS), "--triggers", str(bad), "--actions", str(EXAMPLES / "actions")]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "trigger 't'" in err and str(bad) in err and "unknown field 'colour'" in err


def test_replay_missing_events_file_is_a_clear_error(tmp_path: Path, capsys) -> None:
    assert main(["replay", str(tmp_path / "nope.jsonl"), *ENGINE, "--out", "-"]) == 2
    assert "nope.jsonl: No such file or directory" in capsys.readouterr().err


def test_validate_reports_every_invalid_trigger(tmp_path: Path, capsys) -> None:
    assert main(["validate", *ENGINE]) == 0
    assert "9 valid triggers, 0 errors" in capsys.readouterr().out
    triggers = tmp_path / "t.yaml"
    triggers.write_text(
        "- {name: a, org_id: og_acme, action: nope, required_inputs: ['*']}\n"
        "- {name: b, org_id: og_acme, action: run-summary, required_inputs: ['*']}\n"
        "- {name: c, org_id: og_acme, action: detect-objects, required_inputs: ['x'],\n"
        "   condition: {field: file.size, comparator: EQUALS, value: 1}}\n"
        "- {name: d, org_id: og_acme, action: detect-objects, required_inputs: ['*.jpg']}\n"
    )
    assert (
        main(["validate", "--triggers", str(triggers), "--actions", str(EXAMPLES / "actions")]) == 1
    )
    captured = capsys.readouterr()
    assert "1 valid triggers, 3 errors" in captured.out
    assert "action nope is not a known action" in captured.err
    assert "requires parameter report_format" in captured.err
    assert "file fields are not allowed" in captured.err


def test_explain_shows_inputs_condition_and_outcome(capsys) -> None:
    code = main(
        [
            "explain",
            str(EVENTS),
            *ENGINE,
            "--trigger",
            "run-summary",
            "--dataset",
            "ds_sim7",
            "--cause",
            "file_upload",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "'**/*.bag' -> (no file)" in out  # the dataset was deleted later in the log
    assert "already fired: yes" in out
    assert "outcome: skipped (evaluated), reason already_run" in out
    code = main(
        [
            "explain",
            str(EVENTS),
            *ENGINE,
            "--trigger",
            "flight-review",
            "--dataset",
            "ds_flight_0912",
            "--file",
            "fl_u3",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "'**/*.ulg' -> logs/tiny.ulg" in out
    assert "512" in out  # the actual file.size the condition saw
    assert "reason condition_not_met" in out


def test_explain_dataset_file_trigger_needs_a_file(capsys) -> None:
    code = main(
        [
            "explain",
            str(EVENTS),
            *ENGINE,
            "--trigger",
            "flight-review",
            "--dataset",
            "ds_flight_0912",
        ]
    )
    assert code == 2
    assert "name a file with --file" in capsys.readouterr().err


def test_triggers_verbs_against_a_file(tmp_path: Path, capsys) -> None:
    store = ["--triggers", str(tmp_path / "t.yaml"), "--actions", str(EXAMPLES / "actions")]
    create = [
        "triggers",
        "create",
        "--org",
        "og_acme",
        "--name",
        "cam",
        "--action",
        "detect-objects",
        "--required-inputs",
        "**/cam_front/*.jpg",
        "--for-each",
        "dataset_file",
        "--required-tag",
        "prod",
        "--parameter-value",
        "threshold=0.9",
        "--vcpu",
        "1024",
        "--memory",
        "8192",
        "--env",
        "A=1",
        *store,
    ]
    assert main(create) == 0
    assert main(create) == 2
    assert "already exists" in capsys.readouterr().err
    assert (
        main(["triggers", "update", "cam", "--disabled", "--required-metadata", "speed=3", *store])
        == 0
    )
    capsys.readouterr()
    assert main(["triggers", "get", "cam", *store]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["enabled"] is False
    assert got["required_metadata"] == {"speed": 3} and "required_tag" not in got
    assert got["parameter_values"] == {"threshold": "0.9"}
    assert got["compute_requirement_overrides"] == {"vCPU": 1024, "memory": 8192}
    assert main(["triggers", "search", "--action", "og_acme/detect-objects", *store]) == 0
    assert [t["name"] for t in json.loads(capsys.readouterr().out)] == ["cam"]
    assert main(["triggers", "delete", "cam", "--org", "og_acme", *store]) == 0
    assert main(["triggers", "list", *store]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_a_trigger_is_created_paused_and_resumed(tmp_path: Path, capsys) -> None:
    store = ["--triggers", str(tmp_path / "t.yaml"), "--actions", str(EXAMPLES / "actions")]
    flags = ["--org", "og_acme", "--action", "detect-objects", "--required-inputs", "*.jpg"]
    assert main(["triggers", "create", "--name", "cam", *flags, "--disabled", *store]) == 0
    assert json.loads(capsys.readouterr().out)["enabled"] is False
    assert main(["triggers", "update", "cam", "--org", "og_acme", "--enabled", *store]) == 0
    assert json.loads(capsys.readouterr().out)["enabled"] is True


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        (["--action", "run-summary"], "requires parameter report_format"),
        (
            ["--action", "detect-objects", "--vcpu", "256", "--memory", "4096"],
            "memory 4096 MiB is not valid with vCPU 256",
        ),
        (
            ["--action", "detect-objects", "--parameter-value", "colour=red"],
            "parameter_values colour not defined by action 'detect-objects'",
        ),
        (["--action", "missing-action"], "action missing-action is not a known action"),
        (
            [
                "--action",
                "detect-objects",
                "--required-tag",
                "a",
                "--required-metadata",
                "k=v",
                "--condition-json",
                "{}",
            ],
            "not allowed with argument",
        ),
    ],
)
def test_triggers_create_rejects_invalid_definitions(
    tmp_path: Path, capsys, flags: list[str], fragment: str
) -> None:
    args = [
        "triggers",
        "create",
        "--org",
        "og_acme",
        "--name",
        "t",
        "--required-inputs",
        "*",
        "--triggers",
        str(tmp_path / "t.json"),
        "--actions",
        str(EXAMPLES / "actions"),
        *flags,
    ]
    with pytest.raises(SystemExit) if "not allowed" in fragment else nullcontext():
        assert main(args) == 2
    assert fragment in capsys.readouterr().err
    assert not (tmp_path / "t.json").exists()


def test_replay_with_a_state_dir_writes_the_same_bytes(tmp_path: Path) -> None:
    events = str(EXAMPLES / "events.jsonl")
    outputs = {}
    for name, flags in (
        ("memory", []),
        ("disk", ["--state-dir", str(tmp_path / "state"), "--state-cache-datasets", "1"]),
    ):
        out, evaluations = tmp_path / f"{name}.jsonl", tmp_path / f"{name}-evaluations.jsonl"
        command = ["replay", events, *ENGINE, "--out", str(out), "--evaluations", str(evaluations)]
        assert main([*command, "--no-progress", *flags]) == 0
        outputs[name] = (out.read_bytes(), evaluations.read_bytes())
    assert outputs["disk"] == outputs["memory"]
    assert outputs["memory"][0]
    assert list((tmp_path / "state").iterdir()) == []  # the temporary database is gone
