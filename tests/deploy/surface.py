"""What the deploy files may reference, taken from the real thing: the `trigger-engine` parser
(the flags of `run`, and the TRIGGER_ENGINE_<FLAG> variable of each) and the service's settings
validation, the topic plan of deploy/topics.sh, and the repository's files."""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib.util
import io
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import mock

import yaml

from engine.cli import build_parser
from engine.errors import ConfigError
from engine.service.cli import service_settings
from engine.service.settings import ServiceSettings

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
ENV_PREFIX = "TRIGGER_ENGINE_"


@contextlib.contextmanager
def engine_environment(env: Mapping[str, object] | None = None) -> Iterator[None]:
    """os.environ with no TRIGGER_ENGINE_* variable but those of `env`: the parser takes its
    defaults from the variables when it is built, so the tests' own environment must not leak in."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    given = {k: str(v) for k, v in (env or {}).items()}
    with mock.patch.dict(os.environ, {**kept, **given}, clear=True):
        yield


def cli_parser(env: Mapping[str, object] | None = None) -> argparse.ArgumentParser:
    with engine_environment(env):
        return build_parser()


def run_parser() -> argparse.ArgumentParser:
    for action in cli_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            assert "run" in action.choices, "trigger-engine has no `run` subcommand"
            return action.choices["run"]
    raise AssertionError("trigger-engine has no subcommands")


def run_options() -> dict[str, argparse.Action]:
    """Every long option of `trigger-engine run` and its argparse action."""
    return {
        option: action
        for action in run_parser()._actions
        for option in action.option_strings
        if option.startswith("--") and option != "--help"
    }


def env_of_flag(flag: str) -> str:
    return ENV_PREFIX + flag.removeprefix("--").upper().replace("-", "_")


def flag_of_env(name: str) -> str:
    return "--" + name.removeprefix(ENV_PREFIX).lower().replace("_", "-")


def run_default(flag: str) -> Any:
    return run_options()[flag].default


def parse_cli(argv: Sequence[str], env: Mapping[str, object] | None = None) -> argparse.Namespace:
    """`trigger-engine <argv>` as the real parser reads it with the variables of `env` set."""
    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors):
            return cli_parser(env).parse_args(argv)
    except SystemExit:
        raise AssertionError(f"trigger-engine rejects {list(argv)}: {errors.getvalue()}") from None


def run_settings(args: Sequence[str], env: Mapping[str, object] | None = None) -> ServiceSettings:
    """The service's settings for `trigger-engine <args>` with the variables of `env`, validated as
    `run` validates them; fails on a TRIGGER_ENGINE_* variable that no flag reads (the service
    would silently ignore it)."""
    options = run_options()
    for name in env or {}:
        if name.startswith(ENV_PREFIX):
            flag = flag_of_env(name)
            assert flag in options, f"{name} names no flag of `trigger-engine run` ({flag})"
    parsed = parse_cli(args, env)
    assert parsed.command == "run", f"not a `run` command line: {list(args)}"
    try:
        return service_settings(parsed)
    except ConfigError as exc:
        raise AssertionError(f"trigger-engine run refuses {list(args)} with {env}: {exc}") from None


def yaml_documents(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as stream:
        return [doc for doc in yaml.safe_load_all(stream) if doc is not None]


@dataclass(frozen=True, slots=True)
class PlannedTopic:
    name: str
    partitions: int
    replication: int
    configs: dict[str, str]


def clean_env(**settings: str) -> dict[str, str]:
    """This process's environment without TRIGGER_ENGINE_*, TOPICS_*, KAFKA_*; plus `settings`."""
    kept = {
        k: v for k, v in os.environ.items() if not k.startswith((ENV_PREFIX, "TOPICS_", "KAFKA_"))
    }
    return {**kept, **settings}


def topic_plan(**settings: str) -> dict[str, PlannedTopic]:
    """`deploy/topics.sh plan` under `settings`, by topic name."""
    out = subprocess.run(
        ["bash", str(DEPLOY / "topics.sh"), "plan"],
        env=clean_env(**settings),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    topics = {}
    for line in out.splitlines():
        name, partitions, replication, configs = line.split("\t")
        pairs = (setting.split("=", 1) for setting in configs.split(","))
        topics[name] = PlannedTopic(name, int(partitions), int(replication), dict(pairs))
    return topics


@functools.cache
def producer_module() -> ModuleType:
    """deploy/producer/produce_examples.py, a script rather than a package, loaded as a module."""
    name = "produce_examples"
    spec = importlib.util.spec_from_file_location(name, DEPLOY / "producer" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module
