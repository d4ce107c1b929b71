"""The house's stack: no import cycle among the modules of `engine/` and `conditions/`, and the
evaluation core imports nothing of Kafka, of the drivers or of the CLI.

Imports are read from the source (every `import`, also inside functions and under
`TYPE_CHECKING`: a type-only import is still a dependency a reader must follow).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("engine", "conditions")
# The evaluation core: event -> state -> index -> conditions -> decisions.
CORE = (
    "engine.vocabulary",
    "engine.events",
    "engine.state",
    "engine.memo",
    "engine.selections",
    "engine.globs",
    "engine.glob_index",
    "engine.index",
    "engine.compiled",
    "engine.registry",
    "engine.decisions",
    "engine.decide",
    "engine.ready",
    "engine.commands",
    "engine.evaluator",
    "engine.invocations",
    # how state is encoded and kept on disk: the service and replay share it
    "engine.journal",
    "engine.disk_state",
)
OUTER = ("aiokafka", "engine.service", "engine.replay", "engine.cli", "engine.sinks")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {
        _module_name(path): path for package in PACKAGES for path in (ROOT / package).rglob("*.py")
    }


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The modules `name` imports: project modules resolved, others by their full name."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in known else base)
    return found - {name}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, path, known) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node] & graph.keys()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_reader_sees_every_module() -> None:
    graph = _graph()
    assert {"engine.evaluator", "engine.state", "conditions.roboto"} <= graph.keys()
    assert "engine.state" in graph["engine.evaluator"]


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycle_in_engine_or_conditions() -> None:
    assert _cycles(_graph()) == []


def test_conditions_import_nothing_of_the_engine() -> None:
    graph = _graph()
    leaks = {
        name: sorted(m for m in imports if m.split(".")[0] == "engine")
        for name, imports in graph.items()
        if name.startswith("conditions")
    }
    assert {name: found for name, found in leaks.items() if found} == {}


@pytest.mark.parametrize("module", CORE)
def test_the_core_knows_nothing_of_kafka_files_or_drivers(module: str) -> None:
    imports = _graph()[module]
    outer = sorted(m for m in imports if any(m == o or m.startswith(f"{o}.") for o in OUTER))
    assert outer == []


def test_every_module_runs_from_its_source() -> None:
    """A compiled extension left beside a source (an editable install of an older, compiled
    version) would be imported instead of the source: remove such files with
    `git clean -fX engine conditions`."""
    suffixes = (".so", ".pyd")
    leftovers = sorted(
        str(path.relative_to(ROOT))
        for package in PACKAGES
        for path in (ROOT / package).rglob("*")
        if path.suffix in suffixes
    )
    assert leftovers == []
