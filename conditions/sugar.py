"""`required_tag` / `required_metadata`: shorthands for an AND of Roboto condition leaves.

They are validated here, with paths that name the shorthand (`required_metadata.robot`), so the
condition they expand to always compiles.
"""

from __future__ import annotations

from typing import Any

from conditions.comparators import Comparator, GroupOperator
from conditions.errors import ConditionError
from conditions.roboto import check_value, parse_field


def expand_sugar(
    required_tag: list[str] | None, required_metadata: dict[str, Any] | None
) -> dict[str, Any] | None:
    """The Roboto condition the shorthands stand for; None when neither gives anything."""
    leaves = [*_tag_leaves(required_tag), *_metadata_leaves(required_metadata)]
    if not leaves:
        return None
    return {"operator": GroupOperator.AND, "conditions": leaves}


def _tag_leaves(required_tag: list[str] | None) -> list[dict[str, Any]]:
    if required_tag is None:
        return []
    if required_tag.__class__ is not list:
        raise ConditionError("required_tag", "must be a list of tags")
    for i, tag in enumerate(required_tag):
        if tag.__class__ is not str or not tag:
            raise ConditionError(f"required_tag[{i}]", "a tag must be a non-empty string")
    contains = Comparator.CONTAINS
    return [{"field": "tags", "comparator": contains, "value": tag} for tag in required_tag]


def _metadata_leaves(required_metadata: dict[str, Any] | None) -> list[dict[str, Any]]:
    if required_metadata is None:
        return []
    if required_metadata.__class__ is not dict:
        raise ConditionError("required_metadata", "must be an object of metadata key -> value")
    leaves = []
    for key, value in required_metadata.items():
        path = f"required_metadata.{key}"
        field = f"metadata.{key}" if key.__class__ is str else key
        parse_field(field, path, allow_file_fields=False)
        check_value(Comparator.EQUALS, value, path)
        leaves.append({"field": field, "comparator": Comparator.EQUALS, "value": value})
    return leaves
