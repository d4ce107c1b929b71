"""Editing one item of a YAML document in place, against the reference of the data itself: after
any update, append or removal, the document reads back as the same change made to the loaded
items, and the comments of the items left alone are all still there."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.document_edits import FieldChanges, appended, removed, updated

KEYS = ["name", "org_id", "action", "required_inputs", "condition", "timeout", "enabled", "env"]
TEXT = st.text(alphabet="abz09 _-:#'\"/*.!yesnoY", min_size=0, max_size=12)
SCALARS = st.one_of(TEXT, st.integers(-1000, 10**6), st.booleans())
VALUES = st.one_of(
    SCALARS,
    st.lists(TEXT, min_size=1, max_size=3),
    st.dictionaries(st.sampled_from(["a", "b", "c"]), SCALARS, min_size=1, max_size=2),
)
ITEMS = st.dictionaries(st.sampled_from(KEYS), VALUES, min_size=1, max_size=5)


def _document(items: list[dict[str, Any]], flow: bool, wrapped: bool) -> str:
    """The items as a YAML file a person might write: each under a comment of its own, fields in
    block or flow style, the list bare or under `triggers:`."""
    lines = ["triggers:"] if wrapped else []
    indent = "  " if wrapped else ""
    for number, item in enumerate(items):
        lines.append(f"{indent}# keep-{number}")
        body = yaml.safe_dump(
            [item], default_flow_style=None if flow else False, sort_keys=False, width=4096
        )
        lines.extend(indent + line for line in body.splitlines())
    return "\n".join(lines) + "\n"


def _loaded(text: str) -> list[dict[str, Any]]:
    doc = yaml.safe_load(text)
    items = doc["triggers"] if isinstance(doc, dict) else doc
    return items or []


documents = st.tuples(st.lists(ITEMS, min_size=1, max_size=4), st.booleans(), st.booleans())


@settings(max_examples=300, deadline=None)
@given(documents, st.data())
def test_an_update_reads_back_as_the_changed_item_and_keeps_every_items_comment(
    document: tuple[list[dict[str, Any]], bool, bool], data: st.DataObject
) -> None:
    items, flow, wrapped = document
    text = _document(items, flow, wrapped)
    index = data.draw(st.integers(0, len(items) - 1))
    old = items[index]
    new = data.draw(ITEMS)
    changes = FieldChanges.between(old, new)
    edited = updated(text, False, "triggers", index, changes)
    want = [*items[:index], changes.apply(old), *items[index + 1 :]]
    assert _loaded(edited) == want
    assert all(f"# keep-{n}" in edited for n in range(len(items)))


@settings(max_examples=200, deadline=None)
@given(documents, ITEMS)
def test_an_append_reads_back_as_one_more_item(
    document: tuple[list[dict[str, Any]], bool, bool], new: dict[str, Any]
) -> None:
    items, flow, wrapped = document
    text = _document(items, flow, wrapped)
    edited = appended(text, False, "triggers", new)
    assert _loaded(edited) == [*items, new]
    assert edited.startswith(text.rstrip("\n"))


@settings(max_examples=200, deadline=None)
@given(documents, st.data())
def test_a_removal_reads_back_without_the_item_and_keeps_the_others_comments(
    document: tuple[list[dict[str, Any]], bool, bool], data: st.DataObject
) -> None:
    items, flow, wrapped = document
    text = _document(items, flow, wrapped)
    index = data.draw(st.integers(0, len(items) - 1))
    edited = removed(text, False, "triggers", index)
    assert _loaded(edited) == [*items[:index], *items[index + 1 :]]
    kept = [n for n in range(len(items)) if n != index]
    assert all(f"# keep-{n}" in edited for n in kept)
    # The comment right above the item goes with it; above the first item of a bare top-level
    # list it may be the file's own, and stays.
    assert (f"# keep-{index}" in edited) == (index == 0 and not wrapped)
