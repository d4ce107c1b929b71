"""The replay progress bar: its total is the input files' bytes (compressed, for `.gz`), its
position the bytes read; it is drawn only on a terminal."""

from __future__ import annotations

import gzip
import io
import random
import re
import sys
from pathlib import Path

import pytest

from engine.cli import main
from engine.progress import Progress
from engine.replay import EventFiles, read_events

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
ENGINE = ["--triggers", str(EXAMPLES / "triggers.yaml"), "--actions", str(EXAMPLES / "actions")]
PERCENT = re.compile(r"(\d+)%\|")


class Terminal(io.StringIO):
    """A stream that says it is a terminal, and keeps what was drawn on it."""

    def isatty(self) -> bool:
        return True


def _log(path: Path, lines: int, seed: int = 0) -> Path:
    """`lines` events the engine rejects (unknown type), with ids that do not compress away."""
    rng = random.Random(seed)
    text = "".join(
        f'{{"specversion": "1.0", "id": "{rng.randbytes(24).hex()}", "type": "file.renamed"}}\n'
        for _ in range(lines)
    )
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def _positions(files: EventFiles) -> list[int]:
    return [files.position() for _ in files]


def test_the_total_is_the_files_bytes_and_reading_ends_there(tmp_path: Path) -> None:
    first, second = _log(tmp_path / "a.jsonl", 500), _log(tmp_path / "b.jsonl", 700, seed=1)
    files = read_events([str(first), str(second)])
    size = first.stat().st_size + second.stat().st_size
    assert files.size() == size
    positions = _positions(files)
    assert len(positions) == 1200
    assert positions == sorted(positions)
    assert positions[0] < first.stat().st_size <= positions[500] < size
    assert files.position() == size


def test_a_compressed_file_counts_its_compressed_bytes(tmp_path: Path) -> None:
    packed = _log(tmp_path / "a.jsonl.gz", 20_000)
    files = read_events([str(packed)])
    assert files.size() == packed.stat().st_size
    positions = _positions(files)
    assert positions == sorted(positions)
    assert 0 < positions[0] < positions[-1]  # the compressed bytes are read a chunk at a time
    assert files.position() == packed.stat().st_size


def test_stdin_has_no_size() -> None:
    assert read_events(["-"]).size() is None


def _percentages(drawn: str) -> list[int]:
    return [int(p) for p in PERCENT.findall(drawn)]


def test_the_bar_advances_with_the_bytes_read_to_100_percent(tmp_path: Path) -> None:
    files = read_events([str(_log(tmp_path / "a.jsonl", 5000))])
    terminal = Terminal()
    progress = Progress(
        "replay", files.size(), position=files.position, stream=terminal, redraw_seconds=0
    )
    done = 0
    for done, _ in enumerate(files, start=1):
        progress.tick(done, rejected=done)
    progress.close(done, rejected=done)
    percentages = _percentages(terminal.getvalue())
    assert percentages == sorted(percentages)
    assert len(set(percentages)) >= 4  # a draw per 1024 events, each further on
    assert percentages[-1] == 100
    last = terminal.getvalue().split("\r")[-1]
    assert "5,000 events" in last and "5,000 rejected" in last and last.endswith("\n")


def _replay_on(stream: io.StringIO, monkeypatch: pytest.MonkeyPatch, *args: str) -> None:
    monkeypatch.setattr(sys, "stderr", stream)
    assert main(["replay", *args, *ENGINE, "--out", "-"]) == 0


@pytest.mark.parametrize("name", ["events.jsonl", "events.jsonl.gz"])
def test_replay_on_a_terminal_ends_its_bar_at_100_percent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    log = _log(tmp_path / name, 3000)
    terminal = Terminal()
    _replay_on(terminal, monkeypatch, str(log))
    bar = terminal.getvalue().split("\n")[0].split("\r")[-1]
    assert _percentages(bar) == [100]
    assert "3,000 events" in bar and "3,000 rejected" in bar


def test_replay_of_stdin_on_a_terminal_shows_the_count_without_a_percentage(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert Progress.for_terminal("replay", source=read_events(["-"])) is None
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    progress = Progress.for_terminal("replay", source=read_events(["-"]))
    assert progress is not None
    progress.close(47, rejected=3)
    bar = terminal.getvalue().split("\r")[-1]
    assert "47 events" in bar and "3 rejected" in bar
    assert _percentages(bar) == []


def test_nothing_is_drawn_when_stderr_is_not_a_terminal_or_with_no_progress(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    events = str(EXAMPLES / "events.jsonl")
    not_a_terminal = io.StringIO()
    _replay_on(not_a_terminal, monkeypatch, events)
    told = not_a_terminal.getvalue()
    assert told.startswith("replay summary: ")
    assert "\r" not in told and "%|" not in told
    terminal = Terminal()
    _replay_on(terminal, monkeypatch, events, "--no-progress")
    assert terminal.getvalue() == told
