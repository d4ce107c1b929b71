"""Failures of the commands that talk to Kafka, as an operator sees them: one line that says what
went wrong, no traceback, a non-zero status. No broker: the brokers named are a local port that
refuses connections."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ACTIONS = ROOT / "examples" / "actions"
TRIGGERS = ROOT / "examples" / "triggers.yaml"
TIMEOUT_S = 120


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A local port bound but not listening: connections to it are refused."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield held.getsockname()[1]


def _trigger_engine(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "engine", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )


@pytest.mark.parametrize(
    "command",
    [
        ["triggers", "list"],
        ["triggers", "create", "--name=x", "--action=mcap-index", "--required-inputs=*.mcap",
         f"--actions={ACTIONS}", "--org=og_acme"],
        ["admin", "seek", "--partition=0", "--offset=0"],
        ["replay", "--from-kafka", f"--triggers={TRIGGERS}", f"--actions={ACTIONS}"],
        ["triggers", "invoke", "run-summary", "--org=og_acme", "--dataset=ds_1",
         "--idempotency-id=k"],
    ],
    ids=["triggers-list", "triggers-create", "admin-seek", "replay-from-kafka", "triggers-invoke"],
)  # fmt: skip
def test_a_command_against_unreachable_brokers_says_so_in_one_line(
    closed_port: int, command: list[str]
) -> None:
    done = _trigger_engine(*command, f"--bootstrap-servers=127.0.0.1:{closed_port}")
    assert done.returncode == 1
    assert (
        done.stderr
        == f"trigger-engine: error: no Kafka broker answers at 127.0.0.1:{closed_port}\n"
    )


def test_run_against_unreachable_brokers_says_so_and_exits_1(closed_port: int) -> None:
    brokers = f"127.0.0.1:{closed_port}"
    done = _trigger_engine(
        "run", f"--bootstrap-servers={brokers}", f"--actions={ACTIONS}", "--http-port=0"
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines()[-1].endswith(
        f"cannot start: no Kafka broker answers at {brokers}"
    )


def test_run_on_a_busy_http_port_names_the_port_and_exits_1(closed_port: int) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = _trigger_engine(
            "run",
            f"--bootstrap-servers=127.0.0.1:{closed_port}",
            f"--actions={ACTIONS}",
            "--http-host=127.0.0.1",
            f"--http-port={port}",
        )
    assert done.returncode == 1
    [line] = done.stderr.splitlines()
    assert line.endswith(f"cannot start: HTTP port {port} on 127.0.0.1: address already in use")
