"""GlobIndex: which keys' required inputs match a path, touching only patterns that could match it.

With tens of thousands of triggers, testing every pattern against every file event is the cost to
avoid. Each positive pattern is filed under one *literal requirement* that every path it matches
must meet, read from the pattern's segments:

- a segment without wildcards (`**/cam_front/*.jpg`, `logs/2024/*`, `**/metadata.json`): some
  segment of the path equals it;
- a segment ending in a literal extension (`*.jpg`, `frame_*.tar.gz`): some segment of the path has
  that extension (the text after its last `.`).

These hold for any segment of the path, not only the file name, because gitignore patterns also
match everything below a matching directory (`*.jpg` matches `x.jpg/notes.txt`). Patterns with no
literal requirement (`**`, `*`, `run_*/`) are always checked. A path looks up its own segments
and their extensions, so the patterns tested are those sharing a literal with it, plus the
always-checked ones: the cost depends on how many patterns share the path's literals, not on the
total. Which patterns those are depends only on the path's *signature* (the known literals of its
directory, name and extension), so the walk over buckets is done once per signature and remembered.

A dataset's files share a few directories, and most patterns read a file's name only through its
known literal or its extension (`*.jpg`, `metadata.json`, `*`): every path with the same *shape*
(its directory, and the known literals of its name and extension) gets the same verdict from
those, which is remembered per shape; only the other patterns (`frame_*[05].jpg`, and any held by
a key whose negations read more of the name) are tested per path. Most files of a directory are
matched with one lookup and no regex.

Identical regexes are shared between keys: a path is tested at most once against each distinct
positive pattern per `match`, and a match counts for every key holding it. A key whose positive
patterns matched is then confirmed with its own `GlobSet.admits` when it has negations (the last
matching pattern decides); without negations, a positive match is already the verdict.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from itertools import count
from typing import Any, Generic, TypeVar

from engine.globs import GlobSet, PathRegex, segment_tokens

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

SEGMENT = "segment"
EXTENSION = "extension"
# (SEGMENT, "cam_front") or (EXTENSION, ".jpg"); the text is what `match` looks up: a path segment,
# or a path segment's extension with its dot, which is the slice from the segment's last dot.
Requirement = tuple[str, str]
# `Vocabulary.shape`: a path's directory, and the known literals of its name and extension.
Shape = tuple[str, str | None, str | None]
# `Vocabulary.signature`: the known literals of a path's directory, name and extension.
Signature = tuple[tuple[str, ...], str | None, str | None]
# How many directories and shapes, and signatures per index, are remembered before starting over:
# a bound on memory (about 200 bytes an entry). It must hold a busy org's working set: 100,000
# triggers in one org, over 4,000 robots, see about 18,000 signatures and directories in 100,000
# events, and a bound of 16,384 had every pass over them start over and walk the buckets again.
_REMEMBERED = 1 << 16


class BoundedMemo(dict[K, V]):
    """A dict that starts over, empty, once it holds `bound` entries: its memory stays bounded
    without the bookkeeping a least-recently-used order would add to every hit."""

    __slots__ = ("bound",)

    def __init__(self, bound: int) -> None:
        super().__init__()
        self.bound = bound

    def remember(self, key: K, value: V) -> V:
        """Store `value` under `key`, first starting over if the memo is full; return `value`."""
        if len(self) >= self.bound:
            self.clear()
        self[key] = value
        return value


def _segment_requirement(segment: str) -> Requirement | None:
    tokens = segment_tokens(segment)
    suffix: list[str] = []  # the trailing literal characters, last first
    for token in reversed(tokens):
        if token is None:
            break
        suffix.append(token)
    literal = "".join(reversed(suffix))
    if len(suffix) == len(tokens):
        return (SEGMENT, literal)
    dot = literal.rfind(".")
    return None if dot < 0 else (EXTENSION, literal[dot:])


@functools.lru_cache(maxsize=1 << 17)  # like the regex cache: triggers repeat patterns
def literal_requirements(body: str) -> tuple[Requirement, ...]:
    """Literal requirements of a validated pattern body (`CompiledPattern.body`), best first:
    literal segments before extensions, longer literals first."""
    found = {
        requirement
        for segment in body.split("/")
        if segment not in ("", "**")  # a leading `/` anchors, a trailing `/` means "below"
        and (requirement := _segment_requirement(segment)) is not None
    }
    return tuple(sorted(found, key=lambda r: (r[0] != SEGMENT, -len(r[1]), r[1])))


@functools.lru_cache(maxsize=1 << 17)
def reads_name_by_literals(body: str) -> bool:
    """Whether a validated pattern body's verdict on a path `directory/name` depends on `name` only
    through what its shape keeps: the name, when it is a known literal, and its extension.

    So it is when the body ends with `/` (it matches directories only, never the name itself), or
    its last segment is `**` (any name), `*`, a literal (`metadata.json`: a requirement, so known)
    or `*.ext` (one dot, nothing wild after it: the extension is a requirement). None of the last
    three matches a `/`, so each takes the whole name or lies within `directory/`, and what comes
    before it matches within `directory/`. (A bracket like `[!x]` can match a `/`: a last segment
    holding one is never read this way.)
    """
    if "\\/" in body:  # an escaped slash: the segments are not what they seem
        return False
    last = body.rsplit("/", 1)[-1]
    if last in ("", "*", "**"):  # "": the body ends with "/"
        return True
    if last.startswith("*") and not last.startswith("**"):
        tokens = segment_tokens(last[1:])
        return tokens[:1] == (".",) and None not in tokens and "." not in tokens[1:]
    return None not in segment_tokens(last)


# `_Member` and `_Shared` hold their index's keys as `Any`, not as a generic `K`: mypyc, which
# compiles this module, cannot build a generic slots dataclass.
@dataclass(slots=True)
class _Member:
    key: Any
    globs: GlobSet
    seq: int  # unique per add: its id in the `owners` of its patterns
    regexes: tuple[str, ...]  # distinct regex sources of its positive patterns
    # With negations, a positive match must be confirmed (`GlobSet.admits`); None: no need.
    confirm: Callable[[str], bool] | None
    unsure: bool  # a confirmation that reads the name other than by its shape


@dataclass(slots=True, eq=False)
class _Shared:
    """One distinct positive pattern, the keys holding it and where it is filed."""

    search: Callable[[str], re.Match[str] | None]
    literal: str | None  # its bucket's lookup literal; None for the always-checked patterns
    second: str  # its shelf in the bucket: a second lookup literal, "" when it has none
    needs: frozenset[str]  # its other lookup literals: a cheap subset test before the regex
    by_shape: bool  # `reads_name_by_literals` of its body
    # Holders by their `seq`: an int key hashes faster than the key itself.
    owners: dict[int, _Member] = field(default_factory=dict)
    # What `match` reads of the owners, made on first use after a change (`GlobIndex._holders`):
    # one tuple in the index's order, instead of the dict and a member object each to bring into
    # the cache; and the keys alone when none needs confirming (the match is then the verdict).
    holders: tuple[tuple[Any, Callable[[str], bool] | None], ...] | None = None
    keys: tuple[Any, ...] | None = None
    unsure: int = 0  # owners whose confirmation reads the name other than by its shape


# A signature's candidate patterns: those read by shape (see `reads_name_by_literals`; no holder
# of theirs confirms otherwise), and those to test per path.
_Candidates = tuple[tuple[_Shared, ...], tuple[_Shared, ...]]
# What holds for every path of a shape: the keys its patterns read by shape select, the patterns to
# test per path, and the patterns read by shape that match (to merge with any tested that match).
_Verdict = tuple[tuple[Any, ...], tuple[_Shared, ...], tuple[_Shared, ...]]


class ShapeVerdicts(BoundedMemo[tuple[object, Shape], _Verdict]):
    """What `GlobIndex.match` remembers per (index, shape), for the indexes sharing it."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(_REMEMBERED)


