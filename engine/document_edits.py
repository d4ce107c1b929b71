"""Editing one item of a JSON or YAML document in place.

YAML text is spliced: only the lines of the changed fields (or of the added or removed item) are
written, so the user's comments, order, quoting and indentation stay byte for byte elsewhere. The
new text is laid out as its neighbour was (flow or block, quote style). JSON has no comments: it
is rewritten with its shape, order and indentation kept.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import Any

import yaml

from engine.errors import ConfigError

YAML_WIDTH = 4096  # never fold a rendered line
_INDENT = 2


@dataclass(frozen=True)
class FieldChanges:
    """The fields of an item to remove, and those to set (in place, or appended when new)."""

    removed: list[str] = field(default_factory=list)
    changed: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def between(cls, old: dict[str, Any], new: dict[str, Any]) -> FieldChanges:
        changed = {k: v for k, v in new.items() if k not in old or old[k] != v}
        return cls([k for k in old if k not in new], changed)

    def apply(self, item: dict[str, Any]) -> dict[str, Any]:
        kept = {k: v for k, v in item.items() if k not in self.removed}
        return {**kept, **self.changed}


def updated(text: str, json_file: bool, collection: str, index: int, changes: FieldChanges) -> str:
    if json_file:
        doc, items = _json_items(text, collection)
        edited = changes.apply(items[index])
        if items[index] is doc:  # the file is this one item
            return _json_text(edited, text)
        items[index] = edited
        return _json_text(doc, text)
    return _YamlDocument(text, collection).updated(index, changes)


def appended(text: str, json_file: bool, collection: str, item: dict[str, Any]) -> str:
    if json_file:
        if not text.strip():
            return _json_text({collection: [item]}, text)
        doc, items = _json_items(text, collection)
        _require_list(doc, collection)
        items.append(item)
        return _json_text(doc, text)
    return _YamlDocument(text, collection).appended(item)


def removed(text: str, json_file: bool, collection: str, index: int) -> str:
    if json_file:
        doc, items = _json_items(text, collection)
        _require_list(doc, collection)
        del items[index]
        return _json_text(doc, text)
    return _YamlDocument(text, collection).removed(index)


def _json_items(text: str, collection: str) -> tuple[Any, list[Any]]:
    """The document and its list of items (the document itself when it is one item)."""
    doc = json.loads(text)
    if isinstance(doc, dict) and isinstance(doc.get(collection), list):
        return doc, doc[collection]
    return doc, doc if isinstance(doc, list) else [doc]


def _require_list(doc: Any, collection: str) -> None:
    if not isinstance(doc, list) and not (isinstance(doc, dict) and collection in doc):
        raise ConfigError(
            "the file", None, f"holds one object, not a list of {collection}: make it a list first"
        )


def _json_text(doc: Any, original: str) -> str:
    return json.dumps(doc, indent=_json_indent(original), ensure_ascii=False) + "\n"


def _json_indent(text: str) -> str:
    """The indentation of the first indented line (two spaces when none is)."""
    for line in text.splitlines()[1:]:
        stripped = line.lstrip(" \t")
        if stripped and stripped != line:
            return line[: len(line) - len(stripped)]
    return " " * _INDENT


class _IndentedDumper(yaml.SafeDumper):
    """Sequences in a mapping indented under their key, as hand-written files mostly have them."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _render(value: Any, like: yaml.Node | None, column: int) -> str:
    """`value` as YAML laid out like the node `like`, its lines after the first at `column`."""
    stream = io.StringIO()
    dumper = _IndentedDumper(
        stream, default_flow_style=None, allow_unicode=True, sort_keys=False, width=YAML_WIDTH
    )
    try:
        node = dumper.represent_data(value)
        if like is None:
            node.flow_style = False  # a field or an item on lines of its own
        else:
            _restyle(node, like)
        dumper.open()
        dumper.serialize(node)
        dumper.close()
    finally:
        dumper.dispose()
    lines = stream.getvalue().removesuffix("\n").split("\n")
    return ("\n" + " " * column).join(lines)


