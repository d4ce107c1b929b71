"""JavaScript value semantics that JsonLogic inherits, on JSON values held as Python objects.

Where the official suites are stricter than JavaScript (arrays and objects never coerce to a
number, a number compared with a non-numeric string is an error), the suites win.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any

from conditions.errors import nan_error

NAN = float("nan")

# JavaScript StringToNumber: decimals (no `_`, no `nan`/`inf` spellings), Infinity, 0x/0o/0b.
_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_INTEGER = re.compile(r"[+-]?\d+")
_INFINITY = re.compile(r"([+-]?)Infinity")
_RADIX = re.compile(r"0([xXoObB])([0-9a-fA-F]+)")
_RADIX_BASES = {"x": 16, "o": 8, "b": 2}


def truthy(value: Any) -> bool:
    """JsonLogic truthiness: JavaScript's, except that an empty array is false."""
    if value.__class__ is dict:
        return True
    return bool(value)


def to_number(value: Any) -> int | float:
    """JavaScript ToNumber; arrays and objects give NaN (the suites never coerce them)."""
    kind = value.__class__
    if kind is int or kind is float:
        return value
    if kind is bool:
        return int(value)
    if value is None:
        return 0
    if kind is str:
        return _string_to_number(value)
    return NAN


def to_number_or_raise(value: Any) -> int | float:
    """ToNumber for arithmetic and numeric comparison: NaN is a `{"type": "NaN"}` error."""
    number = to_number(value)
    if number != number:
        raise nan_error()
    return number


def _string_to_number(text: str) -> int | float:
    text = text.strip()
    if not text:
        return 0
    if _INTEGER.fullmatch(text):
        return int(text)
    if _DECIMAL.fullmatch(text):
        return float(text)
    infinity = _INFINITY.fullmatch(text)
    if infinity:
        return -math.inf if infinity.group(1) == "-" else math.inf
    radix = _RADIX.fullmatch(text)
    if radix:
        try:
            return int(radix.group(2), _RADIX_BASES[radix.group(1).lower()])
        except ValueError:  # digits outside the base, e.g. 0b12
            return NAN
    return NAN


def to_string(value: Any) -> str:
    """JavaScript ToString (`String(value)`) for JSON values."""
    kind = value.__class__
    if kind is str:
        return value
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    if kind is float:
        return _float_to_string(value)
    if value is None:
        return "null"
    if kind is list:
        return ",".join("" if item is None else to_string(item) for item in value)
    return "[object Object]"


def _float_to_string(number: float) -> str:
    if number != number:
        return "NaN"
    if math.isinf(number):
        return "Infinity" if number > 0 else "-Infinity"
    if number == 0:
        return "0"  # also for -0.0
    text = repr(number)  # shortest round-trip digits, the same digits JavaScript prints
    if "e" not in text:
        return text.removesuffix(".0")
    mantissa, exponent_text = text.split("e")
    exponent = int(exponent_text)
    if -7 < exponent < 21:  # JavaScript stays positional in this range, Python does not
        return format(Decimal(text), "f")
    return f"{mantissa}e{'+' if exponent > 0 else '-'}{abs(exponent)}"


def loose_equals(left: Any, right: Any) -> bool:
    """`==`: strings and nulls compare as themselves, anything else as numbers."""
    kind = left.__class__
    if kind is right.__class__ and kind is not list and kind is not dict:
        return left == right
    if _stringish(left) and _stringish(right):
        return False  # null against a string (same types were handled above)
    return to_number_or_raise(_scalar(left)) == to_number_or_raise(_scalar(right))


def loose_compare(left: Any, right: Any) -> int | None:
    """Order for `<` `<=` `>` `>=`: -1, 0 or 1, or None when unordered (a NaN operand)."""
    if left.__class__ is str and right.__class__ is str:
        return (left > right) - (left < right)
    if _stringish(left) and _stringish(right):
        # JavaScript: null becomes 0, a string its number; NaN is unordered, not an error here.
        a, b = to_number(left), to_number(right)
        if a != a or b != b:
            return None
    else:
        a, b = to_number_or_raise(_scalar(left)), to_number_or_raise(_scalar(right))
    return (a > b) - (a < b)


def strict_equals(left: Any, right: Any) -> bool:
    """`===`: same type and value; arrays and objects only equal themselves."""
    kind = left.__class__
    other = right.__class__
    if kind is other:
        return left is right if kind is list or kind is dict else left == right
    return (kind is int or kind is float) and (other is int or other is float) and left == right


def _stringish(value: Any) -> bool:
    return value is None or value.__class__ is str


def _scalar(value: Any) -> Any:
    """Arrays and objects never take part in numeric comparison: the suites call that NaN."""
    if value.__class__ is list or value.__class__ is dict:
        raise nan_error()
    return value