class Vocabulary:
    """Every literal some indexed pattern requires, one string object per literal.

    A path is reduced to the few of its literals that patterns name by probing this one table,
    which all events share, so it stays in the CPU cache; the per-org tables are then probed only
    with those, and their keys are the very same string objects, so a hit compares by identity
    without reading the key. (At 100,000 triggers the per-org tables are cold: every probe
    avoided is a cache miss avoided.) A directory's literals are remembered: a dataset's files
    share a few directories, and the events of a directory ask about it again and again.
    """

    def __init__(self) -> None:
        self._canonical: dict[str, str] = {}
        self._uses: Counter[str] = Counter()
        self._directories: BoundedMemo[str, tuple[str, ...]] = BoundedMemo(_REMEMBERED)

    def __contains__(self, text: object) -> bool:
        return text in self._canonical

    def adopt(self, text: str) -> str:
        """The canonical object for `text`, counted as used once more."""
        self._uses[text] += 1
        canonical = self._canonical.get(text)
        if canonical is None:
            canonical = self._canonical[text] = text
            self._directories.clear()  # a directory may have one more known literal now
        return canonical

    def release(self, text: str) -> None:
        self._uses[text] -= 1
        if not self._uses[text]:
            del self._uses[text], self._canonical[text]
            self._directories.clear()

    def shape(self, path: str) -> Shape:
        """`path`'s directory, and the known literals of its name and its name's extension (None
        for unknown ones)."""
        directory, _, name = path.rpartition("/")
        known = self._canonical.get
        dot = name.rfind(".")
        return directory, known(name), None if dot < 0 else known(name[dot:])

    def signature(self, shape: Shape) -> Signature:
        """The known literals of a path of this shape: its directory's, its name's and its
        extension's. Paths with equal signatures are tested against the same patterns."""
        directory, name, extension = shape
        literals = self._directories.get(directory)
        if literals is None:
            literals = self._directory_literals(directory)
        return literals, name, extension

    @staticmethod
    def literals(signature: Signature) -> set[str]:
        """The literals of a signature, and "" (the shelf of patterns without a second literal: no
        path segment is empty)."""
        directory, name, extension = signature
        return {"", *directory, *(text for text in (name, extension) if text is not None)}

    def _directory_literals(self, directory: str) -> tuple[str, ...]:
        """The known literals of the directory's segments and their extensions, in order, each
        once; remembered for the directory and each ancestor walked: a dataset's directories
        share their parents, so a new one mostly adds its last segment to a remembered parent."""
        unknown: list[str] = []  # the directory and its ancestors not remembered, deepest first
        literals: tuple[str, ...] | None = None
        while directory and (literals := self._directories.get(directory)) is None:
            unknown.append(directory)
            directory = directory.rpartition("/")[0]
        literals = literals or ()
        known = self._canonical.get
        for here in reversed(unknown):
            segment = here[here.rfind("/") + 1 :]
            dot = segment.rfind(".")
            for text in (segment, segment[dot:]) if dot >= 0 else (segment,):
                literal = known(text)
                if literal is not None and literal not in literals:
                    literals = (*literals, literal)
            self._directories.remember(here, literals)
        return literals


