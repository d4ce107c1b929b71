"""Trigger files: JSON or YAML, a list or `{"triggers": [...]}`, or a directory of them.

Edits change the one trigger in the file it is in, leaving the rest of the file as it was
(`engine.document_edits`).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from engine import document_edits
from engine.document_edits import FieldChanges
from engine.documents import checked_items, document_files, file_items, validate_item
from engine.errors import ConfigError
from engine.models import Trigger

COLLECTION = "triggers"


def trigger_from_dict(data: Any, place: str) -> Trigger:
    return validate_item(Trigger, data, place)


def trigger_to_dict(trigger: Trigger) -> dict[str, Any]:
    """The JSON form of files, the registry topic and `triggers get`: only what was set."""
    data = trigger.model_dump(mode="json", exclude_unset=True, exclude_none=True)
    data["action"] = str(trigger.action)
    return data


def load_triggers(path: Path) -> list[Trigger]:
    return [trigger for trigger, _ in load_trigger_entries(path)]


def load_trigger_entries(path: Path) -> list[tuple[Trigger, str]]:
    """(trigger, place) pairs; the place (file, line and item) is what later errors name."""
    entries: list[tuple[Trigger, str]] = []
    for entry in checked_trigger_entries(path):
        if isinstance(entry, ConfigError):
            raise entry
        entries.append(entry)
    return entries


def checked_trigger_entries(path: Path) -> Iterator[tuple[Trigger, str] | ConfigError]:
    """Each trigger with its place, or the error of that item (or of its whole file): a trigger
    defined twice is an error at its second place."""
    places: dict[str, str] = {}
    for entry in checked_items(path, COLLECTION, Trigger):
        if isinstance(entry, ConfigError):
            yield entry
            continue
        trigger, place = entry
        if trigger.key in places:
            yield ConfigError(
                f"trigger {trigger.name!r} of org {trigger.org_id!r}",
                place,
                f"is defined twice (first at {places[trigger.key]})",
            )
            continue
        places[trigger.key] = place
        yield entry


def put_trigger(file: Path, trigger: Trigger) -> None:
    """Change the trigger of the same org and name in `file` to `trigger`, field by field, or add
    it at the end of the file's list (making the file when there is none)."""
    text = file.read_text(encoding="utf-8") if file.exists() else ""
    new = trigger_to_dict(trigger)
    found = _find(file, trigger) if text.strip() else None
    if found is None:
        edited = document_edits.appended(text, _is_json(file), COLLECTION, new)
    else:
        index, old = found
        changes = FieldChanges.between(trigger_to_dict(old), new)
        edited = document_edits.updated(text, _is_json(file), COLLECTION, index, changes)
    _write(file, edited)


def delete_trigger(file: Path, trigger: Trigger) -> None:
    found = _find(file, trigger)
    if found is None:
        thing = f"trigger {trigger.name!r} of org {trigger.org_id!r}"
        raise ConfigError(thing, str(file), "is not in the file")
    text = file.read_text(encoding="utf-8")
    _write(file, document_edits.removed(text, _is_json(file), COLLECTION, found[0]))


def file_of_trigger(path: Path, trigger: Trigger) -> Path | None:
    """The file of `path` (a file, or a directory of them) that defines the trigger."""
    for file in document_files(path):
        if _find(file, trigger) is not None:
            return file
    return None


def _find(file: Path, trigger: Trigger) -> tuple[int, Trigger] | None:
    """The index of the trigger's item in the file, and the trigger the item defines."""
    for index, (item, place) in enumerate(file_items(file, COLLECTION)):
        if isinstance(item, dict) and (item.get("org_id"), item.get("name")) == (
            trigger.org_id,
            trigger.name,
        ):
            return index, trigger_from_dict(item, place)
    return None


def _is_json(file: Path) -> bool:
    return file.suffix == ".json"


def _write(file: Path, text: str) -> None:
    """Atomically: readers see the old file or the new one, never a part."""
    file.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=file.parent, prefix=f".{file.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            stream.write(text)
        if file.exists():
            os.chmod(tmp, file.stat().st_mode)
        os.replace(tmp, file)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
