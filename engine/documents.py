"""Reading trigger and action documents: JSON or YAML files, or directories of them.

Shared by trigger and action loading so both report errors the same way: the item (by name, or
kind alone when it has none), its place (`file:line (trigger #index)`), the field path and
pydantic's reason.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from engine.errors import ConfigError

SUFFIXES = (".json", ".yaml", ".yml")
M = TypeVar("M", bound=BaseModel)

_JSON = json.JSONDecoder()
_JSON_SPACE = re.compile(r"[ \t\n\r]*")
_JSON_NEXT = re.compile(r"[ \t\n\r]*([,\]])[ \t\n\r]*")  # after a list item: `,` or `]`


def document_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in SUFFIXES)
    if not path.exists():
        raise ConfigError(str(path), None, "no such file or directory")
    return [path]


def document_items(path: Path, collection: str) -> Iterator[tuple[Any, str]]:
    """(item, place) for each item of the file(s), as `file_items` reads them."""
    for file in document_files(path):
        yield from file_items(file, collection)


def checked_items(
    path: Path, collection: str, model: type[M]
) -> Iterator[tuple[M, str] | ConfigError]:
    """Each item of the file(s) validated, with its place, or the error of that item (or of its
    whole file): reading goes on past errors, so that `validate` can report them all."""
    for file in document_files(path):
        try:
            items = file_items(file, collection)
        except ConfigError as exc:
            yield exc
            continue
        for item, place in items:
            try:
                yield validate_item(model, item, place), place
            except ConfigError as exc:
                yield exc


def file_items(file: Path, collection: str) -> list[tuple[Any, str]]:
    """(item, place) for each item of one file: a list, `{collection: [...]}` or one object. The
    place is `file:line (kind #index)`, the line where the item starts."""
    text = file.read_text(encoding="utf-8")
    kind = collection.removesuffix("s")
    try:
        if file.suffix != ".json":
            lined = yaml_items(text, collection)
            return [(item, f"{file}:{line} ({kind} #{n})") for n, (item, line) in enumerate(lined)]
        doc = json.loads(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(str(file), None, f"not valid {file.suffix[1:].upper()}: {exc}") from None
    if isinstance(doc, dict) and collection in doc:
        doc = doc[collection]
    items = [] if doc is None else doc if isinstance(doc, list) else [doc]
    place = ItemPlace.for_file(_JsonItemLines(text, collection))
    return [(item, place(f"{file} ({kind} #{n})")) for n, item in enumerate(items)]


class _JsonItemLines:
    """The line of each item of one JSON file, found when first asked for."""

    def __init__(self, text: str, collection: str) -> None:
        self._text = text
        self._collection = collection
        self._lines: list[int] = []

    def line(self, index: int) -> int:
        if not self._lines:
            self._lines = [line for _, line in json_items(self._text, self._collection)]
            self._text = ""
        return self._lines[index]


class ItemPlace(str):
    """The place of a JSON item, shown as `file:line (kind #index)`.

    The line is found only when the place is shown (in an error), by reading the file a second
    time: `json.loads` alone gives no positions, and reading item by item to get them would slow
    every load of a big triggers file. The string itself, which nothing shows, omits the line.
    A place has no attributes of its own (each would make it an object the garbage collector
    tracks, in a file of many items): the lines are those of the class `for_file` makes.
    """

    __slots__ = ()
    _lines: ClassVar[_JsonItemLines]

    @classmethod
    def for_file(cls, lines: _JsonItemLines) -> type[ItemPlace]:
        return type(cls.__name__, (cls,), {"__slots__": (), "_lines": lines})

    def __str__(self) -> str:
        head, _, index = self.removesuffix(")").rpartition(" #")
        file, _, kind = head.rpartition(" (")
        return f"{file}:{self._lines.line(int(index))} ({kind} #{index})"

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    def __repr__(self) -> str:
        return repr(str(self))


def yaml_items(text: str, collection: str) -> list[tuple[Any, int]]:
    """(item, line) pairs: the composed nodes carry the lines, construction gives the values."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        doc = None if node is None else loader.construct_document(node)
    finally:
        loader.dispose()
    if node is None or doc is None:
        return []
    if isinstance(doc, dict) and collection in doc:
        doc = doc[collection]
        node = next((v for k, v in reversed(node.value) if k.value == collection), node)
    if isinstance(doc, list) and isinstance(node, yaml.SequenceNode):
        return [(item, n.start_mark.line + 1) for item, n in zip(doc, node.value, strict=True)]
    return [(doc, node.start_mark.line + 1)]