class GlobIndex(Generic[K]):
    """Keys with a `GlobSet` each; `match(path)` finds the keys whose globs select the path.

    `match` returns exactly the keys `k` with `globsets[k].matches(path)`, sorted by `order` when
    one is given (else in no particular order). `add` and `remove` cost O(patterns of that key).
    Indexes may share one `Vocabulary`, and one `ShapeVerdicts` (which any of them then clears
    when it changes).
    """

    def __init__(
        self,
        vocabulary: Vocabulary | None = None,
        order: Callable[[K], Any] | None = None,
        verdicts: ShapeVerdicts | None = None,
    ) -> None:
        self._vocabulary = Vocabulary() if vocabulary is None else vocabulary
        self._order = order
        # Verdicts by path shape. Shared by the indexes of one TriggerIndex (it is keyed by
        # directory, so one bound for all), and forgotten whenever any of them changes.
        self._verdicts = ShapeVerdicts() if verdicts is None else verdicts
        self._members: dict[K, _Member] = {}
        self._shared: dict[str, _Shared] = {}  # by regex source
        # Requirement text -> second requirement text ("" for none) -> {regex source: pattern}. A
        # segment literally named ".jpg" shares the bucket of the extension ".jpg", which only
        # adds candidates. Texts are the vocabulary's objects.
        self._buckets: dict[str, dict[str, dict[str, _Shared]]] = {}
        self._sizes: Counter[str] = Counter()  # patterns per bucket
        self._always: dict[str, _Shared] = {}
        self._seq = count()
        # The patterns to test a path with, by its signature: the buckets, shelves and subset
        # tests walked once per distinct signature. Forgotten whenever a pattern comes or goes.
        self._candidates: BoundedMemo[Signature, _Candidates] = BoundedMemo(_REMEMBERED)

    def __len__(self) -> int:
        return len(self._members)

    def __contains__(self, key: object) -> bool:
        return key in self._members

    def add(self, key: K, globs: GlobSet) -> None:
        """Index `key` with `globs`, replacing what it had."""
        if key in self._members:
            self.remove(key)
        self._forget()
        positives = {p.regex.pattern: p for p in globs.positives}
        confirm = globs.admits if globs.has_negations else None
        unsure = confirm is not None and not all(
            reads_name_by_literals(p.body) for p in globs.compiled
        )
        member = _Member(key, globs, next(self._seq), tuple(positives), confirm, unsure)
        self._members[key] = member
        for source, pattern in positives.items():
            shared = self._shared.get(source)
            if shared is None:
                shared = self._file(source, pattern.regex, pattern.body)
            shared.owners[member.seq] = member
            shared.holders = shared.keys = None
            shared.unsure += unsure

    def remove(self, key: K) -> None:
        """Forget `key`; KeyError if it was never added."""
        member = self._members.pop(key)
        self._forget()
        for source in member.regexes:
            shared = self._shared[source]
            del shared.owners[member.seq]
            shared.holders = shared.keys = None
            shared.unsure -= member.unsure
            if not shared.owners:
                del self._shared[source]
                self._unfile(source, shared)

    def _forget(self) -> None:
        self._candidates.clear()
        self._verdicts.clear()

    def _file(self, source: str, regex: PathRegex, body: str) -> _Shared:
        """Create the shared entry of a new pattern and file it on the best shelf."""
        requirements = literal_requirements(body)
        literal = self._choose_literal(requirements)
        by_shape = reads_name_by_literals(body)
        if literal is None:
            shared: _Shared = _Shared(regex.search, None, "", frozenset(), by_shape)
            self._always[source] = shared
        else:
            adopt = self._vocabulary.adopt
            literal = adopt(literal)
            bucket = self._buckets.setdefault(literal, {})
            texts = dict.fromkeys(text for _kind, text in requirements)  # a segment may be ".jpg"
            rest = [adopt(text) for text in texts if text != literal]
            # The fewest patterns on the shelf, as for buckets; `rest` is best first.
            second = min(rest, key=lambda text: len(bucket.get(text, ())), default="")
            needs = frozenset(text for text in rest if text != second)
            shared = _Shared(regex.search, literal, second, needs, by_shape)
            bucket.setdefault(second, {})[source] = shared
            self._sizes[literal] += 1
        self._shared[source] = shared
        return shared

    def _unfile(self, source: str, shared: _Shared) -> None:
        literal = shared.literal
        if literal is None:
            del self._always[source]
            return
        bucket = self._buckets[literal]
        shelf = bucket[shared.second]
        del shelf[source]
        if not shelf:
            del bucket[shared.second]
        self._sizes[literal] -= 1
        if not bucket:
            del self._buckets[literal], self._sizes[literal]
        for text in (literal, shared.second, *shared.needs):
            if text:
                self._vocabulary.release(text)

    def _choose_literal(self, requirements: tuple[Requirement, ...]) -> str | None:
        """The bucket for a pattern with these requirements (best first); None: always check.

        Extensions are few and shared by most paths, so a literal segment is always the better
        filter; among the best kind, take the bucket holding the fewest patterns now (ties keep the
        longer literal).
        """
        if not requirements:
            return None
        best_kind = requirements[0][0]
        options = [text for kind, text in requirements if kind == best_kind]
        return min(options, key=self._sizes.__getitem__)

    def match(self, path: str) -> tuple[K, ...]:
        """Keys whose globs select `path` (a dataset-relative path), sorted by the index's order."""
        shape = self._vocabulary.shape(path)
        verdict: _Verdict | None = self._verdicts.get((self, shape))
        if verdict is None:
            return self._match_new_shape(path, shape)
        keys, tested, found = verdict
        if tested:
            more = _found(path, tested)
            if more:
                return self._keys(path, [*found, *more])
        return keys

    def _match_new_shape(self, path: str, shape: Shape) -> tuple[K, ...]:
        """`match` for the first path of its shape, remembering what holds for the whole shape."""
        signature = self._vocabulary.signature(shape)
        candidates = self._candidates.get(signature)
        if candidates is None:
            candidates = self._remember_candidates(signature)
        by_shape, tested = candidates
        found, more = _found(path, by_shape), _found(path, tested)
        keys = self._keys(path, found + more)
        shape_keys = self._keys(path, found) if more else keys
        self._verdicts.remember((self, shape), (shape_keys, tested, tuple(found)))
        return keys

    def _keys(self, path: str, found: list[_Shared]) -> tuple[K, ...]:
        """The keys whose globs select `path`, given the positive patterns that match it."""
        if not found:
            return ()
        # Loops, not comprehensions: each comprehension is a frame per path.
        if len(found) == 1:
            shared = found[0]
            holders: Iterable[tuple[K, Callable[[str], bool] | None]]
            holders = shared.holders or self._holders(shared)
            if shared.keys is not None:
                return shared.keys  # immutable: shared by every path that matches only it
        else:
            merged: dict[K, tuple[K, Callable[[str], bool] | None]] = {}
            for shared in found:  # a key holding several of the patterns found counts once
                for holder in shared.holders or self._holders(shared):
                    merged[holder[0]] = holder
            holders = merged.values()
        keys: list[K] = []
        for key, confirm in holders:
            if confirm is None or confirm(path):
                keys.append(key)
        if len(found) > 1 and self._order is not None:
            keys.sort(key=self._order)
        return tuple(keys)

    def _holders(self, shared: _Shared) -> tuple[tuple[K, Callable[[str], bool] | None], ...]:
        members = list(shared.owners.values())
        if self._order is not None:
            order = self._order
            members.sort(key=lambda member: order(member.key))
        shared.holders = tuple((m.key, m.confirm) for m in members)
        if all(m.confirm is None for m in members):
            shared.keys = tuple(m.key for m in members)
        return shared.holders

    def _remember_candidates(self, signature: Signature) -> _Candidates:
        """The patterns whose literal requirements a path with this signature meets: those whose
        verdict, and their holders' confirmations, are the same for every path of a shape, and
        the others, to test per path."""
        literals = Vocabulary.literals(signature)
        found = list(self._always.values())
        buckets = self._buckets
        for literal in literals:
            bucket = buckets.get(literal)
            if bucket is None:
                continue
            for second in literals:
                shelf = bucket.get(second)
                if shelf is not None:
                    found.extend(shared for shared in shelf.values() if shared.needs <= literals)
        by_shape = tuple(shared for shared in found if shared.by_shape and not shared.unsure)
        tested = tuple(shared for shared in found if not shared.by_shape or shared.unsure)
        return self._candidates.remember(signature, (by_shape, tested))


def _found(path: str, patterns: tuple[_Shared, ...]) -> list[_Shared]:
    """The patterns that match `path`."""
    found: list[_Shared] = []
    for shared in patterns:  # a loop, not a comprehension: no frame to make per path
        if shared.search(path) is not None:
            found.append(shared)
    return found
