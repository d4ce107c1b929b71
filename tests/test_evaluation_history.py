"""`evaluations` over the evaluation records a replay of the bundled examples writes: each filter
keeps exactly the records the test selects from the same file itself."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from engine.cli import main
from engine.vocabulary import Outcome, Reason, Status

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
ENGINE = ["--triggers", str(EXAMPLES / "triggers.yaml"), "--actions", str(EXAMPLES / "actions")]

Record = dict[str, object]


@pytest.fixture(scope="module")
def evaluations(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("history") / "evaluations.jsonl"
    replay = ["replay", str(EXAMPLES / "events.jsonl"), *ENGINE, "--no-progress"]
    assert (
        main([*replay, "--out", str(path.with_name("out.jsonl")), "--evaluations", str(path)]) == 0
    )
    return path


def _records(path: Path) -> list[tuple[bytes, Record]]:
    return [(line, json.loads(line)) for line in path.read_bytes().splitlines()]


def _trigger_id(path: Path, name: str) -> str:
    return next(str(r["trigger_id"]) for _, r in _records(path) if r["trigger_name"] == name)


def _evaluations(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["evaluations", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


CASES: list[tuple[list[str], Callable[[Record], bool]]] = [
    ([], lambda r: True),
    (["--trigger", "run-summary"], lambda r: r["trigger_name"] == "run-summary"),
    (
        ["--dataset", "ds_run43", "--outcome", "skipped", "--reason", "upload_in_progress"],
        lambda r: r["dataset_id"] == "ds_run43" and r["reason"] == "upload_in_progress",
    ),
    (["--file", "fl_f1"], lambda r: r["file_id"] == "fl_f1"),
    (
        ["--reason", "already_run", "--reason", "trigger_disabled"],
        lambda r: r["reason"] in ("already_run", "trigger_disabled"),
    ),
    (
        ["--outcome", "invoked_action", "--dataset", "ds_sim7", "--dataset", "ds_run42"],
        lambda r: r["outcome"] == "invoked_action" and r["dataset_id"] in ("ds_sim7", "ds_run42"),
    ),
    (["--status", "evaluated", "--trigger", "nope"], lambda r: False),
]


@pytest.mark.parametrize(("flags", "selects"), CASES)
def test_the_json_lines_are_the_records_the_filters_select(
    evaluations: Path,
    capsys: pytest.CaptureFixture[str],
    flags: list[str],
    selects: Callable[[Record], bool],
) -> None:
    code, out, err = _evaluations(capsys, str(evaluations), *flags, "--json")
    assert code == 0
    records = _records(evaluations)
    expected = [line.decode() for line, record in records if selects(record)]
    assert out.splitlines() == expected
    assert f"{len(expected)} of {len(records)} records match" in err


def test_a_trigger_is_named_or_given_by_id(evaluations: Path, capsys) -> None:
    mag_check = _trigger_id(evaluations, "mag-check")
    by_id = _evaluations(capsys, str(evaluations), "--trigger", mag_check, "--json")[1]
    by_name = _evaluations(capsys, str(evaluations), "--trigger", "mag-check", "--json")[1]
    assert by_id == by_name != ""
    both = _evaluations(
        capsys, str(evaluations), "--trigger", mag_check, "--trigger", "run-summary", "--json"
    )[1]
    expected = [
        line.decode()
        for line, r in _records(evaluations)
        if r["trigger_name"] in ("mag-check", "run-summary")
    ]
    assert both.splitlines() == expected


def test_the_table_has_a_line_per_record_in_columns(evaluations: Path, capsys) -> None:
    code, out, _ = _evaluations(capsys, str(evaluations), "--dataset", "ds_run42")
    assert code == 0
    header, *rows = out.splitlines()
    assert header.split() == ["EVENT", "TRIGGER", "DATASET", "FILE", "CAUSE", "OUTCOME", "DETAIL"]
    records = [r for _, r in _records(evaluations) if r["dataset_id"] == "ds_run42"]
    assert len(rows) == len(records)
    start = header.index("OUTCOME")
    for row, record in zip(rows, records, strict=True):
        event, trigger, dataset, file, cause = row.split()[:5]
        assert (event, trigger, dataset, file, cause) == (
            record["event_id"],
            record["trigger_name"],
            "ds_run42",
            record["file_id"] or "-",
            record["cause"],
        )
        outcome = row[start:].split("  ")[0]
        reason = "" if record["reason"] is None else f": {record['reason']}"
        assert outcome == f"{record['outcome']}{reason}"
        assert row.endswith(str(record["detail"] or ""))


def test_gzip_reads_as_the_plain_file(evaluations: Path, tmp_path: Path, capsys) -> None:
    packed = tmp_path / "evaluations.jsonl.gz"
    packed.write_bytes(gzip.compress(evaluations.read_bytes()))
    plain = _evaluations(capsys, str(evaluations), "--reason", "condition_not_met", "--json")
    assert _evaluations(capsys, str(packed), "--reason", "condition_not_met", "--json") == plain


def test_a_line_that_is_no_record_is_reported_and_the_rest_read(
    evaluations: Path, tmp_path: Path, capsys
) -> None:
    lines = evaluations.read_bytes().splitlines()
    damaged = tmp_path / "damaged.jsonl"
    damaged.write_bytes(b"\n".join([lines[0], b"not json", b'{"outcome": "maybe"}', *lines[1:]]))
    code, out, err = _evaluations(capsys, str(damaged), "--json")
    assert code == 0
    assert out.splitlines() == [line.decode() for line in lines]
    assert f"{damaged}:2: not an evaluation record" in err
    assert f"{damaged}:3: not an evaluation record" in err
    assert "2 records were not evaluation records" in err


def test_time_bounds_need_kafka(evaluations: Path, capsys) -> None:
    code, _, err = _evaluations(capsys, str(evaluations), "--since", "2026-11-20T10:00:00Z")
    assert code == 2
    assert "--since/--until: only apply with --from-kafka" in err


def test_outcome_reason_and_status_choices_are_the_vocabulary(capsys) -> None:
    for flag, vocabulary in (("--outcome", Outcome), ("--reason", Reason), ("--status", Status)):
        with pytest.raises(SystemExit) as refused:
            main(["evaluations", "x.jsonl", flag, "bogus"])
        assert refused.value.code == 2
        err = capsys.readouterr().err
        assert all(repr(str(word)) in err for word in vocabulary)
