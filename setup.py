"""Compiles the hot-path modules (`engine.native.COMPILED`) with mypyc: 1.1-1.25x on the hot path
and in replay (README, Benchmarks). `TRIGGER_ENGINE_PURE_PYTHON=1` installs pure Python instead.
The rest of the project's metadata is in pyproject.toml.
"""

import importlib.util
import json
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).parent
_spec = importlib.util.spec_from_file_location("_native", ROOT / "engine" / "native.py")
assert _spec is not None and _spec.loader is not None
native = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(native)

# The setuptools commands that build modules; pip also runs this file just to read the metadata.
BUILDS = {"build", "build_ext", "bdist_wheel", "editable_wheel", "develop", "install"}
# Type-check the compiled modules alone, against no installed package: the modules they import
# are read for types but not checked, and third-party types are `Any` (calls into them are generic
# calls either way), so the build is the same whatever the build environment holds.
MYPY_FLAGS = ["--follow-imports=silent", "--ignore-missing-imports", "--no-site-packages"]


class BuildAndRecord(build_ext):
    """Builds the extensions, then records the sources they were compiled from beside them: only a
    build that succeeded may vouch for its modules (`engine.native.guard` reads the record at
    import), and only for the copies it built (in place for an editable install, else the
    wheel's)."""

    def run(self) -> None:
        in_place = self.inplace or getattr(self, "editable_mode", False)
        record = (ROOT if in_place else Path(self.build_lib)) / "engine" / native.RECORD
        record.unlink(missing_ok=True)  # until this build succeeds
        super().run()
        if self.extensions:
            text = json.dumps(native.source_hashes(ROOT), indent=2, sort_keys=True) + "\n"
            record.write_text(text)


def ext_modules() -> list:
    if native.pure_python_asked():
        # Any compiled build left in place then has no record, so it never runs.
        (ROOT / "engine" / native.RECORD).unlink(missing_ok=True)
        return []
    if not BUILDS & set(sys.argv[1:]):  # metadata only (egg_info, dist_info): nothing to compile
        return []
    from mypyc.build import mypycify

    sources = [str(native.source_of(module, ROOT).relative_to(ROOT)) for module in native.COMPILED]
    return mypycify([*MYPY_FLAGS, *sources], opt_level="3", group_name="trigger_engine")


setup(ext_modules=ext_modules(), cmdclass={"build_ext": BuildAndRecord})
