"""The public API (`from engine import ...`), the README's library example, `--version`, and what
the wheel installs."""

from __future__ import annotations

import ast
import contextlib
import importlib.metadata
import io
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import orjson
import pytest

import engine
from engine.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
LIBRARY_SECTION = re.compile(r"^## Use it as a library\n(.*?)^## ", re.M | re.S)
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.M | re.S)


def _readme_example() -> str:
    section = LIBRARY_SECTION.search((ROOT / "README.md").read_text())
    assert section is not None, "README.md has no 'Use it as a library' section"
    block = PYTHON_BLOCK.search(section.group(1))
    assert block is not None, "the section has no python example"
    return block.group(1)


def test_every_public_name_resolves() -> None:
    assert "__version__" in engine.__all__
    for name in engine.__all__:
        assert getattr(engine, name) is not None
        assert name in dir(engine)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = engine.no_such_name  # type: ignore[attr-defined]


def test_the_readme_example_gives_what_replay_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # the example names the bundled examples relative to the checkout
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(_readme_example(), "README.md", "exec"), {})
    replayed = io.BytesIO()
    monkeypatch.setattr("sys.stdout", io.TextIOWrapper(replayed))
    code = main(
        [
            "replay",
            str(EXAMPLES / "events.jsonl"),
            "--triggers",
            str(EXAMPLES / "triggers.yaml"),
            "--actions",
            str(EXAMPLES / "actions"),
            "--no-progress",
        ]
    )
    assert code == 0
    requests = [orjson.loads(line) for line in replayed.getvalue().splitlines()]
    expected = [f"{r['trigger']['name']} {r['data_source']['data_source_id']}" for r in requests]
    assert expected
    assert printed.getvalue().splitlines() == expected


def test_version_comes_from_the_package_metadata() -> None:
    assert engine.__version__ == importlib.metadata.version("trigger-engine")


def test_version_of_a_source_tree_that_is_not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    def not_installed(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.delitem(vars(engine), "__version__", raising=False)
    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    assert engine.__version__ == "0+unknown"


def test_version_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    version = importlib.metadata.version("trigger-engine")
    assert capsys.readouterr().out == f"trigger-engine {version}\n"


def test_the_wheel_holds_engine_and_conditions_with_their_typing_markers(tmp_path: Path) -> None:
    """Built for real, as `pip install .` builds it: no `benchmarks` or `tests` package lands in
    site-packages, and type checkers see both packages as typed."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    [wheel] = tmp_path.glob("trigger_engine-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert tops == {"engine", "conditions"}
    assert {"engine/py.typed", "conditions/py.typed", "engine/service/service.py"} <= set(names)


def test_jsonlogic_is_a_test_dependency_only() -> None:
    def names(requirements: list[str]) -> set[str]:
        return {re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0] for r in requirements}

    project = PYPROJECT["project"]
    assert "python-jsonlogic" not in names(project["dependencies"])
    assert "python-jsonlogic" in names(project["optional-dependencies"]["test"])
    installed = [
        path for package in ("engine", "conditions") for path in (ROOT / package).rglob("*.py")
    ]
    importers = sorted(
        str(path.relative_to(ROOT))
        for path in installed
        if "jsonlogic" in _imported_top_levels(path)
    )
    assert importers == []


def _imported_top_levels(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found
