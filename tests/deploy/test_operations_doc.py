"""docs/operations.md against the code: its configuration table is exactly the flags, variables and
defaults of `trigger-engine run`; every command it shows is accepted; its metrics table is exactly
what `/metrics` exports (names and types), and its header tables exactly the headers the service
writes on output records and dead letters."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from typing import Any

import pytest

from engine.service.service import TriggerService
from engine.service.settings import ServiceSettings
from tests.deploy.surface import (
    DEPLOY,
    REPO,
    env_of_flag,
    parse_cli,
    producer_module,
    run_options,
)

DOC = REPO / "docs" / "operations.md"
# Where the service sets the headers of the records it writes.
HEADERS_SOURCE = REPO / "engine" / "service" / "kafka_sink.py"


def table_rows(first_cell: str) -> Iterator[list[str]]:
    """Cells (backticks removed) of the table rows whose first cell starts with `first_cell`."""
    for line in DOC.read_text().splitlines():
        if line.startswith(f"| `{first_cell}"):
            yield [cell.strip().strip("`") for cell in line.strip("|").split("|")]


def commands(program: str) -> Iterator[list[str]]:
    """The command lines in the doc's shell blocks that run `program`, continuation lines joined."""
    for block in re.findall(r"```bash\n(.*?)```", DOC.read_text(), re.DOTALL):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words[: len(program.split())] == program.split():
                yield words[len(program.split()) :]


def same_default(documented: str, actual: Any) -> bool:
    if documented == "—":
        return actual is None
    if documented == "off":
        return actual is False
    if isinstance(actual, int | float) and not isinstance(actual, bool):
        return float(documented) == float(actual)
    return documented == str(actual)


def test_the_configuration_table_lists_exactly_the_run_flags() -> None:
    documented = {row[0] for row in table_rows("--")}
    assert documented == set(run_options())


@pytest.mark.parametrize("row", list(table_rows("--")), ids=lambda row: row[0])
def test_each_flag_has_its_variable_and_default(row: list[str]) -> None:
    flag, variable, default, _meaning = row
    assert variable == env_of_flag(flag)
    actual = run_options()[flag].default
    assert same_default(default, actual), f"{flag}: documented {default!r}, parser has {actual!r}"


def test_the_topic_script_variables_are_documented() -> None:
    in_script = set(re.findall(r"\bTOPICS_[A-Z_]+", (DEPLOY / "topics.sh").read_text()))
    assert {row[0] for row in table_rows("TOPICS_")} == in_script


@pytest.mark.parametrize("argv", list(commands("trigger-engine")), ids=lambda argv: argv[0])
def test_every_trigger_engine_command_shown_is_accepted(argv: list[str]) -> None:
    parse_cli(argv)


@pytest.mark.parametrize(
    "argv", list(commands("python deploy/producer/produce_examples.py")), ids=str
)
def test_every_producer_command_shown_is_accepted(argv: list[str]) -> None:
    producer_module().build_parser().parse_args(argv)


def exported_metrics() -> dict[str, str]:
    """Name -> type of every engine metric `/metrics` shows (the service is built, not started);
    the client library's process and runtime metrics beside them are not the table's."""
    service = TriggerService(ServiceSettings(actions=REPO / "examples" / "actions"))
    text = service.metrics.render().decode()
    return dict(re.findall(r"^# TYPE (trigger_engine_\S+) (\S+)$", text, re.MULTILINE))


def test_the_metrics_table_is_what_the_service_exports() -> None:
    documented = {row[0]: row[1] for row in table_rows("trigger_engine_")}
    assert documented == exported_metrics()


def test_the_header_tables_are_the_headers_the_service_writes() -> None:
    written = set(re.findall(r'\("([a-z]+(?:\.[a-z]+)+)", ', HEADERS_SOURCE.read_text()))
    assert {"dlq.reason", "source.topic"} <= written, "the header names were not found"
    documented = {
        row[0]
        for prefix in ("dlq.", "source.", "event.", "processed.")
        for row in table_rows(prefix)
    }
    assert documented == written