def _restyle(node: yaml.Node, like: yaml.Node) -> None:
    """Copy flow style and string quoting from `like` to the matching parts of `node` (a part
    `like` lacks is laid out as its last sibling there)."""
    if isinstance(node, yaml.ScalarNode) and isinstance(like, yaml.ScalarNode):
        if node.tag == like.tag == "tag:yaml.org,2002:str" and like.style in ("'", '"'):
            node.style = like.style
    elif isinstance(node, yaml.SequenceNode) and isinstance(like, yaml.SequenceNode):
        node.flow_style = like.flow_style
        for n, child in enumerate(node.value):
            if like.value:
                _restyle(child, like.value[min(n, len(like.value) - 1)])
    elif isinstance(node, yaml.MappingNode) and isinstance(like, yaml.MappingNode):
        node.flow_style = like.flow_style
        like_pairs = {k.value: (k, v) for k, v in like.value}
        for key, child in node.value:
            if like.value:
                like_key, like_child = like_pairs.get(key.value, like.value[-1])
                _restyle(key, like_key)
                _restyle(child, like_child)


class _YamlDocument:
    """A YAML document's text and its composed nodes, whose marks say where each part is."""

    def __init__(self, text: str, collection: str) -> None:
        self.text = text
        self.collection = collection
        self.root = yaml.compose(text, Loader=yaml.SafeLoader) if text.strip() else None
        self.key: yaml.ScalarNode | None = None  # the `collection:` key, when the file has one
        self.items: yaml.Node | None = self.root
        if isinstance(self.root, yaml.MappingNode):
            for key, value in self.root.value:
                if key.value == collection:
                    self.key, self.items = key, value

    # -- the three edits ------------------------------------------------------------------------

    def updated(self, index: int, changes: FieldChanges) -> str:
        item = self._item(index)
        keys = {k.value: (k, v) for k, v in item.value}
        if item.flow_style:
            current = yaml.safe_load(self._source(item))
            rendered = _render(changes.apply(current), item, item.start_mark.column)
            return self._spliced([(item.start_mark.index, self._end(item), rendered)])
        kept = [(k, v) for k, v in item.value if k.value not in changes.removed]
        if not kept:  # every field goes: the item is written anew where it stood
            rendered = _render(changes.apply({}), None, item.start_mark.column)
            return self._spliced([(item.start_mark.index, self._end(item), rendered)])
        first = kept[0][0].start_mark.index
        # Fields before the first kept one go with the text up to it: that one moves to their line.
        splices = [(item.start_mark.index, first, "")]
        for key, value in item.value:
            if key.value in changes.removed and key.start_mark.index > first:
                splices.append(self._removal(key, value))
        column = kept[0][0].start_mark.column
        added = ""
        for name, value in changes.changed.items():
            if name in keys:
                key, old = keys[name]
                text = _render({name: value}, _pair_like(key, old), column)
                splices.append((key.start_mark.index, self._end(old), text))
            else:
                added += "\n" + " " * column + _render({name: value}, None, column)
        after = self._line_end(self._end(kept[-1][1]))
        return self._spliced([*splices, (after, after, added)])

    def appended(self, new: dict[str, Any]) -> str:
        if self.root is None:  # a new file, or one of comments only
            lead = "" if not self.text or self.text.endswith("\n") else "\n"
            return f"{self.text}{lead}{self.collection}:\n{self._block([new], _INDENT)}\n"
        items = self._sequence()
        if items.flow_style:
            current = yaml.safe_load(self._source(items)) or []
            return self._replaced_sequence([*current, new])
        last = items.value[-1]
        dash = self.text.rfind("-", 0, last.start_mark.index)
        dash_column = dash - self._line_start(dash)
        separated = len(items.value) > 1 and self._blank_between(items.value[-2], last)
        rendered = _render(new, last, last.start_mark.column)
        gap = " " * (last.start_mark.column - dash_column - 1)
        entry = ("\n" if separated else "") + "\n" + " " * dash_column + "-" + gap + rendered
        at = self._line_end(self._end(last))
        return self._spliced([(at, at, entry)])

    def removed(self, index: int) -> str:
        items = self._sequence()
        item = self._item(index)
        if len(items.value) == 1:
            return self._replaced_sequence([])
        if items.flow_style:
            current = yaml.safe_load(self._source(items))
            del current[index]
            return self._replaced_sequence(current)
        dash = self.text.rfind("-", 0, item.start_mark.index)
        start = self._line_start(dash)
        floor = self._floor(index)
        if floor is not None:
            start = self._comments_above(start, floor, dash - start)
        end = self._line_end(self._end(item)) + 1
        if index == len(items.value) - 1:
            while start > 0 and self._is_blank_line(self._line_start(start - 1)):
                start = self._line_start(start - 1)
        else:
            while end < len(self.text) and self._is_blank_line(end):
                end = self._line_end(end) + 1
        return self._spliced([(start, min(end, len(self.text)), "")])

    # -- finding things -------------------------------------------------------------------------

    def _sequence(self) -> yaml.SequenceNode:
        if not isinstance(self.items, yaml.SequenceNode):
            raise ConfigError(
                "the file",
                None,
                f"holds one object, not a list of {self.collection}: make it a list first",
            )
        return self.items

    def _item(self, index: int) -> yaml.MappingNode:
        items = self.items
        item = items.value[index] if isinstance(items, yaml.SequenceNode) else items
        assert isinstance(item, yaml.MappingNode)
        return item

    def _end(self, node: yaml.Node) -> int:
        """Where the node's own text ends: a block collection's mark runs on to the next token."""
        block = isinstance(node, yaml.MappingNode | yaml.SequenceNode) and not node.flow_style
        if block and node.value:
            last = node.value[-1]
            return self._end(last[1] if isinstance(last, tuple) else last)
        end = node.end_mark.index
        while end > node.start_mark.index and self.text[end - 1] in " \t\r\n":
            end -= 1
        return end

    def _source(self, node: yaml.Node) -> str:
        return self.text[node.start_mark.index : self._end(node)]

    def _floor(self, index: int) -> int | None:
        """Where the text that may belong to item `index` (its comments) starts, if known."""
        if index > 0:
            assert isinstance(self.items, yaml.SequenceNode)
            return self._line_end(self._end(self.items.value[index - 1])) + 1
        if self.key is not None:
            return self._line_end(self.key.end_mark.index) + 1
        return None  # the first item of a top-level list: comments above may be the file's

    def _comments_above(self, start: int, floor: int, column: int) -> int:
        """The start of the comment lines at `column` right above the line at `start`."""
        while start > floor:
            above = self._line_start(start - 1)
            line = self.text[above : start - 1]
            if not line.startswith(" " * column + "#"):
                break
            start = above
        return start

    def _blank_between(self, first: yaml.Node, second: yaml.Node) -> bool:
        between = self.text[self._line_end(self._end(first)) + 1 : second.start_mark.index]
        return any(not line.strip() for line in between.split("\n")[:-1])

    def _removal(self, key: yaml.Node, value: yaml.Node) -> tuple[int, int, str]:
        """A field's lines, and the comment lines right above it."""
        line = self._line_start(key.start_mark.index)
        start = self._comments_above(line, 0, key.start_mark.column)
        return start, self._line_end(self._end(value)) + 1, ""

    def _line_start(self, index: int) -> int:
        return self.text.rfind("\n", 0, index) + 1

    def _line_end(self, index: int) -> int:
        end = self.text.find("\n", index)
        return len(self.text) if end < 0 else end

    def _is_blank_line(self, start: int) -> bool:
        return not self.text[start : self._line_end(start)].strip()

    # -- writing --------------------------------------------------------------------------------

    def _block(self, items: list[Any], column: int) -> str:
        """Items as a block sequence, every line at `column`."""
        lead = "\n" + " " * column + "- "
        return "".join(lead + _render(item, None, column + 2) for item in items).removeprefix("\n")

    def _replaced_sequence(self, items: list[Any]) -> str:
        """The whole (flow, empty or single-item) sequence written anew: block, or `[]`."""
        assert self.items is not None
        end = self._end(self.items)
        if not self.items.flow_style:  # with the comment of its last line
            end = self._line_end(end)
        if self.key is None:
            start = self.items.start_mark.index
            text = self._block(items, 0) if items else "[]"
            return self._spliced([(self._line_start(start), end, text)])
        column = self.key.start_mark.column + _INDENT
        text = ":\n" + self._block(items, column) if items else ": []"
        return self._spliced([(self.key.end_mark.index, end, text)])

    def _spliced(self, splices: list[tuple[int, int, str]]) -> str:
        text = self.text
        for start, end, replacement in sorted(splices, reverse=True):
            if end < start:  # an alias: its marks are those of the anchored node elsewhere
                raise ConfigError("the file", None, "uses a YAML alias where it must change")
            text = text[:start] + replacement + text[end:]
        return text


def _pair_like(key: yaml.Node, value: yaml.Node) -> yaml.MappingNode:
    """A one-field mapping node, to lay a new `{key: value}` out like the old field."""
    return yaml.MappingNode("tag:yaml.org,2002:map", [(key, value)], flow_style=False)
