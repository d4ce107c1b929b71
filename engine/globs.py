"""gitignore-style globs: one trigger's `required_inputs`, compiled once, matched many times.

Semantics are exactly those of `pathspec`'s `gitwildmatch` patterns (pathspec >= 1.0 names that
class `GitIgnoreSpecPattern`), used the plain way `PathSpec.match_file` uses them: every pattern is
tested, the last one that matches decides, `!pattern` excludes. pathspec translates each pattern to
a regular expression; this module adds validation, rewrites the regexes to walk directories a
segment at a time (`segmentwise`), matches a literal head of each with string methods and only
the rest with a regex that patterns share (`split_regex`), and answers the questions the evaluator
and `explain` ask.

Paths are matched as given: they must already be relative to the dataset root (no leading `/`,
no `./`) and have no empty segment, which event validation guarantees; matching is case-sensitive.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pathspec.patterns.gitignore import GitIgnorePatternError
from pathspec.patterns.gitignore.spec import GitIgnoreSpecPattern

from engine.errors import ConfigError


class GlobError(ConfigError):
    """A required-input pattern (or the list of them) is invalid."""

    def __init__(
        self, place: str, reason: str, *, pattern: object = None, index: int | None = None
    ) -> None:
        self.pattern = pattern
        self.index = index
        thing = "patterns" if pattern is None else f"pattern [{index}] {pattern!r}"
        super().__init__(thing, place, reason)


@dataclass(frozen=True, slots=True)
class CompiledPattern:
    """One effective pattern with pathspec's regex for it (match with `regex.search`)."""

    source: str  # exactly as given, `!` included
    index: int  # position in the list as given
    negated: bool
    # The pattern as gitignore reads it: trailing unescaped whitespace and the `!` removed.
    body: str
    regex: PathRegex


def _read_pattern(source: str) -> str | None:
    """The pattern with gitignore's trailing-whitespace rule applied; None for blanks and comments.

    Like pathspec, trailing whitespace is dropped unless the pattern ends in an escaped space.
    """
    text = source if source.endswith("\\ ") else source.rstrip()
    if not text or text.startswith("#"):
        return None
    return text


class _Unusable(Exception):
    """Why a non-blank pattern cannot be used; turned into a `GlobError` by `compile_pattern`."""


def _check_shape(text: str, body: str) -> None:
    if "\x00" in text:
        raise _Unusable("contains a NUL character")
    if not body:
        raise _Unusable("'!' alone negates nothing")
    if text == "/":
        raise _Unusable("'/' alone matches no file")
    if "//" in body:
        raise _Unusable("has an empty path segment ('//'), which no file path has")


# Compiling is by far the costliest step of loading a trigger (mostly in `re`), and many triggers
# repeat the same patterns; errors are not cached and raise again. The cache holds the distinct
# patterns of a large registry: a smaller one is thrashed by a bulk load (each org's patterns
# evict the next org's repeats) and recompiles many of them.
@functools.lru_cache(maxsize=1 << 17)
def _regex_for(text: str) -> PathRegex:
    """pathspec's translation of the pattern, compiled (`split_regex` when it can be)."""
    try:
        regex, _include = GitIgnoreSpecPattern.pattern_to_regex(text)
    except GitIgnorePatternError as exc:
        raise _Unusable(f"rejected by pathspec: {exc.__cause__ or exc}") from None
    if regex is None:
        # git (and pathspec) silently drop a pattern whose bracket expression is never closed;
        # a required input that silently matches nothing is a trap, so refuse it.
        raise _Unusable("has an unclosed '[' bracket expression (write '\\[' for a literal '[')")
    try:
        return split_regex(segmentwise(regex))
    except re.error as exc:
        raise _Unusable(f"has an invalid bracket expression ({exc.msg})") from None


@dataclass(frozen=True, slots=True)
class SplitRegex:
    """A regex matched as a literal head, found with string methods, then a compiled tail regex.

    Patterns mostly differ in a literal directory (`**/r0042/**/cam_front/*.jpg`): their tails
    (`**/cam_front/*.jpg`) are few, so splitting compiles a few regexes instead of one per pattern,
    which is most of the cost of loading a large registry.
    """

    pattern: str  # the whole regex, as `re.Pattern.pattern` names it
    search: Callable[[str], re.Match[str] | None]  # like `re.Pattern.search` for the whole regex


