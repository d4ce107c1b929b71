"""`whatif` on the bundled examples: its report is exactly the difference of two `replay` runs,
one under the current triggers and one under the candidate, computed here from their outputs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.cli import main
from engine.sinks import Origin
from engine.spool import spooled

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
EVENTS = EXAMPLES / "events.jsonl"
TRIGGERS = EXAMPLES / "triggers.yaml"
ACTIONS = EXAMPLES / "actions"
CHANGES = ("added", "removed", "changed")
EXAMPLES_PER_CHANGE = 3


def _example_triggers() -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in yaml.safe_load(TRIGGERS.read_text())["triggers"]}


def _write_triggers(path: Path, triggers: dict[str, dict[str, Any]]) -> Path:
    path.write_text(yaml.safe_dump({"triggers": list(triggers.values())}, sort_keys=False))
    return path


def _edited_candidate(tmp_path: Path) -> Path:
    """A changed condition, a removed trigger, an added one and a changed parameter value."""
    triggers = _example_triggers()
    triggers["run-summary"]["condition"]["conditions"][1]["value"] = 5  # metadata.speed > 5
    del triggers["mag-check"]
    triggers["bag-index"] = {
        "name": "bag-index",
        "org_id": "og_acme",
        "action": "mcap-ingest",
        "required_inputs": ["**/*.bag"],
        "for_each": "dataset_file",
    }
    triggers["front-cam-detect"]["parameter_values"]["threshold"] = "0.9"
    return _write_triggers(tmp_path / "candidate.yaml", triggers)


def _replay_lines(tmp_path: Path, triggers: Path, name: str) -> list[bytes]:
    out = tmp_path / f"{name}.jsonl"
    args = [str(EVENTS), "--triggers", str(triggers), "--actions", str(ACTIONS)]
    assert main(["replay", *args, "--out", str(out), "--no-progress"]) == 0
    return out.read_bytes().splitlines()


def _whatif(tmp_path: Path, candidate: Path, *extra: str) -> tuple[int, dict[str, Any] | None]:
    report = tmp_path / "whatif.json"
    code = main(
        [
            "whatif",
            *extra,
            "--triggers",
            str(TRIGGERS),
            "--candidate",
            str(candidate),
            "--actions",
            str(ACTIONS),
            "--json",
            str(report),
            "--no-progress",
        ]
    )
    return code, json.loads(report.read_bytes()) if report.exists() else None


def _by_invocation(lines: list[bytes]) -> dict[tuple[str, str, str], tuple[bytes, dict]]:
    found = {}
    for line in lines:
        request = json.loads(line)
        key = (request["org_id"], request["trigger"]["name"], request["invocation_id"])
        found[key] = (line, request)
    assert len(found) == len(lines)  # no invocation is requested twice in one run
    return found


def _example(change: str, request: dict, fields: list[str]) -> dict[str, Any]:
    per_file = request["for_each"] == "dataset_file"
    return {
        "change": change,
        "invocation_id": request["invocation_id"],
        "dataset_id": request["data_source"]["data_source_id"],
        "file_id": request["input_data"]["files"][0]["file_id"] if per_file else None,
        "fields": fields,
    }


def _difference(before_lines: list[bytes], after_lines: list[bytes]) -> dict[str, dict]:
    """The report's `triggers` as the specification describes it, from two replay outputs (the
    example trigger names are unique across orgs, so keyed by name)."""
    before, after = _by_invocation(before_lines), _by_invocation(after_lines)
    found: dict[tuple[str, str], dict[str, list[dict]]] = {}
    for key in before.keys() | after.keys():
        old, new = before.get(key), after.get(key)
        if old is not None and new is not None and old[0] == new[0]:
            continue
        if old is None:
            assert new is not None
            change, request, fields = "added", new[1], []
        elif new is None:
            change, request, fields = "removed", old[1], []
        else:
            change, request = "changed", new[1]
            fields = [f for f in {**old[1], **new[1]} if old[1].get(f) != new[1].get(f)]
        kinds = found.setdefault(key[:2], {c: [] for c in CHANGES})
        kinds[change].append(_example(change, request, fields))
    expected = {}
    for (org, name), kinds in sorted(found.items(), key=lambda item: item[0][1]):
        examples = []
        for change in CHANGES:
            ordered = sorted(
                kinds[change],
                key=lambda e: (e["dataset_id"], e["file_id"] or "", e["invocation_id"]),
            )
            examples.extend(ordered[:EXAMPLES_PER_CHANGE])
        counts = {change: len(kinds[change]) for change in CHANGES}
        expected[name] = {"org_id": org, "name": name, **counts, "examples": examples}
    return expected


def _event_count() -> int:
    return sum(1 for line in EVENTS.read_bytes().splitlines() if line.strip())


def test_the_report_is_the_difference_of_two_replays(tmp_path: Path, capsys) -> None:
    candidate = _edited_candidate(tmp_path)
    expected = _difference(
        _replay_lines(tmp_path, TRIGGERS, "current"),
        _replay_lines(tmp_path, candidate, "candidate"),
    )
    capsys.readouterr()
    code, report = _whatif(tmp_path, candidate, str(EVENTS))
    assert code == 0 and report is not None
    assert report["triggers"] == expected
    assert report["events"] == _event_count()
    assert report["rejected"] == {"current": 3, "candidate": 3}
    # Each edit shows as what it is: the test is not vacuous.
    assert expected["bag-index"]["added"] > 0
    assert expected["mag-check"]["removed"] > 0
    assert expected["run-summary"]["removed"] + expected["run-summary"]["changed"] > 0
    assert expected["front-cam-detect"]["changed"] > 0
    assert {f for e in expected["front-cam-detect"]["examples"] for f in e["fields"]} == {
        "parameter_values"
    }
    table = capsys.readouterr().out.splitlines()
    for name, entry in report["triggers"].items():
        counts = [str(entry[change]) for change in CHANGES]
        assert any(line.split() == [name, *counts] for line in table)


def test_an_identical_candidate_changes_nothing(tmp_path: Path, capsys) -> None:
    same = tmp_path / "same.json"  # the same triggers, written in another format
    same.write_text(json.dumps(list(_example_triggers().values())))
    code, report = _whatif(tmp_path, same, str(EVENTS))
    assert code == 0
    assert report == {
        "triggers": {},
        "events": _event_count(),
        "rejected": {"current": 3, "candidate": 3},
    }
    assert "no invocation would be added, removed or changed" in capsys.readouterr().out


def test_a_name_used_by_several_orgs_is_keyed_by_org(tmp_path: Path) -> None:
    triggers = _example_triggers()
    triggers["front-cam-detect"]["parameter_values"]["threshold"] = "0.9"
    candidate = _write_triggers(tmp_path / "candidate.yaml", triggers)
    _, alone = _whatif(tmp_path, candidate, str(EVENTS))
    assert alone is not None and list(alone["triggers"]) == ["front-cam-detect"]

    triggers["skyops-copy"] = {
        **triggers["flight-review"],
        "name": "front-cam-detect",
        "condition": None,
    }
    candidate = _write_triggers(tmp_path / "candidate.yaml", triggers)
    _, shared = _whatif(tmp_path, candidate, str(EVENTS))
    assert shared is not None
    assert list(shared["triggers"]) == ["og_acme/front-cam-detect", "og_skyops/front-cam-detect"]
    assert shared["triggers"]["og_acme/front-cam-detect"] == alone["triggers"]["front-cam-detect"]
    assert shared["triggers"]["og_skyops/front-cam-detect"]["added"] > 0


def test_an_invalid_candidate_is_refused_as_replay_refuses_it(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.yaml"
    triggers = _example_triggers()
    triggers["mag-check"]["colour"] = "red"
    _write_triggers(bad, triggers)
    replay_code = main(["replay", str(EVENTS), "--triggers", str(bad), "--actions", str(ACTIONS)])
    replay_error = capsys.readouterr().err
    code, report = _whatif(tmp_path, bad, str(EVENTS))
    assert (code, report) == (replay_code, None) == (2, None)
    error = capsys.readouterr().err
    assert error == replay_error
    assert "trigger 'mag-check'" in error and str(bad) in error and "colour" in error


def test_whatif_needs_events(tmp_path: Path, capsys) -> None:
    code, _ = _whatif(tmp_path, TRIGGERS)
    assert code == 2
    assert "whatif: give files to read, or --from-kafka" in capsys.readouterr().err


def test_stdin_is_read_once_and_reports_as_a_file_does(tmp_path: Path) -> None:
    candidate = _edited_candidate(tmp_path)
    _, from_file = _whatif(tmp_path, candidate, str(EVENTS))
    command = [sys.executable, "-m", "engine", "whatif", "-", "--triggers", str(TRIGGERS)]
    command += ["--candidate", str(candidate), "--actions", str(ACTIONS), "--json", "-"]
    runs = [
        subprocess.run(command, input=EVENTS.read_bytes(), capture_output=True, check=True)
        for _ in range(2)
    ]
    assert runs[0].stdout == runs[1].stdout  # byte-identical, and only the JSON on stdout
    assert json.loads(runs[0].stdout) == from_file


@pytest.mark.parametrize(
    "origin",
    [
        Origin("events.jsonl", 7, b'{"id": "ev-1"}'),
        Origin("dataset-events", 42, b"\x00 not json", partition=2, key=b"ds_1"),
        Origin("dataset-events", 43, None, partition=0),
        Origin("dataset-events", 44, b"{}", 1, b"ds_1", (("ce_id", b"ev-1"), ("x", None))),
    ],
)
def test_the_spool_gives_back_each_record_as_it_was_read(origin: Origin) -> None:
    with spooled() as spool:
        first = list(spool.recording([origin, origin]))
        assert list(spool.replaying()) == first == [origin, origin]
        assert list(spool.replaying()) == first
