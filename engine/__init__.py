"""trigger-engine's engine: models, matching, evaluation, state, the Kafka service, replay, CLI.

The names below are the public API for evaluating events in-process. They are imported on first
use (PEP 562), so `import engine` (and every command's start-up) stays light.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.api import build_registry
    from engine.errors import ConfigError, EngineError, EventError
    from engine.evaluator import Evaluator
    from engine.events import Event, event_from_dict, parse_event
    from engine.invocations import InvocationRequest
    from engine.registry import TriggerRegistry
    from engine.state import StateStore

# Public name -> the module that defines it.
_EXPORTS: dict[str, str] = {
    "build_registry": "engine.api",
    "ConfigError": "engine.errors",
    "EngineError": "engine.errors",
    "EventError": "engine.errors",
    "Evaluator": "engine.evaluator",
    "Event": "engine.events",
    "event_from_dict": "engine.events",
    "parse_event": "engine.events",
    "InvocationRequest": "engine.invocations",
    "TriggerRegistry": "engine.registry",
    "StateStore": "engine.state",
}
_DISTRIBUTION = "trigger-engine"
# The version of a source tree that is not installed (no package metadata to read).
_UNINSTALLED_VERSION = "0+unknown"

__all__ = [
    "ConfigError",
    "EngineError",
    "Evaluator",
    "Event",
    "EventError",
    "InvocationRequest",
    "StateStore",
    "TriggerRegistry",
    "__version__",
    "build_registry",
    "event_from_dict",
    "parse_event",
]


def _installed_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(_DISTRIBUTION)
    except PackageNotFoundError:
        return _UNINSTALLED_VERSION


def __getattr__(name: str) -> Any:
    if name == "__version__":
        value: Any = _installed_version()
    elif name in _EXPORTS:
        value = getattr(import_module(_EXPORTS[name]), name)
    else:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
