"""deploy/Dockerfile, checked without Docker: its instructions are replayed on this machine.

The build stage's WORKDIR, COPY and RUN lines are replayed with the container's paths mapped into a
temporary directory: the same files are copied from the build context (the repository root), and
the same commands create the virtual environment and install the project into it. The final
stage's ENV, USER, EXPOSE, HEALTHCHECK, ENTRYPOINT and CMD are then exercised against that
environment. Docker itself (base images, layer caching, the build context filter) is not.

The install is the Dockerfile's own, unchanged: a fresh, isolated venv and `pip install .` with
build isolation, resolving the dependencies from the package index (about 9 s here). The faster
variant (`--system-site-packages` and `pip install --no-deps`) was rejected: it still needs the
index for the build backend (this interpreter's setuptools is older than pyproject.toml asks), and
it could not catch what this catches, a dependency the code imports but pyproject.toml does not
declare, or a new release within the declared ranges that breaks the import, both of which a
Docker build would hit.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import socket
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.deploy.surface import DEPLOY, REPO, run_default

DOCKERFILE = DEPLOY / "Dockerfile"
# Instructions the replay understands; any other one must be taught to it deliberately.
KNOWN = {
    "ARG", "FROM", "ENV", "WORKDIR", "COPY", "RUN", "LABEL", "USER", "EXPOSE", "HEALTHCHECK",
    "ENTRYPOINT", "CMD",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Instruction:
    keyword: str
    args: str

    def exec_form(self) -> list[str]:
        form = json.loads(self.args)
        assert isinstance(form, list) and all(isinstance(a, str) for a in form), self
        return form


@dataclass(slots=True)
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction:
        found = self.all(keyword)
        assert found, f"the stage from {self.base} has no {keyword}"
        return found[-1]


def logical_lines(text: str) -> Iterator[str]:
    """Instructions with their continuation lines joined; comment lines dropped (as Docker does)."""
    pending = ""
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        whole = (pending + line).strip()
        pending = ""
        if whole:
            yield whole
    assert not pending.strip(), "the Dockerfile ends inside a continued line"


def parse_dockerfile(text: str) -> list[Stage]:
    build_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical_lines(text):
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        assert keyword in KNOWN, f"the Dockerfile replay does not know {keyword}: teach it"
        if keyword == "ARG" and not stages:
            name, _, default = args.partition("=")
            build_args[name] = default
        elif keyword == "FROM":
            words = args.split()
            base = re.sub(r"\$\{(\w+)\}", lambda m: build_args[m.group(1)], words[0])
            stages.append(Stage(base, words[2] if len(words) == 3 else None))
        else:
            assert stages, f"{keyword} before FROM"
            stages[-1].instructions.append(Instruction(keyword, args.strip()))
    return stages


@dataclass(slots=True)
class Replay:
    """A container filesystem under `root`: container paths map to root/<path>."""

    root: Path
    env: dict[str, str]
    cwd: str = "/"
    project_paths: list[str] = field(default_factory=list)

    def host(self, path: str) -> Path:
        absolute = path if path.startswith("/") else f"{self.cwd.rstrip('/')}/{path}"
        return self.root / absolute.lstrip("/")

    def mapped(self, text: str) -> str:
        """`text` with the project's container paths replaced by their host paths."""
        for path in sorted(self.project_paths, key=len, reverse=True):
            text = re.sub(
                rf"(?<![\w/.-]){re.escape(path)}(?=[/:\s'\"]|$)", str(self.host(path)), text
            )
        return text

    def workdir(self, path: str) -> None:
        self.cwd = path
        self.project_paths.append(path)
        self.host(path).mkdir(parents=True, exist_ok=True)

    def copy(self, args: str) -> None:
        *sources, destination = shlex.split(args)
        target = self.host(destination)
        for source in sources:
            origin = REPO / source
            if origin.is_dir():
                ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
                shutil.copytree(origin, target, dirs_exist_ok=True, ignore=ignore)
            else:
                assert destination.endswith("/"), f"COPY {args}: name the directory with a /"
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, target / origin.name)

    def set_env(self, args: str) -> None:
        for pair in shlex.split(args):
            name, _, value = pair.partition("=")
            value = re.sub(r"\$\{?(\w+)\}?", lambda m: self.env.get(m.group(1), ""), value)
            self.env[name] = self.mapped(value)

    def run(self, command: str) -> None:
        venv = re.search(r"-m venv (?:--\S+ )*(/\S+)", command)
        if venv:
            self.project_paths.append(venv.group(1))
        done = subprocess.run(
            ["sh", "-c", self.mapped(command)],
            cwd=self.host(self.cwd),
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, f"RUN {command}\n{done.stdout}\n{done.stderr}"

    def execute(self, argv: list[str], **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.mapped(arg) for arg in argv],
            cwd=self.root,
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )


@dataclass(frozen=True, slots=True)
class Image:
    build: Stage
    final: Stage
    replay: Replay


