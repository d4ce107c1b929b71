"""docs/operations.md against the code: its configuration table is exactly the flags, variables and
defaults of `trigger-engine run`; every command it shows is accepted; the metric and dead-letter
header names it lists are the ones the service writes."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from typing import Any

import pytest

from engine.cli import build_parser
from tests.deploy.surface import DEPLOY, REPO, env_of_flag, producer_module, run_options

DOC = REPO / "docs" / "operations.md"
SERVICE = REPO / "engine" / "service"


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
    build_parser().parse_args(argv)


@pytest.mark.parametrize(
    "argv", list(commands("python deploy/producer/produce_examples.py")), ids=str
)
def test_every_producer_command_shown_is_accepted(argv: list[str]) -> None:
    producer_module().build_parser().parse_args(argv)


def service_source() -> str:
    assert SERVICE.is_dir(), "engine/service does not exist yet"
    return "\n".join(path.read_text() for path in sorted(SERVICE.rglob("*.py")))


@pytest.mark.parametrize("metric", [row[0] for row in table_rows("trigger_engine_")])
def test_each_documented_metric_is_exported_by_the_service(metric: str) -> None:
    assert f'"{metric}"' in service_source()


@pytest.mark.parametrize("header", [row[0] for row in table_rows("dlq.")])
def test_each_documented_dead_letter_header_is_written_by_the_service(header: str) -> None:
    assert f'"{header}"' in service_source()