def json_items(text: str, collection: str) -> list[tuple[Any, int]]:
    """(item, line) pairs, as `file_items` reads the document. The C decoder reads each item;
    only the list (and the object around it) is walked here."""
    start = _json_space(text, 0)
    if text.startswith("{", start):
        found, end = _json_member(text, start, collection)
    else:
        found, end = _json_value(text, start)
    if _json_space(text, end) != len(text):
        raise json.JSONDecodeError("Extra data", text, _json_space(text, end))
    value, at, lines = found
    if value is None:  # an empty document, as in YAML
        return []
    if isinstance(value, dict) and collection in value:  # `collection` not a list: one item
        value = value[collection]
    if lines is not None:
        return list(zip(value, lines, strict=True))
    return [(value, text.count("\n", 0, at) + 1)]


# A JSON value, where it starts, and the lines of its items when it is a list.
_Found = tuple[Any, int, list[int] | None]


def _json_space(text: str, pos: int) -> int:
    match = _JSON_SPACE.match(text, pos)
    return pos if match is None else match.end()


def _json_value(text: str, pos: int) -> tuple[_Found, int]:
    if not text.startswith("[", pos):
        value, end = _JSON.raw_decode(text, pos)
        return (value, pos, None), end
    items: list[Any] = []
    lines: list[int] = []
    start, pos = pos, _json_space(text, pos + 1)
    if text.startswith("]", pos):
        return (items, start, lines), pos + 1
    line = text.count("\n", 0, pos) + 1
    scan, following, count = _JSON.scan_once, _JSON_NEXT.match, text.count
    while True:
        try:
            item, end = scan(text, pos)
        except StopIteration as stop:
            raise json.JSONDecodeError("Expecting value", text, stop.value) from None
        items.append(item)
        lines.append(line)
        delimiter = following(text, end)
        if delimiter is None:
            raise json.JSONDecodeError("Expecting ',' delimiter", text, _json_space(text, end))
        if delimiter.group(1) == "]":
            return (items, start, lines), delimiter.end(1)
        line += count("\n", pos, delimiter.end())
        pos = delimiter.end()


def _json_member(text: str, pos: int, collection: str) -> tuple[_Found, int]:
    """The object at `pos`; when it has `collection`, that member (the last one, as json does)."""
    start, whole = pos, {}
    found: _Found | None = None
    pos = _json_space(text, pos + 1)
    while not text.startswith("}", pos):
        if whole:
            pos = _json_expect(text, pos, ",")
        if not text.startswith('"', pos):
            raise json.JSONDecodeError(
                "Expecting property name enclosed in double quotes", text, pos
            )
        key, pos = _JSON.raw_decode(text, pos)
        pos = _json_expect(text, _json_space(text, pos), ":")
        member, pos = _json_value(text, pos)
        whole[key] = member[0]
        if key == collection:
            found = member
        pos = _json_space(text, pos)
    if found is None or not isinstance(found[0], list):
        return (whole, start, None), pos + 1
    return found, pos + 1


def _json_expect(text: str, pos: int, delimiter: str) -> int:
    if not text.startswith(delimiter, pos):
        raise json.JSONDecodeError(f"Expecting {delimiter!r} delimiter", text, pos)
    return _json_space(text, pos + 1)


def validate_item(model: type[M], data: Any, place: str) -> M:
    """Validate one item; the error names the item, the field and the reason."""
    kind = model.__name__.lower()
    if not isinstance(data, dict):
        raise ConfigError(kind, place, f"expected an object, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
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
