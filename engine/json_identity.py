"""Whether two JSON values are the same value, as a condition and the JSON text see them."""

from __future__ import annotations

from typing import Any

import orjson


def identical_json(left: Any, right: Any) -> bool:
    """Equal JSON values, with equal types and key order all the way down: Python holds `1`,
    `1.0` and `true` equal (and `0.0` and `-0.0`), but a condition may tell them apart, and their
    JSON texts differ. (A value orjson cannot write, an integer beyond 64 bits, counts as
    different: the caller only loses a shortcut.)"""
    if left != right:
        return False
    try:
        return orjson.dumps(left) == orjson.dumps(right)
    except orjson.JSONEncodeError:
        return False
