"""Reading trigger and action documents: JSON or YAML files, or directories of them.

Shared by trigger and action loading so both report errors the same way: the item (by name, or
`#index` when it has none), the file, the field path and pydantic's reason.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from engine.errors import ConfigError

SUFFIXES = (".json", ".yaml", ".yml")
M = TypeVar("M", bound=BaseModel)


def document_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in SUFFIXES)
    if not path.exists():
        raise ConfigError(str(path), None, "no such file or directory")
    return [path]


def read_document(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    try:
        return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(str(path), None, f"not valid {path.suffix[1:].upper()}: {exc}") from None


def document_items(path: Path, collection: str) -> Iterator[tuple[dict[str, Any], str]]:
    """(item, place) for each object in the file(s): a list, `{collection: [...]}` or one object."""
    for file in document_files(path):
        doc = read_document(file)
        if doc is None:
            continue
        if isinstance(doc, dict) and collection in doc:
            doc = doc[collection]
        items = doc if isinstance(doc, list) else [doc]
        for number, item in enumerate(items):
            place = f"{file} {collection[:-1]} #{number}"
            if not isinstance(item, dict):
                raise ConfigError(place, None, f"expected an object, got {type(item).__name__}")
            yield item, place


def validate_item(model: type[M], data: dict[str, Any], place: str) -> M:
    """Validate one item; the error names the item, the field and the reason."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        kind = model.__name__.lower()
        name = data.get("name")
        thing = f"{kind} {name!r}" if isinstance(name, str) else kind
        raise ConfigError(thing, place, describe(exc)) from None


def describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        field = ".".join(str(p) for p in item["loc"])
        if item["type"] == "extra_forbidden":
            parts.append(f"unknown field {field!r}")
        else:
            message = item["msg"].removeprefix("Value error, ")
            parts.append(f"{field}: {message}" if field else message)
    return "; ".join(parts)
