"""`trigger-engine triggers backfill|invoke` without a broker: the command lines they print,
appended to the example log, give the invocations of the specification when replayed; what the
command line can check it refuses with a clear error; bad command events in a log are rejects."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.cli import main
from engine.command_events import backfill_requested, invoke_requested

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
ACTIONS = EXAMPLES / "actions"
EVENTS = EXAMPLES / "events.jsonl"
TIME = "2026-11-21T09:00:00Z"
# A trigger created after the example history: in replay a trigger of the triggers file sees the
# whole log, so it listens to a cause the log never raises in og_acme (a file metadata update),
# and only a backfill evaluates it for the datasets that are already there.
NEW_TRIGGER = "bag-convert"
# og_acme's datasets at the end of the log with a bag: ds_run42 and ds_run43 are tagged prod
# (ds_sim7 is deleted); ds_teleop_5 is not.
SATISFIED = ["ds_run42", "ds_run43"]


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    """The commands print their events: no broker from the environment."""
    monkeypatch.delenv("TRIGGER_ENGINE_BOOTSTRAP_SERVERS", raising=False)


@pytest.fixture
def triggers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[Path]:
    """The example triggers, and NEW_TRIGGER created with `triggers create`."""
    path = tmp_path / "triggers.yaml"
    shutil.copy(EXAMPLES / "triggers.yaml", path)
    create = [
        *("triggers", "create", "--org", "og_acme", "--name", NEW_TRIGGER),
        *("--action", "bag-to-mcap", "--required-inputs", "**/*.bag", "--required-tag", "prod"),
        *("--causes", "file_metadata_update", "--triggers", str(path), "--actions", str(ACTIONS)),
    ]
    assert main(create) == 0
    capsys.readouterr()
    yield path


def _command(capsys: pytest.CaptureFixture[str], triggers: Path, *args: str) -> str:
    """The event line a `triggers` command prints (it prints nothing else on stdout)."""
    flags = ["--org", "og_acme", "--triggers", str(triggers), "--time", TIME]
    assert main(["triggers", *args, *flags]) == 0, capsys.readouterr().err
    [line] = capsys.readouterr().out.splitlines()
    return line


class Replayed:
    """A replay of the example log followed by `commands`."""

    def __init__(self, tmp_path: Path, triggers: Path, commands: list[str]) -> None:
        tmp_path.mkdir(exist_ok=True)
        log = tmp_path / "log.jsonl"
        log.write_text(EVENTS.read_text() + "".join(line + "\n" for line in commands))
        outputs = {name: tmp_path / f"{name}.jsonl" for name in ("out", "evaluations", "rejects")}
        args = [str(log), "--triggers", str(triggers), "--actions", str(ACTIONS), "--no-progress"]
        args += [f"--{name}={path}" for name, path in outputs.items()]
        assert main(["replay", *args]) == 0
        self.log_lines = log.read_text().splitlines()
        self.invocations, self.records, self.rejects = (
            [json.loads(line) for line in path.read_text().splitlines()]
            for path in outputs.values()
        )

    def of(self, event_id: str) -> list[dict[str, Any]]:
        return [i for i in self.invocations if i["event_id"] == event_id]

    def records_of(self, event_id: str) -> list[tuple[str, str | None]]:
        return [(r["dataset_id"], r["reason"]) for r in self.records if r["event_id"] == event_id]


def _units(invocations: list[dict[str, Any]]) -> list[tuple[str, str, list[str]]]:
    return [
        (
            i["trigger"]["name"],
            i["data_source"]["data_source_id"],
            [f["file_id"] for f in i["input_data"]["files"]],
        )
        for i in invocations
    ]


def _id(line: str) -> str:
    return str(json.loads(line)["id"])


def test_a_backfill_fires_the_new_trigger_once_per_satisfied_dataset(
    tmp_path: Path, triggers: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = Replayed(tmp_path / "before", triggers, [])
    backfill = _command(capsys, triggers, "backfill", NEW_TRIGGER, "--request-id", "r1")
    after = Replayed(tmp_path / "after", triggers, [backfill])

    assert not [i for i in before.invocations if i["trigger"]["name"] == NEW_TRIGGER]
    assert after.invocations[: len(before.invocations)] == before.invocations
    fired = after.invocations[len(before.invocations) :]
    assert _units(fired) == [
        (NEW_TRIGGER, "ds_run42", ["fl_bag"]),
        (NEW_TRIGGER, "ds_run43", ["fl_43b1", "fl_43b2"]),
    ]
    for invocation in fired:
        assert invocation["cause"] == "backfill"
        assert invocation["invocation_source"] == "Trigger"
        assert (invocation["event_id"], invocation["event_time"]) == (_id(backfill), TIME)
    assert after.records_of(_id(backfill)) == [
        ("ds_run42", None),
        ("ds_run43", None),
        ("ds_teleop_5", "condition_not_met"),
    ]
    assert [(r["line"], r["reason"]) for r in after.rejects] == [
        (r["line"], r["reason"]) for r in before.rejects
    ]


def test_a_second_backfill_fires_nothing_new_and_a_rerun_fires_again(
    tmp_path: Path, triggers: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = _command(capsys, triggers, "backfill", NEW_TRIGGER, "--request-id", "r1")
    second = _command(capsys, triggers, "backfill", NEW_TRIGGER, "--request-id", "r2")
    rerun = _command(capsys, triggers, "backfill", NEW_TRIGGER, "--request-id", "r3", "--rerun")
    replayed = Replayed(tmp_path, triggers, [first, second, rerun])

    assert [i["data_source"]["data_source_id"] for i in replayed.of(_id(first))] == SATISFIED
    assert replayed.of(_id(second)) == []
    assert replayed.records_of(_id(second)) == [
        ("ds_run42", "already_run"),
        ("ds_run43", "already_run"),
        ("ds_teleop_5", "condition_not_met"),
    ]
    again = replayed.of(_id(rerun))
    assert _units(again) == _units(replayed.of(_id(first)))
    first_ids = {i["invocation_id"] for i in replayed.of(_id(first))}
    assert not first_ids & {i["invocation_id"] for i in again}


def test_invokes_with_one_idempotency_id_invoke_once_and_with_two_ids_twice(
    tmp_path: Path, triggers: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def invoke(key: str, *more: str) -> str:
        return _command(capsys, triggers, "invoke", *more, "--idempotency-id", key)

    summary = ("run-summary", "--dataset", "ds_run42")
    frame = ("front-cam-detect", "--dataset", "ds_run42", "--file", "fl_f2")
    commands = [invoke("k1", *summary), invoke("k1", *summary), invoke("k2", *summary)]
    commands.append(invoke("k1", *frame))
    assert len({_id(line) for line in commands}) == 3  # the repeated command is the same event
    replayed = Replayed(tmp_path, triggers, commands)

    manual = [i for i in replayed.invocations if i["cause"] == "manual"]
    assert _units(manual) == [
        ("run-summary", "ds_run42", ["fl_f1", "fl_f2", "fl_bag"]),
        ("run-summary", "ds_run42", ["fl_f1", "fl_f2", "fl_bag"]),
        ("front-cam-detect", "ds_run42", ["fl_f2"]),
    ]
    assert len({i["invocation_id"] for i in manual}) == 3
    assert {i["invocation_source"] for i in manual} == {"Manual"}
    assert replayed.records_of(_id(commands[1])) == [
        ("ds_run42", None),
        ("ds_run42", "already_run"),
    ]


def test_a_generated_id_is_printed_and_repeating_it_repeats_the_same_event(
    triggers: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flags = ["--org", "og_acme", "--triggers", str(triggers), "--time", TIME]
    assert main(["triggers", "invoke", "run-summary", "--dataset", "ds_run42", *flags]) == 0
    printed = capsys.readouterr()
    event = json.loads(printed.out)
    key = event["data"]["trigger"]["idempotency_id"]
    assert f"--idempotency-id {key}" in printed.err
    again = ["--idempotency-id", key]
    assert main(["triggers", "invoke", "run-summary", "--dataset", "ds_run42", *again, *flags]) == 0
    assert json.loads(capsys.readouterr().out) == event

    assert main(["triggers", "backfill", NEW_TRIGGER, *flags]) == 0
    printed = capsys.readouterr()
    request = json.loads(printed.out)["data"]["trigger"]["request_id"]
    assert f"--request-id {request}" in printed.err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["backfill", "nope", "--org", "og_acme"],
            "trigger 'nope' of org 'og_acme': does not exist",
        ),
        (
            ["invoke", "mag-check", "--org", "og_acme", "--dataset", "d"],
            "'mag-check' of org 'og_acme'",
        ),
        (
            [
                "invoke",
                "run-summary",
                "--org",
                "og_acme",
                "--dataset",
                "ds_run42",
                "--file",
                "fl_f1",
            ],
            "--file: not allowed: 'run-summary' is for_each dataset",
        ),
        (
            ["invoke", "front-cam-detect", "--org", "og_acme", "--dataset", "ds_run42"],
            "--file: required: 'front-cam-detect' is for_each dataset_file",
        ),
        (["backfill", "nope"], "trigger 'nope': does not exist in any org"),
        (["backfill", "run-summary", "--org", "og_acme", "--time", "today"], "--time: 'today'"),
        (
            ["backfill", "run-summary", "--org", "og_acme", "--bootstrap-servers", "127.0.0.1:1"],
            "give exactly one of --triggers FILE or --bootstrap-servers",
        ),
    ],
)
def test_commands_the_command_line_can_check_are_refused_with_the_reason(
    triggers: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    message: str,
) -> None:
    monkeypatch.delenv("ROBOTO_ORG_ID", raising=False)
    assert main(["triggers", *args, "--triggers", str(triggers)]) == 2
    printed = capsys.readouterr()
    assert printed.out == ""
    [line] = printed.err.splitlines()
    assert line.startswith("trigger-engine: error: ") and message in line


def test_bad_command_events_in_a_log_are_rejects_with_the_reason(
    tmp_path: Path, triggers: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The command line cannot know which org a dataset belongs to: the engine does.
    other_org = _command(capsys, triggers, "invoke", "run-summary", "--dataset", "ds_flight_0912")
    no_request = backfill_requested("og_acme", "run-summary", "r", rerun=False, time=TIME).event
    del no_request["data"]["trigger"]["request_id"]
    no_key = _invoke("ds_run42", "run-summary", "k")
    del no_key["data"]["trigger"]["idempotency_id"]
    bad = [
        (other_org, "dataset 'ds_flight_0912' belongs to org 'og_skyops', not 'og_acme'"),
        (json.dumps(no_request), "'data.trigger.request_id': is missing"),
        (json.dumps(no_key), "'data.trigger.idempotency_id': is missing"),
        (json.dumps(_invoke("ds_run42", "nope", "k")), "no trigger 'nope' in org 'og_acme'"),
        (json.dumps(_invoke("ds_gone", "run-summary", "k")), "dataset 'ds_gone' is not in state"),
        (json.dumps(_invoke("ds_run42", "run-summary", "k", "fl_f1")), "'data.file_id': not"),
        (json.dumps(_invoke("ds_run42", "front-cam-detect", "k")), "'data.file_id': required"),
    ]
    plain = Replayed(tmp_path / "plain", triggers, [])
    replayed = Replayed(tmp_path / "bad", triggers, [line for line, _ in bad])

    assert replayed.invocations == plain.invocations
    assert replayed.records == plain.records
    new = replayed.rejects[len(plain.rejects) :]
    first = len(plain.log_lines) + 1
    assert [r["line"] for r in new] == list(range(first, first + len(bad)))
    for reject, (line, reason) in zip(new, bad, strict=True):
        assert reject["event"] == line
        assert reason in reject["reason"]


def _invoke(dataset: str, name: str, key: str, file_id: str | None = None) -> dict[str, Any]:
    return invoke_requested("og_acme", dataset, name, key, file_id=file_id, time=TIME).event
