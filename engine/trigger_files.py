"""Trigger files: JSON or YAML, a list or `{"triggers": [...]}`, or a directory of them."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

from engine.documents import document_items, validate_item
from engine.errors import ConfigError
from engine.models import Trigger


def trigger_from_dict(data: dict[str, Any], place: str) -> Trigger:
    return validate_item(Trigger, data, place)


def trigger_to_dict(trigger: Trigger) -> dict[str, Any]:
    """The JSON form of files, the registry topic and `triggers get`: only what was set."""
    data = trigger.model_dump(mode="json", exclude_unset=True, exclude_none=True)
    data["action"] = str(trigger.action)
    return data


def load_triggers(path: Path) -> list[Trigger]:
    return [trigger for trigger, _ in load_trigger_entries(path)]


def load_trigger_entries(path: Path) -> list[tuple[Trigger, str]]:
    """(trigger, place) pairs; the place (file and item) is what later errors name."""
    entries: list[tuple[Trigger, str]] = []
    places: dict[str, str] = {}
    for item, place in document_items(path, "triggers"):
        trigger = trigger_from_dict(item, place)
        if trigger.key in places:
            raise ConfigError(
                f"trigger {trigger.name!r} of org {trigger.org_id!r}",
                place,
                f"is defined twice (first at {places[trigger.key]})",
            )
        places[trigger.key] = place
        entries.append((trigger, place))
    return entries


def save_triggers(path: Path, triggers: list[Trigger]) -> None:
    """Write deterministically (sorted by org and name) and atomically."""
    items = [trigger_to_dict(t) for t in sorted(triggers, key=lambda t: (t.org_id, t.name))]
    if path.suffix == ".json":
        text = json.dumps({"triggers": items}, indent=2, ensure_ascii=False) + "\n"
    else:
        text = yaml.safe_dump({"triggers": items}, sort_keys=False, allow_unicode=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as stream:
        stream.write(text)
    os.replace(tmp, path)