PathRegex = re.Pattern[str] | SplitRegex
# "Any directories" (a `**/`), as `segmentwise` writes it.
_ANY_DIRECTORIES = "(?:[^/]+/)*"
_METACHARACTERS = frozenset(".^$*+?{}[]|()\\")
_QUANTIFIERS = ("*", "+", "?", "{")


def split_regex(regex: str) -> PathRegex:
    """The segmentwise regex, split into a literal head and a shared tail where that keeps its
    exact meaning, else compiled whole; raises `re.error`.

    `^L T` (anchored, `L` literal): the path starts with `L`, and `T` matches right after it.
    `^(?:[^/]+/)*L T` (at any depth, `L` whole segments): `L` at some segment start, `T` right
    after; when `T` starts with any directories (or is empty), the leftmost such `L` is the one to
    try, since `T` then matches after it whenever it matches after a later one.
    """
    if not regex.startswith("^"):
        return re.compile(regex)
    floating = regex.startswith("^" + _ANY_DIRECTORIES)
    head, end = _literal_head(regex, 1 + len(_ANY_DIRECTORIES) * floating)
    tail = regex[end:]
    if not head or tail.startswith(_QUANTIFIERS):
        return re.compile(regex)
    if floating and tail and not tail.startswith(_ANY_DIRECTORIES):
        return re.compile(regex)
    return SplitRegex(regex, _head_then_tail(head, floating, _tail_regex(tail)))


@functools.lru_cache(maxsize=1 << 12)
def _tail_regex(tail: str) -> re.Pattern[str]:
    return re.compile(tail)


def _literal_head(regex: str, start: int) -> tuple[str, int]:
    """The literal text the regex spells from `start` (escapes undone) up to and including its
    last `/` ("" for none), and where the rest of the regex begins."""
    chars: list[str] = []
    head, end = "", start
    i = start
    while i < len(regex):
        char, size = regex[i], 1
        if char == "\\":
            char, size = regex[i + 1 : i + 2], 2
            if not char or (char.isascii() and char.isalnum()):  # a class like `\d`
                break
        elif char in _METACHARACTERS:
            break
        chars.append(char)
        i += size
        if char == "/":
            head, end = "".join(chars), i
    return head, end


def _head_then_tail(
    head: str, floating: bool, tail: re.Pattern[str]
) -> Callable[[str], re.Match[str] | None]:
    # Constants as default arguments, not closure cells: fewer objects to read per call.
    if not floating:

        def anchored(
            path: str, head: str = head, skip: int = len(head), match: Any = tail.match
        ) -> re.Match[str] | None:
            return match(path, skip) if path.startswith(head) else None

        return anchored

    def at_any_depth(
        path: str, head: str = head, inner: str = "/" + head, match: Any = tail.match
    ) -> re.Match[str] | None:
        if path.startswith(head):
            return match(path, len(head))
        at = path.find(inner)
        return None if at < 0 else match(path, at + len(inner))

    return at_any_depth


# pathspec spells "any directories" with `.+`, which the regex engine runs to the end of the path
# and then walks back one character at a time, trying the rest of the pattern at every `/` (twice
# nested for `**/a/**/b`). On a valid path (no empty segment: event validation guarantees it) a
# run of whole segments matches exactly the same spans, found a segment at a time.
_SEGMENTWISE = (
    ("^(?:.+/)?", "^(?:[^/]+/)*"),  # a leading `**/`, or no `/`: at any depth
    ("(?:/.+)?/", "/(?:[^/]+/)*"),  # `/**/`: any directories between
    ("(?P<ps_d>/)", "/"),  # a trailing `/`, or a directory match: the group is never read
)


