"""JsonLogic: compile a rule once into generated Python, then evaluate it many times.

Validation compiles the rule into nested closures (`_Compiler`, which `explain` also uses to
trace); evaluation runs generated functions (`_Generator`, see `conditions.codegen`) that call
those closures only for the rarer operators.

Semantics follow the official JsonLogic suites (`tests/data/jsonlogic/`): the classic operator
set plus `val` and `throw`, which the classic per-operator suites use. Operators whose argument
is a single rule (not a list) spread the rule's array result into their arguments ("chaining":
`{"max": {"var": "xs"}}`). Errors the standard defines (NaN, Invalid Arguments, `throw`) raise
`JsonLogicError` while evaluating; anything wrong with the shape of a rule is a `ConditionError`
when it is compiled, so a bad rule never reaches the hot path.

Not supported: `log` (conditions do no I/O), `val` scope climbing (`{"val": [[1], ...]}`), and
JavaScript property access on strings and arrays (`"length"`, string indexing): a path reads
object keys and array indexes only.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from conditions.codegen import MAX_NESTING, FunctionBuilder
from conditions.errors import ConditionError, JsonLogicError, invalid_arguments, nan_error
from conditions.jsvalues import (
    loose_compare,
    loose_equals,
    strict_equals,
    to_number,
    to_number_or_raise,
    to_string,
    truthy,
)
from conditions.trace import TraceStep

Evaluator = Callable[[Any], Any]
Key = tuple[str, int | None]  # an object key, and the array index it also denotes (if any)

_ABSENT = object()
_INDEX = re.compile(r"0|[1-9]\d*")
_NO_LIMIT = 1 << 30
_MAX_SUBJECT = 100


@dataclass(frozen=True, slots=True)
class CompiledRule:
    evaluate: Evaluator  # data -> value; raises JsonLogicError
    reads_data: bool  # False: the rule never looks at its data (callers may pass None)
    references_file: bool  # may read the `file` root (a literal path into it, or a computed one)
    references_event: bool  # may read the `event` root (likewise)


def compile_rule(
    rule: Any,
    *,
    path: str = "rule",
    roots: frozenset[str] | None = None,
    allow_file_fields: bool = True,
) -> CompiledRule:
    """Validate and compile. `roots`: the only top-level keys a data path may start with."""
    compiler = _Compiler(roots, allow_file_fields, None)
    compiler.compile(rule, _Where(path, 0, False))  # validates, and notes what the rule reads
    return CompiledRule(
        _Generator(compiler).function(rule),
        compiler.reads_data,
        compiler.references_file,
        compiler.references_event,
    )


def trace_rule(
    rule: Any, data: Any, *, path: str = "rule"
) -> tuple[Any, str | None, list[TraceStep]]:
    """Evaluate an already valid rule, recording every operator node outside iterator bodies.

    Returns (value, error, steps); `error` describes the JsonLogicError that stopped it, if any.
    """
    steps: list[TraceStep] = []
    evaluate = _Compiler(None, True, steps).compile(rule, _Where(path, 0, False))
    try:
        return evaluate(data), None, steps
    except JsonLogicError as exc:
        return None, describe_error(exc), steps


def describe_error(error: JsonLogicError) -> str:
    return json.dumps(error.payload, ensure_ascii=False, default=repr)


def is_operator(name: str) -> bool:
    return name in _OPERATORS


@dataclass(frozen=True, slots=True)
class _Where:
    path: str  # location in the condition, for errors and traces
    depth: int  # operator nesting, for trace indentation
    scoped: bool  # inside an iterator body: data is the current item, not the root

    def arg(self, op: str, index: int | None = None) -> _Where:
        suffix = f".{op}" if index is None else f".{op}[{index}]"
        return _Where(self.path + suffix, self.depth + 1, self.scoped)

    def body(self, op: str, index: int) -> _Where:
        return _Where(f"{self.path}.{op}[{index}]", self.depth + 1, True)


class _Compiler:
    def __init__(
        self, roots: frozenset[str] | None, allow_file_fields: bool, trace: list[TraceStep] | None
    ) -> None:
        self.roots = roots
        self.allow_file_fields = allow_file_fields
        self.trace = trace
        self.reads_data = False
        self.references_file = False
        self.references_event = False

    # -- dispatch ---------------------------------------------------------------------------

    def compile(self, rule: Any, where: _Where) -> Evaluator:
        kind = rule.__class__
        if kind is dict:
            if not rule:
                return _constant(rule)
            if len(rule) != 1:
                keys = ", ".join(repr(k) for k in rule)
                raise ConditionError(
                    where.path, f"a rule object must have exactly one key, the operator; got {keys}"
                )
            ((op, args),) = rule.items()
            method = _OPERATORS.get(op)
            if method is None:
                raise ConditionError(where.path, f"unknown JsonLogic operator {op!r}")
            evaluate = method(self, op, args, where)
            if self.trace is not None and not where.scoped:
                return self._traced(evaluate, rule, op, where, self.trace)
            return evaluate
        if kind is list:
            items = [
                self.compile(item, _Where(f"{where.path}[{i}]", where.depth, where.scoped))
                for i, item in enumerate(rule)
            ]
            if all(_is_literal(item) for item in rule):
                return _constant(rule)
            return lambda data: [item(data) for item in items]
        if rule is None or kind in (bool, int, float, str):
            return _constant(rule)
        raise ConditionError(where.path, f"{kind.__name__} is not a JSON value")

    def _traced(
        self, evaluate: Evaluator, rule: Any, op: str, where: _Where, steps: list[TraceStep]
    ) -> Evaluator:
        subject = _compact(rule)

        def step(value: Any, error: str | None) -> TraceStep:
            result = error is None and truthy(value)
            return TraceStep(
                "rule", where.path, where.depth, subject, op, None, value, result, error
            )

        def traced(data: Any) -> Any:
            slot = len(steps)  # reserve the slot first: steps are listed parents before children
            steps.append(step(None, "not finished"))
            try:
                value = evaluate(data)
            except JsonLogicError as exc:
                steps[slot] = step(None, describe_error(exc))
                raise
            steps[slot] = step(value, None)
            return value

        return traced

    def _list_args(
        self, op: str, args: Any, where: _Where, low: int = 0, high: int = _NO_LIMIT
    ) -> list[Evaluator]:
        """Operators that only take a literal list of arguments (the lazy ones)."""
        if args.__class__ is not list:
            raise ConditionError(where.path, f"{op!r} takes a list of arguments")
        _check_count(op, len(args), low, high, where)
        return [self.compile(arg, where.arg(op, i)) for i, arg in enumerate(args)]

    def _spread_args(
        self, op: str, args: Any, where: _Where, low: int, high: int
    ) -> Callable[[Any], list[Any]]:
        """Eager operators: a list is the arguments; a single rule's array result is spread."""
        if args.__class__ is list:
            _check_count(op, len(args), low, high, where)
            items = [self.compile(arg, where.arg(op, i)) for i, arg in enumerate(args)]
            return lambda data: [item(data) for item in items]
        single = self.compile(args, where.arg(op))
        if not _is_operator_node(args):
            _check_count(op, 1, low, high, where)
            return lambda data: [single(data)]

        def spread(data: Any) -> list[Any]:
            value = single(data)
            values = value if value.__class__ is list else [value]
            if not low <= len(values) <= high:
                raise invalid_arguments()
            return values

        return spread

    # -- data access --------------------------------------------------------------------------

    def _note_path(self, first: str | None, where: _Where) -> None:
        """Record what a data path reads; at the root, check it against the allowed roots."""
        if where.scoped:
            return
        self.reads_data = True
        if first is None:  # the whole root, or a path computed while evaluating
            self.references_file = self.references_event = True
            return
        if self.roots is not None and first not in self.roots:
            roots = ", ".join(sorted(self.roots))
            raise ConditionError(where.path, f"unknown data root {first!r}: rules read {roots}")
        if first == "file":
            if not self.allow_file_fields:
                raise ConditionError(
                    where.path,
                    "file fields are not allowed: a for_each dataset trigger has no file",
                )
            self.references_file = True
        elif first == "event":
            self.references_event = True

    def _note_keys(self, keys: tuple[Key, ...], where: _Where) -> None:
        self._note_path(keys[0][0] if keys else None, where)

    def op_var(self, op: str, args: Any, where: _Where) -> Evaluator:
        if args.__class__ is list:
            _check_count(op, len(args), 0, 2, where)
            path_rule = args[0] if args else None
            default = self.compile(args[1], where.arg(op, 1)) if len(args) == 2 else _constant(None)
        elif _is_operator_node(args):
            return self._dynamic_var(op, args, where)
        else:
            path_rule, default = args, _constant(None)
        if _is_operator_node(path_rule):
            self._note_path(None, where)
            path_of = self.compile(path_rule, where.arg(op, 0))
            return lambda data: _var(data, _dotted_keys(path_of(data)), default)
        if path_rule.__class__ in (list, dict):
            raise ConditionError(where.path, "a var path must be a string or a number")
        keys = _dotted_keys(path_rule)
        self._note_keys(keys, where)
        return _var_getter(keys, default)

    def _dynamic_var(self, op: str, args: Any, where: _Where) -> Evaluator:
        self._note_path(None, where)
        arguments = self._spread_args(op, args, where, 0, 2)

        def var(data: Any) -> Any:
            values = arguments(data)
            path = values[0] if values else None
            value = _lookup(data, _dotted_keys(path))
            if value is _ABSENT:
                return values[1] if len(values) == 2 else None
            return value

        return var

    def op_val(self, op: str, args: Any, where: _Where) -> Evaluator:
        if args.__class__ is list and len(args) == 1 and args[0].__class__ is not list:
            args = args[0]
        segments = args if args.__class__ is list else [args]
        if _is_operator_node(args) or not all(_is_literal(s) for s in segments):
            self._note_path(None, where)
            segments_of = self.compile(args, where.arg(op))
            return lambda data: _found(_lookup(data, _val_keys(segments_of(data))))
        if any(s.__class__ in (list, dict) for s in segments):
            raise ConditionError(where.path, "val scope climbing ([[n], ...]) is not supported")
        keys = tuple(_key(s) for s in segments)
        self._note_keys(keys, where)
        return _var_getter(keys, _constant(None))

    def op_missing(self, op: str, args: Any, where: _Where) -> Evaluator:
        literal_keys = _literal_missing_keys(args)
        if literal_keys is not None:
            paths = [(key, _dotted_keys(key)) for key in literal_keys]
            for _, keys in paths:
                self._note_keys(keys, where)
            return lambda data: [key for key, keys in paths if _is_missing(data, keys)]
        self._note_path(None, where)
        arguments = self._spread_args(op, args, where, 0, _NO_LIMIT)

        def missing(data: Any) -> list[Any]:
            values = arguments(data)
            keys = values[0] if values and values[0].__class__ is list else values
            return [key for key in keys if _is_missing(data, _dotted_keys(key))]

        return missing

    def op_missing_some(self, op: str, args: Any, where: _Where) -> Evaluator:
        need_of, keys_of = self._list_args(op, args, where, 2, 2)
        written = args[1]
        if written.__class__ is list and all(_is_literal(key) for key in written):
            for key in written:
                self._note_keys(_dotted_keys(key), where)
        else:
            self._note_path(None, where)

        def missing_some(data: Any) -> list[Any]:
            need = to_number(need_of(data))
            keys = keys_of(data)
            if keys.__class__ is not list:
                raise invalid_arguments()
            missing = [key for key in keys if _is_missing(data, _dotted_keys(key))]
            return [] if len(keys) - len(missing) >= need else missing

        return missing_some

    # -- logic ------------------------------------------------------------------------------------

    def op_if(self, op: str, args: Any, where: _Where) -> Evaluator:
        branches = self._list_args(op, args, where)
        if not branches:
            return _constant(None)
        if len(branches) % 2 == 0:
            branches.append(_constant(None))
        tests = branches[0:-1:2]
        thens = branches[1:-1:2]
        otherwise = branches[-1]
        pairs = list(zip(tests, thens, strict=True))

        def if_(data: Any) -> Any:
            for test, then in pairs:
                if truthy(test(data)):
                    return then(data)
            return otherwise(data)

        return if_

    def op_and(self, op: str, args: Any, where: _Where) -> Evaluator:
        items = self._list_args(op, args, where)
        if not items:
            return _constant(False)

        def and_(data: Any) -> Any:
            value = None
            for item in items:
                value = item(data)
                if not truthy(value):
                    return value
            return value

        return and_

    def op_or(self, op: str, args: Any, where: _Where) -> Evaluator:
        items = self._list_args(op, args, where)
        if not items:
            return _constant(False)

        def or_(data: Any) -> Any:
            value = None
            for item in items:
                value = item(data)
                if truthy(value):
                    return value
            return value

        return or_

    def _operand(self, op: str, args: Any, where: _Where) -> Evaluator | None:
        """`!` and `!!`: the first of a list of arguments, or a single rule taken as one value."""
        if args.__class__ is not list:
            return self.compile(args, where.arg(op))
        items = [self.compile(arg, where.arg(op, i)) for i, arg in enumerate(args)]
        return items[0] if items else None  # the others are validated, never evaluated

    def op_not(self, op: str, args: Any, where: _Where) -> Evaluator:
        operand = self._operand(op, args, where)
        if operand is None:
            return _constant(True)
        return lambda data: not truthy(operand(data))

    def op_truthy(self, op: str, args: Any, where: _Where) -> Evaluator:
        operand = self._operand(op, args, where)
        if operand is None:
            return _constant(False)
        return lambda data: truthy(operand(data))

    def op_compare(self, op: str, args: Any, where: _Where) -> Evaluator:
        test = _COMPARISONS[op]
        items = self._list_args(op, args, where, 2)
        if len(items) == 2:
            first, second = items
            return lambda data: test(first(data), second(data))

        def chain(data: Any) -> bool:  # `{"<": [1, x, 3]}`: lazily, pair by pair
            left = items[0](data)
            for item in items[1:]:
                right = item(data)
                if not test(left, right):
                    return False
                left = right
            return True

        return chain

    def op_throw(self, op: str, args: Any, where: _Where) -> Evaluator:
        arguments = self._spread_args(op, args, where, 1, 1)

        def throw(data: Any) -> Any:
            value = arguments(data)[0]
            raise JsonLogicError(value if value.__class__ is dict else {"type": value})

        return throw

    # -- iterators ----------------------------------------------------------------------------

    def _iteration(
        self, op: str, args: Any, where: _Where, *, nullable_body: bool, low: int = 2, high: int = 2
    ) -> tuple[Evaluator, Evaluator, Evaluator | None]:
        if args.__class__ is not list:
            raise ConditionError(where.path, f"{op!r} takes a list: [array, rule]")
        _check_count(op, len(args), low, high, where)
        if args[0] is None:
            raise ConditionError(where.arg(op, 0).path, f"{op!r} needs an array, got null")
        if args[1] is None and not nullable_body:
            raise ConditionError(where.arg(op, 1).path, f"{op!r} needs a rule, got null")
        array = self.compile(args[0], where.arg(op, 0))
        body = self.compile(args[1], where.body(op, 1))
        initial = self.compile(args[2], where.arg(op, 2)) if len(args) == 3 else None
        return array, body, initial

    def op_map(self, op: str, args: Any, where: _Where) -> Evaluator:
        array, body, _ = self._iteration(op, args, where, nullable_body=False)
        return lambda data: [body(item) for item in _items_or_empty(array(data))]

    def op_filter(self, op: str, args: Any, where: _Where) -> Evaluator:
        array, body, _ = self._iteration(op, args, where, nullable_body=False)
        return lambda data: [item for item in _items_or_empty(array(data)) if truthy(body(item))]

    def op_reduce(self, op: str, args: Any, where: _Where) -> Evaluator:
        array, body, initial = self._iteration(op, args, where, nullable_body=False, high=3)

        def reduce(data: Any) -> Any:
            items = _items_or_empty(array(data))
            if initial is not None:
                accumulator = initial(data)
            elif items:
                accumulator, items = items[0], items[1:]
            else:
                raise invalid_arguments()  # JavaScript: reduce of an empty array with no start
            for item in items:
                accumulator = body({"current": item, "accumulator": accumulator})
            return accumulator

        return reduce

    def op_all(self, op: str, args: Any, where: _Where) -> Evaluator:
        array, body, _ = self._iteration(op, args, where, nullable_body=True)

        def all_(data: Any) -> bool:
            items = _items(array(data))
            return bool(items) and all(truthy(body(item)) for item in items)

        return all_

    def op_some(self, op: str, args: Any, where: _Where) -> Evaluator:
        array, body, _ = self._iteration(op, args, where, nullable_body=True)
        return lambda data: any(truthy(body(item)) for item in _items(array(data)))

    def op_none(self, op: str, args: Any, where: _Where) -> Evaluator:
        array, body, _ = self._iteration(op, args, where, nullable_body=True)
        return lambda data: not any(truthy(body(item)) for item in _items(array(data)))

    # -- eager operators ---------------------------------------------------------------------

    def op_eager(self, op: str, args: Any, where: _Where) -> Evaluator:
        impl, low, high = _EAGER[op]
        arguments = self._spread_args(op, args, where, low, high)
        return lambda data: impl(arguments(data))

    def op_in(self, op: str, args: Any, where: _Where) -> Evaluator:
        if args.__class__ is list and len(args) == 2:
            needle = self.compile(args[0], where.arg(op, 0))
            haystack = self.compile(args[1], where.arg(op, 1))
            return lambda data: _in(needle(data), haystack(data))
        return self.op_eager(op, args, where)


