"""The compiled build (`engine.native`): it runs when it is current, and never when it is stale.

The guard's cases run in a subprocess over a copy of the sources with stand-in extension files
(empty: importing one fails), so they show which file each import took whatever this install holds.
"""

from __future__ import annotations

import importlib.machinery
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engine import native

ROOT = Path(native.__file__).parent.parent
IMPORT_ALL = "import engine.evaluator, engine.native as n; print(n.running_compiled())"


def test_this_install_runs_the_compiled_modules_unless_told_otherwise() -> None:
    current = native.has_compiled_build() and not native.stale_modules()
    assert native.running_compiled() is (current and not native.pure_python_asked())
    # tests/run.sh sets this after a compiling install: a build that silently compiled nothing
    # must fail here, not pass as pure Python.
    if os.environ.get("TRIGGER_ENGINE_EXPECT_COMPILED") == "1":
        assert native.running_compiled(), "tests/run.sh installed a compiled build; it is not used"


def _stand_in_build(tmp_path: Path, *, stale: str | None = None) -> Path:
    """A copy of the sources with an empty file for each compiled module's extension, and the
    build record (with a wrong hash for `stale`)."""
    for package in ("engine", "conditions"):
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("*.so", "__pycache__")
        )
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    for module in native.COMPILED:
        (tmp_path / (module.replace(".", "/") + suffix)).write_bytes(b"")
    record = native.source_hashes(tmp_path)
    if stale is not None:
        record[stale] = "0" * 64
    (tmp_path / "engine" / native.RECORD).write_text(json.dumps(record))
    return tmp_path


def _run(root: Path, code: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k != native.PURE_PYTHON_ENV}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=root,
        env={**clean, "PYTHONPATH": str(root), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_current_build_is_imported(tmp_path: Path) -> None:
    done = _run(_stand_in_build(tmp_path), "import engine.glob_index")
    assert done.returncode != 0  # it took the (empty) extension
    assert "glob_index" in done.stderr and "ImportError" in done.stderr


def test_a_stale_build_never_runs(tmp_path: Path) -> None:
    done = _run(_stand_in_build(tmp_path, stale="engine.selections"), IMPORT_ALL)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
    assert "engine.selections: the source differs from the compiled build" in done.stderr
    assert "pip install -e ." in done.stderr


def test_a_build_without_its_record_is_stale(tmp_path: Path) -> None:
    root = _stand_in_build(tmp_path)
    (root / "engine" / native.RECORD).unlink()
    done = _run(root, IMPORT_ALL)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
    assert "engine.glob_index, engine.index" in done.stderr


@pytest.mark.parametrize("value", ["1", "true"])
def test_pure_python_runs_when_asked(tmp_path: Path, value: str) -> None:
    done = _run(_stand_in_build(tmp_path), IMPORT_ALL, **{native.PURE_PYTHON_ENV: value})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
    assert "RuntimeWarning" not in done.stderr


def test_the_record_names_every_compiled_module() -> None:
    assert set(native.source_hashes(ROOT)) == set(native.COMPILED)
    for module in native.COMPILED:
        assert native.source_of(module, ROOT).is_file()
