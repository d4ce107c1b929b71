"""The hot-path modules compiled with mypyc, and the guard that never lets a stale build run.

`setup.py` compiles `COMPILED` (unless `TRIGGER_ENGINE_PURE_PYTHON=1`) and records the SHA-256 of
each one's source in `compiled_sources.json`. In an editable install the compiled modules sit next
to their sources and Python imports them first, so an edited source would silently not run: at
import of `engine`, `guard` compares the sources with the record and, when one differs (or the
variable asks for pure Python), imports all of them from source instead. All or none: compiled
modules call each other natively, so one compiled module beside a source one is not allowed.

Only the standard library here: `setup.py` loads this file before anything is installed.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

COMPILED = (
    "engine.glob_index",
    "engine.index",
    "engine.selections",
    "engine.state",
    "engine.evaluator",
    "engine.invocations",
)
PURE_PYTHON_ENV = "TRIGGER_ENGINE_PURE_PYTHON"
RECORD = "compiled_sources.json"  # beside this file
PACKAGE_DIR = Path(__file__).parent


def source_of(module: str, root: Path) -> Path:
    """The source file of a module of the `COMPILED` list, under the directory holding `engine/`."""
    return root.joinpath(*module.split(".")).with_suffix(".py")


def source_hashes(root: Path) -> dict[str, str]:
    """SHA-256 of each compiled module's source: what `setup.py` records at build time."""
    return {m: hashlib.sha256(source_of(m, root).read_bytes()).hexdigest() for m in COMPILED}


def pure_python_asked() -> bool:
    return os.environ.get(PURE_PYTHON_ENV, "") not in ("", "0")


def has_compiled_build(package_dir: Path = PACKAGE_DIR) -> bool:
    """Whether any module of `COMPILED` has a compiled extension beside its source."""
    return any(
        (package_dir / f"{module.rsplit('.', 1)[1]}{suffix}").exists()
        for module in COMPILED
        for suffix in importlib.machinery.EXTENSION_SUFFIXES
    )


def stale_modules(package_dir: Path = PACKAGE_DIR) -> list[str]:
    """The compiled modules whose source differs from what was compiled (all, if unrecorded)."""
    try:
        recorded = json.loads((package_dir / RECORD).read_text())
    except (OSError, ValueError):
        return list(COMPILED)
    current = source_hashes(package_dir.parent)
    return [module for module in COMPILED if recorded.get(module) != current[module]]


class _FromSource(importlib.abc.MetaPathFinder):
    """Finds the `COMPILED` modules' sources ahead of their compiled extensions."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in COMPILED:
            return None
        return importlib.util.spec_from_file_location(fullname, source_of(fullname, self.root))


def guard() -> None:
    """Run the sources instead of the compiled build when asked to, or when it is stale."""
    if not has_compiled_build() or any(isinstance(f, _FromSource) for f in sys.meta_path):
        return
    if not pure_python_asked():
        stale = stale_modules()
        if not stale:
            return
        warnings.warn(
            f"{', '.join(stale)}: the source differs from the compiled build, so every compiled "
            f"module runs from source; run `pip install -e .` again to recompile",
            RuntimeWarning,
            stacklevel=2,
        )
    sys.meta_path.insert(0, _FromSource(PACKAGE_DIR.parent))


def running_compiled() -> bool:
    """Whether the `COMPILED` modules, as imported, are the compiled ones."""
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    return all(
        (importlib.import_module(module).__file__ or "").endswith(suffixes) for module in COMPILED
    )