# What `segmentwise` steps over whole (group 1: a bracket expression, where a `]` right after `[`
# or `[^` is a member and `\]` is escaped; or an escape), and what it rewrites.
_SEGMENTWISE_TOKENS = re.compile(
    r"(\[\^?\]?(?:\\.|[^\]\\])*\]|\\.)|" + "|".join(re.escape(old) for old in dict(_SEGMENTWISE)),
    re.DOTALL,
)
_SEGMENTWISE_NEW = dict(_SEGMENTWISE)


def segmentwise(regex: str) -> str:
    """pathspec's regex with its `.+` spans of directories rewritten to whole segments; only
    outside escapes and bracket expressions, where pathspec writes them."""
    return _SEGMENTWISE_TOKENS.sub(_segmentwise_token, regex)


def _segmentwise_token(token: re.Match[str]) -> str:
    return token[1] or _SEGMENTWISE_NEW[token[0]]


def compile_pattern(source: object, index: int, place: str) -> CompiledPattern | None:
    """Validate and compile one pattern; None for blank lines and comments.

    Rejected, with a `GlobError` naming the pattern, its index and the reason: a non-string, a NUL
    character, `!` alone, `/` alone, an empty segment (`a//b`), an unescaped trailing backslash
    (pathspec's error), an unclosed `[` (git would ignore the pattern) and a bracket expression the
    regex engine refuses (e.g. the range `[z-a]`). A leading `/` is allowed: it anchors.
    """
    if not isinstance(source, str):
        kind = type(source).__name__
        raise GlobError(place, f"must be a string, got {kind}", pattern=source, index=index)
    text = _read_pattern(source)
    if text is None:
        return None
    negated = text.startswith("!")
    body = text[1:] if negated else text
    try:
        _check_shape(text, body)
        regex = _regex_for(text)
    except _Unusable as exc:
        raise GlobError(place, str(exc), pattern=source, index=index) from None
    return CompiledPattern(source, index, negated, body, regex)


def _bracket_end(segment: str, start: int) -> int:
    """Index just past the bracket expression opening at `start` (fnmatch rules: a `]` right
    after `[`, `[!` or `[^` is a member, not the end). Validated patterns always close it."""
    i = start + 1
    if segment[i : i + 1] in ("!", "^"):
        i += 1
    if segment[i : i + 1] == "]":
        i += 1
    return segment.index("]", i) + 1


@functools.lru_cache(maxsize=1 << 16)  # patterns share segments (`**`, `*.jpg`, a robot's id)
def segment_tokens(segment: str) -> tuple[str | None, ...]:
    """A glob segment as its literal characters, with None for each wildcard."""
    tokens: list[str | None] = []
    i = 0
    while i < len(segment):
        char = segment[i]
        if char == "\\":
            tokens.append(segment[i + 1])
            i += 2
        elif char in "*?":
            tokens.append(None)
            i += 1
        elif char == "[":
            tokens.append(None)
            i = _bracket_end(segment, i)
        else:
            tokens.append(char)
            i += 1
    return tuple(tokens)


def _literal_runs(segment: str) -> list[str]:
    """The runs of literal characters of one glob segment."""
    runs = [""]
    for token in segment_tokens(segment):
        if token is None:
            runs.append("")
        else:
            runs[-1] += token
    return runs


@functools.lru_cache(maxsize=1 << 17)  # like `_regex_for`: triggers repeat patterns
def necessary_literals(body: str) -> tuple[str, str]:
    """Two texts every path matching a validated pattern body contains verbatim ("" for none):
    the longest run of literal characters in any segment, and the longest in the last segment.
    The first often names a directory that every file of a dataset shares (`r0042`); the second,
    the file's own kind (`.mcap`, `metadata.json`)."""
    segments = [segment for segment in body.split("/") if segment]
    longest = max((run for segment in segments for run in _literal_runs(segment)), key=len)
    last = max(_literal_runs(segments[-1]), key=len)
    return longest, "" if last == longest else last


# (two literals every match contains, the pattern's regex search, is it a negation)
_Test = tuple[str, str, Callable[[str], re.Match[str] | None], bool]


