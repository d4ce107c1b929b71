"""Conditions compiled to generated Python functions, instead of trees of closures.

A tree of closures costs a call per node, and with many triggers each node's function object,
cells and constants are likely cache misses. A generated function covers a group (AND, OR, and,
or, if) with its leaves as one code object: every operator becomes an expression, and the
constants become the function's default arguments (read like local variables). No user text ever
becomes source code: the source holds only operators and parameter names, so groups that differ
only in their constants share one *shape*, compiled once, and each group is that code object with
its own constants. A nested group is a function of its own: shapes of whole trees would be nearly
as many as the distinct conditions, a `compile` each.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from types import CodeType, FunctionType
from typing import Any

# How deep one generated expression nests before a subtree becomes a function of its own (far
# below the limits of Python's parser, which a deep condition would otherwise hit).
MAX_NESTING = 12


class FunctionBuilder:
    """Collects the constants and temporaries of one generated function."""

    def __init__(self, parameters: str, namespace: dict[str, Any]) -> None:
        self.parameters = parameters  # the function's own, e.g. "dataset, file"
        # The functions' globals: the helpers the source may name besides its parameters.
        self.namespace = namespace
        self.constants: list[Any] = []
        self._temporaries = 0

    def constant(self, value: Any) -> str:
        """The parameter name under which `value` is passed."""
        self.constants.append(value)
        return f"_c{len(self.constants) - 1}"

    def temporary(self) -> str:
        """A fresh local name, for `:=` inside the expression."""
        self._temporaries += 1
        return f"_t{self._temporaries}"

    def function(self, body: str) -> Callable[..., Any]:
        """The function with this body (indented statements) and the constants collected."""
        names = ", ".join(f"_c{i}" for i in range(len(self.constants)))
        signature = f"{self.parameters}, {names}" if names else self.parameters
        code = _compiled(f"def generated({signature}):\n{body}")
        return FunctionType(code, self.namespace, "condition", tuple(self.constants))


@functools.lru_cache(maxsize=1 << 14)
def _compiled(source: str) -> CodeType:
    """The code object of the one function `source` defines: once per shape."""
    module = compile(source, "<condition>", "exec")
    return next(c for c in module.co_consts if isinstance(c, CodeType))