# -- runtime helpers ------------------------------------------------------------------------------


def _constant(value: Any) -> Evaluator:
    return lambda data: value


def _is_operator_node(rule: Any) -> bool:
    return rule.__class__ is dict and len(rule) == 1


def _is_literal(rule: Any) -> bool:
    if rule.__class__ is list:
        return all(_is_literal(item) for item in rule)
    return rule.__class__ is not dict or not rule


def _check_count(op: str, count: int, low: int, high: int, where: _Where) -> None:
    if low <= count <= high:
        return
    if low == high:
        wanted = f"exactly {low}"
    elif high == _NO_LIMIT:
        wanted = f"at least {low}"
    else:
        wanted = f"{low} to {high}"
    raise ConditionError(where.path, f"{op!r} takes {wanted} arguments, got {count}")


def _compact(rule: Any) -> str:
    text = json.dumps(rule, ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= _MAX_SUBJECT else text[: _MAX_SUBJECT - 3] + "..."


def _key(segment: Any) -> Key:
    text = to_string(segment)
    return text, int(text) if _INDEX.fullmatch(text) else None


def _dotted_keys(path: Any) -> tuple[Key, ...]:
    """A var path: "a.b.0" reads data["a"]["b"][0]; null and "" read the data itself."""
    if path is None or path == "":
        return ()
    return tuple(_key(part) for part in to_string(path).split("."))


def _lookup(data: Any, keys: tuple[Key, ...]) -> Any:
    for key, index in keys:
        if isinstance(data, dict):
            data = data.get(key, _ABSENT)
            if data is _ABSENT:
                return _ABSENT
        elif index is not None and data.__class__ is list and index < len(data):
            data = data[index]
        else:
            return _ABSENT
    return data


def _val_keys(segments: Any) -> tuple[Key, ...]:
    if segments.__class__ is not list:
        return (_key(segments),)
    if segments and segments[0].__class__ is list:
        raise invalid_arguments()  # scope climbing
    return tuple(_key(segment) for segment in segments)


def _found(value: Any) -> Any:
    return None if value is _ABSENT else value


def _var_getter(keys: tuple[Key, ...], default: Evaluator) -> Evaluator:
    if not keys:
        return lambda data: data
    if len(keys) == 1 and keys[0][1] is None:
        ((name, _),) = keys

        def var_one(data: Any) -> Any:
            if isinstance(data, dict):
                value = data.get(name, _ABSENT)
                if value is not _ABSENT:
                    return value
            return default(data)

        return var_one

    def var(data: Any) -> Any:
        value = _lookup(data, keys)
        return default(data) if value is _ABSENT else value

    return var


def _var(data: Any, keys: tuple[Key, ...], default: Evaluator) -> Any:
    value = _lookup(data, keys)
    return default(data) if value is _ABSENT else value


def _is_missing(data: Any, keys: tuple[Key, ...]) -> bool:
    value = _lookup(data, keys)
    return value is _ABSENT or value is None or value == ""


def _literal_missing_keys(args: Any) -> list[Any] | None:
    """The keys of a `missing` whose keys are all written out, else None (computed keys)."""
    keys = args if args.__class__ is list else [args]
    if keys and keys[0].__class__ is list:
        keys = keys[0]
    if all(key.__class__ in (str, int, float) or key is None for key in keys):
        return keys
    return None


def _items_or_empty(value: Any) -> list[Any]:
    """map, filter and reduce treat a missing array as empty."""
    if value is None:
        return []
    if value.__class__ is not list:
        raise invalid_arguments()
    return value


def _items(value: Any) -> list[Any]:
    """all, some and none need an actual array."""
    if value.__class__ is not list:
        raise invalid_arguments()
    return value


def _numbers(values: list[Any]) -> list[int | float]:
    return [to_number_or_raise(value) for value in values]


def _checked(number: int | float) -> int | float:
    if number != number:
        raise nan_error()
    return number


def _plus(values: list[Any]) -> int | float:
    total: int | float = 0
    for number in _numbers(values):  # left to right like JavaScript (sum() may compensate)
        total += number
    return _checked(total)


def _times(values: list[Any]) -> int | float:
    return _checked(math.prod(_numbers(values)))


def _minus(values: list[Any]) -> int | float:
    first, *rest = _numbers(values)
    if not rest:
        return -first
    for number in rest:
        first -= number
    return _checked(first)


def _divide(values: list[Any]) -> int | float:
    numbers = _numbers(values)
    if len(numbers) == 1:
        numbers.insert(0, 1)
    result: int | float = numbers[0]
    for divisor in numbers[1:]:
        if divisor == 0:  # JavaScript gives Infinity or NaN; the standard makes it an error
            raise nan_error()
        result = result / divisor
    return _checked(result)


def _modulo(values: list[Any]) -> int | float:
    result, *divisors = _numbers(values)
    for divisor in divisors:
        result = _remainder(result, divisor)
    return result


def _remainder(dividend: int | float, divisor: int | float) -> int | float:
    """JavaScript `%`: the sign follows the dividend (Python's `%` follows the divisor)."""
    if divisor == 0 or math.isinf(dividend):
        raise nan_error()
    if dividend.__class__ is int and divisor.__class__ is int:
        remainder = abs(dividend) % abs(divisor)
        return -remainder if dividend < 0 else remainder
    if math.isinf(divisor):
        return dividend
    return math.fmod(dividend, divisor)


def _cat(values: list[Any]) -> str:
    return "".join(to_string(value) for value in values if value is not None)


def _merge(values: list[Any]) -> list[Any]:
    merged: list[Any] = []
    for value in values:
        if value.__class__ is list:
            merged.extend(value)
        else:
            merged.append(value)
    return merged


def _in(needle: Any, haystack: Any) -> bool:
    kind = haystack.__class__
    if kind is list:
        if needle.__class__ is str:
            return needle in haystack  # a str only ever == a str: exact strict membership
        return any(strict_equals(needle, item) for item in haystack)
    if kind is str:
        return to_string(needle) in haystack
    return False


def _substr(values: list[Any]) -> str:
    text = to_string(values[0])
    start = _integer(values[1])
    if start < 0:
        start = max(len(text) + start, 0)
    if len(values) < 3 or values[2] is None:
        return text[start:]
    length = _integer(values[2])
    if length < 0:  # JsonLogic extension: a negative length stops that far from the end
        rest = text[start:]
        return rest[: max(len(rest) + length, 0)]
    return text[start : start + length]


def _integer(value: Any) -> int:
    """JavaScript ToIntegerOrInfinity, clamped to a usable slice bound."""
    number = to_number(value)
    if number != number:
        return 0
    if math.isinf(number):
        return _NO_LIMIT if number > 0 else -_NO_LIMIT
    return int(number)


def _lt(left: Any, right: Any) -> bool:
    return loose_compare(left, right) == -1


def _le(left: Any, right: Any) -> bool:
    return loose_compare(left, right) in (-1, 0)


def _gt(left: Any, right: Any) -> bool:
    return loose_compare(left, right) == 1


def _ge(left: Any, right: Any) -> bool:
    return loose_compare(left, right) in (0, 1)


_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "==": loose_equals,
    "!=": lambda left, right: not loose_equals(left, right),
    "===": strict_equals,
    "!==": lambda left, right: not strict_equals(left, right),
    "<": _lt,
    "<=": _le,
    ">": _gt,
    ">=": _ge,
}

