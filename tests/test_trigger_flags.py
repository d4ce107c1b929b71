"""`triggers create|update|get|delete` keep what the user types: repeated list flags accumulate,
`null` removes a container override, partial override updates merge, the org is implicit for a
name in one org only, parameter values are strings, a missing file is an error that names it,
and every flag says what it is for."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

from engine.cli import build_parser, main

ROOT = Path(__file__).resolve().parent.parent
ACTIONS = ROOT / "examples" / "actions"
PUBLIC_ACTION = "og_roboto/thumbnailer"  # usable by every org


@pytest.fixture(autouse=True)
def _no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The store is the file, and no org comes from the environment."""
    monkeypatch.delenv("TRIGGER_ENGINE_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.delenv("ROBOTO_ORG_ID", raising=False)


@pytest.fixture
def store(tmp_path: Path) -> list[str]:
    return ["--triggers", str(tmp_path / "triggers.yaml"), "--actions", str(ACTIONS)]


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    """A `triggers` verb that succeeds, and the trigger it prints."""
    assert main(["triggers", *args]) == 0, capsys.readouterr().err
    printed: dict[str, Any] = json.loads(capsys.readouterr().out)
    return printed


def _failure(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """The one error line of a `triggers` verb refused with exit 2."""
    assert main(["triggers", *args]) == 2
    printed = capsys.readouterr()
    assert printed.out == ""
    [line] = printed.err.splitlines()
    assert line.startswith("trigger-engine: error: ")
    return line


def _create(capsys: pytest.CaptureFixture[str], store: list[str], *flags: str) -> dict[str, Any]:
    org_and_action = ["--org", "og_acme", "--action", "detect-objects"]
    return _run(capsys, "create", "--name", "cam", *org_and_action, *flags, *store)


def test_repeated_list_flags_accumulate(
    capsys: pytest.CaptureFixture[str], store: list[str]
) -> None:
    created = _create(
        capsys,
        store,
        *("--required-inputs", "a/*.jpg", "--required-inputs", "b/*.jpg", "c/*.jpg"),
        *("--additional-inputs", "*.json", "--additional-inputs", "*.yaml"),
        *("--parameter-value", "model=small", "--parameter-value", "threshold=0.5"),
        *("--env", "A=1", "--env", "B=2", "C=3"),
        *("--required-tag", "prod", "--required-tag", "front"),
    )
    got = _run(capsys, "get", "cam", *store)

    assert got == created
    assert got["required_inputs"] == ["a/*.jpg", "b/*.jpg", "c/*.jpg"]
    assert got["additional_inputs"] == ["*.json", "*.yaml"]
    assert got["parameter_values"] == {"model": "small", "threshold": "0.5"}
    assert got["container_parameter_overrides"] == {"env_vars": {"A": "1", "B": "2", "C": "3"}}
    assert got["required_tag"] == ["prod", "front"]

    metadata = ["--required-metadata", "speed=3", "--required-metadata", "x=y"]
    _run(capsys, "update", "cam", *metadata, *store)
    got = _run(capsys, "get", "cam", *store)
    assert got["required_metadata"] == {"speed": 3, "x": "y"} and "required_tag" not in got


def test_parameter_values_are_stored_as_the_strings_typed(
    capsys: pytest.CaptureFixture[str], store: list[str]
) -> None:
    _create(capsys, store, "--required-inputs", "*.jpg", "--parameter-value", "threshold=0.9")
    assert _run(capsys, "get", "cam", *store)["parameter_values"] == {"threshold": "0.9"}
    _run(capsys, "update", "cam", "--parameter-value", "model=7", "threshold=true", *store)
    got = _run(capsys, "get", "cam", *store)
    assert got["parameter_values"] == {"model": "7", "threshold": "true"}


def test_null_removes_a_container_override(
    capsys: pytest.CaptureFixture[str], store: list[str]
) -> None:
    container = ["--entrypoint", "python", "--command", "-m detect --fast", "--workdir", "/app"]
    created = _create(capsys, store, "--required-inputs", "*.jpg", *container, "--env", "A=1")
    assert created["container_parameter_overrides"] == {
        "entry_point": ["python"],
        "command": ["-m", "detect", "--fast"],
        "workdir": "/app",
        "env_vars": {"A": "1"},
    }

    _run(capsys, "update", "cam", "--entrypoint", "null", "--command", "null", *store)
    got = _run(capsys, "get", "cam", *store)
    assert got["container_parameter_overrides"] == {"workdir": "/app", "env_vars": {"A": "1"}}

    _run(capsys, "update", "cam", "--workdir", "null", *store)
    got = _run(capsys, "get", "cam", *store)
    assert got["container_parameter_overrides"] == {"env_vars": {"A": "1"}}


def test_null_on_create_sets_no_override(
    capsys: pytest.CaptureFixture[str], store: list[str]
) -> None:
    nulls = ["--entrypoint", "null", "--command", "null", "--workdir", "null"]
    _create(capsys, store, "--required-inputs", "*.jpg", *nulls)
    assert "container_parameter_overrides" not in _run(capsys, "get", "cam", *store)


def test_a_partial_override_update_keeps_the_other_overrides(
    capsys: pytest.CaptureFixture[str], store: list[str]
) -> None:
    compute = ["--vcpu", "1024", "--memory", "8192", "--gpu"]
    _create(capsys, store, "--required-inputs", "*.jpg", *compute, "--env", "A=1", "B=2")

    _run(capsys, "update", "cam", "--storage", "40", *store)
    got = _run(capsys, "get", "cam", *store)
    assert got["compute_requirement_overrides"] == {
        "vCPU": 1024,
        "memory": 8192,
        "gpu": True,
        "storage": 40,
    }

    _run(capsys, "update", "cam", "--env", "B=3", "--env", "C=4", "--workdir", "/w", *store)
    got = _run(capsys, "get", "cam", *store)
    assert got["container_parameter_overrides"] == {
        "env_vars": {"A": "1", "B": "3", "C": "4"},
        "workdir": "/w",
    }
    assert got["compute_requirement_overrides"]["storage"] == 40


def test_the_org_is_implicit_for_a_name_in_one_org_only(
    capsys: pytest.CaptureFixture[str], store: list[str]
) -> None:
    for org, name in (("og_acme", "thumbs"), ("og_skyops", "thumbs"), ("og_skyops", "solo")):
        flags = ["--org", org, "--action", PUBLIC_ACTION, "--required-inputs", "*.jpg"]
        _run(capsys, "create", "--name", name, *flags, *store)

    assert _run(capsys, "get", "solo", *store)["org_id"] == "og_skyops"
    updated = _run(capsys, "update", "solo", "--timeout", "5", *store)
    assert (updated["org_id"], updated["timeout"]) == ("og_skyops", 5)
    backfill = ["backfill", "solo", "--triggers", store[1], "--request-id", "r1"]
    assert main(["triggers", *backfill]) == 0
    event = json.loads(capsys.readouterr().out)
    assert (event["orgid"], event["data"]["trigger"]["name"]) == ("og_skyops", "solo")

    error = _failure(capsys, "get", "thumbs", *store)
    assert "--org: not given" in error and "'thumbs' is in orgs og_acme, og_skyops" in error
    assert _run(capsys, "get", "thumbs", "--org", "og_acme", *store)["org_id"] == "og_acme"
    assert "does not exist in any org" in _failure(capsys, "get", "nope", *store)
    assert "of org 'og_acme': does not exist" in _failure(
        capsys, "get", "solo", "--org", "og_acme", *store
    )

    assert main(["triggers", "delete", "solo", *store]) == 0
    assert "deleted trigger 'solo' of org 'og_skyops'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "verb", [["list"], ["get", "cam"], ["update", "cam", "--timeout", "5"], ["delete", "cam"]]
)
def test_a_missing_triggers_file_is_an_error_that_names_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], verb: list[str]
) -> None:
    typo = tmp_path / "typo.yaml"
    error = _failure(capsys, *verb, "--triggers", str(typo), "--actions", str(ACTIONS))
    assert f"{typo}: no such file or directory" in error
    assert not typo.exists()


def test_create_makes_a_new_triggers_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], store: list[str]
) -> None:
    created = _create(capsys, store, "--required-inputs", "*.jpg")
    assert (tmp_path / "triggers.yaml").is_file()
    assert main(["triggers", "list", *store]) == 0
    assert json.loads(capsys.readouterr().out) == [created]


def _verbs() -> dict[str, argparse.ArgumentParser]:
    top = build_parser()
    [commands] = [a for a in top._actions if isinstance(a, argparse._SubParsersAction)]
    triggers = commands.choices["triggers"]
    [verbs] = [a for a in triggers._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(verbs.choices)


@pytest.mark.parametrize("verb", sorted(_verbs()))
def test_every_flag_of_every_triggers_verb_has_help(verb: str) -> None:
    parser = _verbs()[verb]
    flags = [a for a in parser._actions if not isinstance(a, argparse._HelpAction)]
    assert flags
    assert [a.dest for a in flags if not (a.help or "").strip()] == []