def useradd_uid(stage: Stage) -> int:
    commands = " ".join(i.args for i in stage.all("RUN"))
    found = re.search(r"useradd\b[^&;]*--uid (\d+)", commands)
    assert found, "the final stage creates no user with a fixed uid"
    return int(found.group(1))


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Image:
    stages = parse_dockerfile(DOCKERFILE.read_text())
    assert len(stages) == 2, "expected a build stage and a final stage"
    build, final = stages
    tmp = tmp_path_factory.mktemp("image")
    # The base image's `python` on PATH: this interpreter (the same minor version, checked below).
    # A script rather than a symlink, so the venv's home is this interpreter's real directory.
    shims = tmp / "shims"
    shims.mkdir()
    python = shims / "python"
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    python.chmod(0o755)
    replay = Replay(tmp / "root", {"PATH": f"{shims}:/usr/bin:/bin", "HOME": str(tmp)})
    for instruction in build.instructions:
        handlers = {
            "WORKDIR": replay.workdir,
            "COPY": replay.copy,
            "ENV": replay.set_env,
            "RUN": replay.run,
        }
        assert instruction.keyword in handlers, f"build stage: cannot replay {instruction}"
        handlers[instruction.keyword](instruction.args)
    for instruction in final.all("ENV"):
        replay.set_env(instruction.args)
    return Image(build, final, replay)


def test_both_stages_use_the_python_of_the_replay() -> None:
    # The venv is built with the build stage's Python and run with the final stage's: they must be
    # one version, and the replay (this interpreter) stands for it only when it is that version too.
    stages = parse_dockerfile(DOCKERFILE.read_text())
    bases = {stage.base for stage in stages}
    assert len(bases) == 1, bases
    version = re.fullmatch(r"python:(\d+\.\d+)-slim(?:-\w+)?", bases.pop())
    assert version, "the base image is not an official slim Python image"
    assert version.group(1) == f"{sys.version_info.major}.{sys.version_info.minor}"
    requires = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    assert requires == f">={version.group(1)}"


def test_the_final_stage_takes_only_the_virtual_environment(image: Image) -> None:
    copies = image.final.all("COPY")
    assert [c.args.split()[0] for c in copies] == [f"--from={image.build.name}"]
    _, source, destination = copies[0].args.split()
    # A venv has its own path written into its scripts: it must land where it was built.
    assert source == destination
    assert source in image.replay.project_paths
    assert (image.replay.host(source) / "bin" / "trigger-engine").is_file()


def test_the_installed_project_is_the_copied_one(image: Image) -> None:
    shown = image.replay.execute(
        ["python", "-c", "import engine, conditions; print(engine.__file__, conditions.__file__)"]
    )
    assert shown.returncode == 0, shown.stderr
    for module_file in shown.stdout.split():
        assert Path(module_file).is_relative_to(image.replay.root), module_file


def test_the_entry_point_runs(image: Image) -> None:
    entrypoint = image.final.last("ENTRYPOINT").exec_form()
    assert entrypoint == ["trigger-engine"]
    shown = image.replay.execute([*entrypoint, "--help"])
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("usage: trigger-engine")


def test_the_default_command_is_the_service(image: Image) -> None:
    command = image.final.last("CMD").exec_form()
    assert command == ["run"]
    entrypoint = image.final.last("ENTRYPOINT").exec_form()
    shown = image.replay.execute([*entrypoint, *command, "--help"])
    assert shown.returncode == 0, shown.stderr
    assert "--bootstrap-servers" in shown.stdout


def test_the_service_runs_as_the_unprivileged_user_created_for_it(image: Image) -> None:
    user, _, group = image.final.last("USER").args.partition(":")
    assert user.isdigit() and int(user) != 0, "USER must be a non-root numeric uid"
    assert int(user) == useradd_uid(image.final)
    assert group.isdigit() and int(group) != 0
    # Creating the user is the only command the final stage runs (the replay cannot run it).
    for instruction in image.final.all("RUN"):
        assert re.fullmatch(r"groupadd [^&;]+&& useradd [^&;]+", instruction.args), instruction


def test_the_exposed_port_is_the_services_http_port(image: Image) -> None:
    assert image.final.last("EXPOSE").args == str(run_default("--http-port"))


class _Health:
    """A stand-in for the service's HTTP endpoint: /healthz answers with `status`."""

    def __init__(self) -> None:
        self.status = 200
        health = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(health.status if self.path == "/healthz" else 404)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]


@pytest.fixture
def health() -> Iterator[_Health]:
    endpoint = _Health()
    thread = threading.Thread(target=endpoint.server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield endpoint
    finally:
        endpoint.server.shutdown()
        endpoint.server.server_close()
        thread.join()


def _health_command(image: Image) -> list[str]:
    options, _, command = image.final.last("HEALTHCHECK").args.partition("CMD ")
    assert "--interval=" in options and "--timeout=" in options, options
    return Instruction("CMD", command).exec_form()


def _check_health(image: Image, port: int) -> subprocess.CompletedProcess[str]:
    return image.replay.execute(_health_command(image), TRIGGER_ENGINE_HTTP_PORT=str(port))


def test_the_health_check_passes_while_healthz_answers_200(image: Image, health: _Health) -> None:
    checked = _check_health(image, health.port)
    assert checked.returncode == 0, checked.stderr


def test_the_health_check_fails_when_healthz_does_not(image: Image, health: _Health) -> None:
    health.status = 503
    checked = _check_health(image, health.port)
    assert checked.returncode == 1
    assert "503" in checked.stderr


def test_the_health_check_fails_when_nothing_listens(image: Image) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    checked = _check_health(image, port)
    assert checked.returncode == 1
    assert "Connection refused" in checked.stderr


def test_the_health_check_defaults_to_the_services_http_port(image: Image) -> None:
    command = " ".join(_health_command(image))
    assert f"'TRIGGER_ENGINE_HTTP_PORT', '{run_default('--http-port')}'" in command
    assert "/healthz" in command