class GlobSet:
    """One trigger's `required_inputs`: gitignore verdicts, per-pattern satisfaction, explanations.

    Blank lines and `#` comments are ignored as in a .gitignore file; at least one positive
    (not `!`) pattern is required. See `compile_pattern` for what is rejected.
    """

    __slots__ = ("_exclusions", "_newest_first", "compiled", "patterns", "positives")

    def __init__(self, patterns: Sequence[str], *, place: str = "required_inputs") -> None:
        if isinstance(patterns, str):
            raise GlobError(place, "must be a list of patterns, not a single string")
        self.patterns: tuple[str, ...] = tuple(patterns)
        compiled = (compile_pattern(p, i, place) for i, p in enumerate(self.patterns))
        # Effective patterns (blanks and comments dropped), in the order given.
        self.compiled: tuple[CompiledPattern, ...] = tuple(p for p in compiled if p is not None)
        self.positives: tuple[CompiledPattern, ...] = tuple(
            p for p in self.compiled if not p.negated
        )
        if not self.positives:
            reason = "needs at least one pattern that is not blank, a comment or a negation ('!')"
            raise GlobError(place, f"{reason}; got {list(self.patterns)!r}")
        # The last matching pattern decides, so test from the end and stop at the first match.
        # Literals every match contains are tested first: `in` costs a fraction of a regex search
        # and settles most paths of a dataset (those of other sensors, other robots).
        self._newest_first: tuple[_Test, ...] = tuple(
            (*necessary_literals(p.body), p.regex.search, p.negated)
            for p in reversed(self.compiled)
        )
        # The usual shape, inputs then exclusions (`*.jpg`, `!tmp/`): once a positive pattern is
        # known to match, the verdict is that no negation does. None for other shapes.
        first_negation = next((i for i, p in enumerate(self.compiled) if p.negated), None)
        trailing = first_negation is not None and not any(
            not p.negated for p in self.compiled[first_negation:]
        )
        self._exclusions: tuple[_Test, ...] | None = (
            tuple(test for test in self._newest_first if test[3]) if trailing else None
        )

    @property
    def has_negations(self) -> bool:
        return len(self.positives) != len(self.compiled)

    def __repr__(self) -> str:
        return f"GlobSet({list(self.patterns)!r})"

    def matches(self, path: str) -> bool:
        """The gitignore verdict for `path`: does the last pattern that matches it include it?"""
        for literal, other, search, negated in self._newest_first:
            if literal in path and other in path and search(path) is not None:
                return not negated
        return False

    def admits(self, path: str) -> bool:
        """`matches(path)` for a path that some positive pattern is known to match."""
        exclusions = self._exclusions
        if exclusions is None:
            return self.matches(path)
        for literal, other, search, _negated in exclusions:
            if literal in path and other in path and search(path) is not None:
                return False
        return True

    def unsatisfied_by(self, selected: Sequence[str]) -> list[str]:
        """Positive patterns (as given) that match none of `selected`, paths known to be selected
        (their verdict is True). A dataset-level trigger fires only when this is empty: every
        positive pattern must be satisfied by a file that the whole list, negations included,
        selects."""
        if selected and len(self.positives) == 1:
            return []  # each selected path was matched last by a positive: the only one
        return [
            p.source for p in self.positives if not any(p.regex.search(path) for path in selected)
        ]

    def explain(self, paths: Iterable[str]) -> list[tuple[str, list[str]]]:
        """Each effective pattern (as given, `!` included) with the paths it matches on its own."""
        listed = list(paths)
        return [
            (p.source, [path for path in listed if p.regex.search(path)]) for p in self.compiled
        ]


def shared_globset(patterns: Sequence[str], *, place: str) -> GlobSet:
    """`GlobSet(patterns, place=place)`, one object for equal lists of patterns (a GlobSet never
    changes): large registries repeat input lists a lot, and triggers with equal inputs then
    share their input selections too."""
    if isinstance(patterns, str) or not all(isinstance(p, str) for p in patterns):
        return GlobSet(patterns, place=place)
    try:
        return _shared_globset(tuple(patterns))
    except GlobError:
        return GlobSet(patterns, place=place)  # raises again, naming the place


@functools.lru_cache(maxsize=1 << 17)
def _shared_globset(patterns: tuple[str, ...]) -> GlobSet:
    return GlobSet(patterns)