_EAGER: dict[str, tuple[Callable[[list[Any]], Any], int, int]] = {
    # operator: (implementation, fewest arguments, most arguments)
    "+": (_plus, 0, _NO_LIMIT),
    "-": (_minus, 1, _NO_LIMIT),
    "*": (_times, 0, _NO_LIMIT),
    "/": (_divide, 1, _NO_LIMIT),
    "%": (_modulo, 2, _NO_LIMIT),
    "max": (lambda values: max(_numbers(values)), 1, _NO_LIMIT),
    "min": (lambda values: min(_numbers(values)), 1, _NO_LIMIT),
    "cat": (_cat, 0, _NO_LIMIT),
    "merge": (_merge, 0, _NO_LIMIT),
    "in": (lambda values: _in(values[0], values[1]), 2, 2),
    "substr": (_substr, 2, 3),
}

_OPERATORS: dict[str, Callable[[_Compiler, str, Any, _Where], Evaluator]] = {
    "var": _Compiler.op_var,
    "val": _Compiler.op_val,
    "missing": _Compiler.op_missing,
    "missing_some": _Compiler.op_missing_some,
    "if": _Compiler.op_if,
    "?:": _Compiler.op_if,
    "and": _Compiler.op_and,
    "or": _Compiler.op_or,
    "!": _Compiler.op_not,
    "!!": _Compiler.op_truthy,
    **{op: _Compiler.op_compare for op in _COMPARISONS},
    "throw": _Compiler.op_throw,
    "map": _Compiler.op_map,
    "filter": _Compiler.op_filter,
    "reduce": _Compiler.op_reduce,
    "all": _Compiler.op_all,
    "some": _Compiler.op_some,
    "none": _Compiler.op_none,
    **{op: _Compiler.op_eager for op in _EAGER},
    "in": _Compiler.op_in,
}


