"""`whatif --from-kafka` and `evaluations --from-kafka`: a time range of a topic reads as a file of
the same records does."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from engine.cli import main
from tests.kafka.conftest import CreateTopics
from tests.kafka.helpers import (
    EXAMPLE_ACTIONS,
    EXAMPLE_EVENTS,
    EXAMPLE_TRIGGERS,
    STAMPED_FROM_MS,
    dataset_key,
    example_lines,
    produce_stamped,
    stamp_iso,
)

FIRST, STOP = 5, 30  # the records of the range, by their number in the example log


def _range_flags(bootstrap: str, topic: str) -> list[str]:
    return [
        "--from-kafka",
        f"--bootstrap-servers={bootstrap}",
        f"--topic={topic}",
        f"--since={stamp_iso(STAMPED_FROM_MS + FIRST * 1000)}",
        f"--until={stamp_iso(STAMPED_FROM_MS + STOP * 1000)}",
    ]


def _candidate(tmp_path: Path) -> Path:
    triggers = {t["name"]: t for t in yaml.safe_load(EXAMPLE_TRIGGERS.read_text())["triggers"]}
    triggers["front-cam-detect"]["parameter_values"]["threshold"] = "0.9"
    del triggers["mag-check"]
    path = tmp_path / "candidate.yaml"
    path.write_text(yaml.safe_dump({"triggers": list(triggers.values())}))
    return path


def _whatif(tmp_path: Path, name: str, *source: str) -> tuple[int, bytes]:
    report = tmp_path / f"{name}.json"
    code = main(
        [
            "whatif",
            *source,
            f"--triggers={EXAMPLE_TRIGGERS}",
            f"--candidate={_candidate(tmp_path)}",
            f"--actions={EXAMPLE_ACTIONS}",
            f"--json={report}",
            "--no-progress",
        ]
    )
    return code, report.read_bytes() if report.exists() else b""


async def test_whatif_over_a_time_range_reports_as_over_a_file_of_its_events(
    kafka_bootstrap: str,
    create_topics: CreateTopics,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    topic = unique_name("events")
    await create_topics({topic: 3}, timeless=True)
    lines = example_lines()
    await produce_stamped(kafka_bootstrap, topic, [(line, dataset_key(line)) for line in lines])
    (tmp_path / "range.jsonl").write_bytes(b"\n".join(lines[FIRST:STOP]) + b"\n")

    code, from_kafka = await asyncio.to_thread(
        _whatif, tmp_path, "kafka", *_range_flags(kafka_bootstrap, topic)
    )
    assert code == 0
    file_code, from_file = _whatif(tmp_path, "file", str(tmp_path / "range.jsonl"))
    assert file_code == 0
    assert from_kafka == from_file
    report = json.loads(from_kafka)
    assert report["events"] == STOP - FIRST
    assert report["triggers"]["front-cam-detect"]["changed"] > 0
    assert report["triggers"]["mag-check"]["removed"] > 0


def _evaluation_lines(tmp_path: Path) -> list[bytes]:
    path = tmp_path / "evaluations.jsonl"
    replay = ["replay", str(EXAMPLE_EVENTS), f"--triggers={EXAMPLE_TRIGGERS}"]
    replay += [f"--actions={EXAMPLE_ACTIONS}", f"--out={tmp_path / 'out.jsonl'}", "--no-progress"]
    assert main([*replay, f"--evaluations={path}"]) == 0
    return path.read_bytes().splitlines()


async def test_evaluations_of_a_time_range_of_the_topic_are_filtered(
    kafka_bootstrap: str,
    create_topics: CreateTopics,
    unique_name: Callable[[str], str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    topic = unique_name("evaluations")
    await create_topics({topic: 3}, timeless=True)
    lines = _evaluation_lines(tmp_path)
    garbage = FIRST + 1  # a record that is not an evaluation record, inside the range
    values = [*lines[:garbage], b"not an evaluation", *lines[garbage:]]
    keys = [json.loads(v)["dataset_id"].encode() if v.startswith(b"{") else None for v in values]
    placed = await produce_stamped(kafka_bootstrap, topic, list(zip(values, keys, strict=True)))
    capsys.readouterr()

    flags = [*_range_flags(kafka_bootstrap, topic), "--outcome=skipped"]
    code = await asyncio.to_thread(main, ["evaluations", *flags, "--json"])
    captured = capsys.readouterr()
    assert code == 0
    in_range = [
        (placed[n], value)
        for n, value in enumerate(values)
        if FIRST <= n < STOP and value.startswith(b"{")
    ]
    expected = [v.decode() for _, v in sorted(in_range) if json.loads(v)["outcome"] == "skipped"]
    assert expected and captured.out.splitlines() == expected  # partition by partition, in order
    partition, offset = placed[garbage]
    assert f"{topic}/{partition}:{offset}: not an evaluation record" in captured.err
    assert f"{len(expected)} of {STOP - FIRST} records match" in captured.err

    code = await asyncio.to_thread(main, ["evaluations", *flags])
    table = capsys.readouterr().out.splitlines()
    assert code == 0
    assert [row.split()[0] for row in table[1:]] == [json.loads(v)["event_id"] for v in expected]


def test_evaluations_refuse_files_and_kafka_together(
    kafka_bootstrap: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kafka = ["--from-kafka", f"--bootstrap-servers={kafka_bootstrap}"]
    assert main(["evaluations", str(tmp_path / "e.jsonl"), *kafka]) == 2
    assert "evaluations: give files to read or --from-kafka, not both" in capsys.readouterr().err
