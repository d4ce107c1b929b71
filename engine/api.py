"""Loading triggers and actions from files for in-process use: the CLI, the tests and any Python
program that evaluates events without Kafka (`from engine import build_registry`)."""

from __future__ import annotations

from pathlib import Path

from engine.actions import ActionCatalog, load_actions
from engine.collector import long_lived
from engine.compiled import DEFAULT_TIMEOUT_MINUTES
from engine.registry import TriggerRegistry, load_registry
from engine.trigger_files import load_trigger_entries


def build_registry(
    triggers_path: Path | str,
    actions_path: Path | str,
    *,
    default_timeout: int = DEFAULT_TIMEOUT_MINUTES,
) -> TriggerRegistry:
    """Load and compile every trigger of a triggers file or directory against the actions of an
    actions file or directory; the first invalid trigger or action raises `ConfigError`."""
    with long_lived():
        entries = load_trigger_entries(Path(triggers_path))
        catalog = ActionCatalog(load_actions(Path(actions_path)))
    return load_registry(entries, catalog, default_timeout=default_timeout)