# -- generated evaluation ------------------------------------------------------------------------

# What generated rules name besides their parameters.
_NAMESPACE: dict[str, Any] = {
    "__builtins__": {"isinstance": isinstance, "dict": dict},
    "_A": _ABSENT,
    "_truthy": truthy,
}
# Operators with several operands: below the top, each is a function of its own.
_BRANCHING = frozenset({"and", "or", "if", "?:"})
_GENERATED = frozenset({"var", "in", "!", "!!", *_BRANCHING, *_COMPARISONS})


class _Generator:
    """A validated rule as generated functions of `data` (see `conditions.codegen`).

    The operators conditions use most (var with a literal path, the comparisons, in, and, or, !,
    !!, if) become expressions, one function per and, or and if (a shape per whole rule would
    mean a `compile` per condition); any other node, and any node nested deeper than
    `MAX_NESTING`, is its closure from `_Compiler`, called with `data`.
    """

    def __init__(self, validated: _Compiler) -> None:
        self.compiler = _Compiler(validated.roots, validated.allow_file_fields, None)

    def function(self, rule: Any) -> Evaluator:
        builder = FunctionBuilder("data", _NAMESPACE)
        return builder.function(f"    return {self.expression(rule, builder, 0)}\n")

    def expression(self, rule: Any, builder: FunctionBuilder, depth: int) -> str:
        if _is_literal(rule):
            return builder.constant(rule)
        if depth == MAX_NESTING or not _is_operator_node(rule):
            return self._closure(rule, builder)
        ((op, args),) = rule.items()
        if op not in _GENERATED:
            return self._closure(rule, builder)
        if op == "var":
            return self._var(rule, args, builder)
        if op in _BRANCHING and depth:
            return f"{builder.constant(self.function(rule))}(data)"
        operands = args if args.__class__ is list else [args]
        parts = [self.expression(operand, builder, depth + 1) for operand in operands]
        if op in ("and", "or"):
            return _logic(op, parts, builder)
        if op in ("!", "!!"):
            if not parts:
                return builder.constant(op == "!")
            negation = "not " if op == "!" else ""
            return f"({negation}_truthy({parts[0]}))"
        if op in ("if", "?:"):
            return _if(parts, builder)
        if len(parts) != 2 or args.__class__ is not list:
            return self._closure(rule, builder)  # chained comparisons, spread arguments
        test = _in if op == "in" else _COMPARISONS[op]
        return f"{builder.constant(test)}({parts[0]}, {parts[1]})"

    def _closure(self, rule: Any, builder: FunctionBuilder) -> str:
        closure = self.compiler.compile(rule, _Where("rule", 0, False))
        return f"{builder.constant(closure)}(data)"

    def _var(self, rule: dict[str, Any], args: Any, builder: FunctionBuilder) -> str:
        path, default = [*args, None, None][:2] if args.__class__ is list else (args, None)
        if path.__class__ not in (str, int, float) or not _is_literal(default):
            return self._closure(rule, builder)
        keys = _dotted_keys(path)
        if not keys or any(index is not None for _, index in keys):
            return self._closure(rule, builder)  # the data itself, or array indexes
        value = "data"
        for key, _ in keys:
            step, name = builder.temporary(), builder.constant(key)
            value = f"({step}.get({name}, _A) if isinstance({step} := {value}, dict) else _A)"
        found = builder.temporary()
        return f"({found} if ({found} := {value}) is not _A else {builder.constant(default)})"


def _logic(op: str, parts: list[str], builder: FunctionBuilder) -> str:
    """and/or give the operand that decided, as in JavaScript."""
    if not parts:
        return builder.constant(False)
    negation = "not " if op == "and" else ""
    expression = parts[-1]
    for part in reversed(parts[:-1]):
        value = builder.temporary()
        expression = f"({value} if {negation}_truthy({value} := {part}) else {expression})"
    return expression


def _if(parts: list[str], builder: FunctionBuilder) -> str:
    if not parts:
        return builder.constant(None)
    if len(parts) % 2 == 0:
        parts.append(builder.constant(None))
    expression = parts[-1]
    for index in range(len(parts) - 3, -1, -2):
        test, then = parts[index], parts[index + 1]
        expression = f"({then} if _truthy({test}) else {expression})"
    return expression
