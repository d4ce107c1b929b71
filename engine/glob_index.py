"""GlobIndex: which keys' required inputs match a path, touching only patterns that could match it.

With tens of thousands of triggers, testing every pattern against every file event is the cost to
avoid. Each positive pattern is filed under one *literal requirement* that every path it matches
must meet, read from the pattern's segments:

- a segment without wildcards (`**/cam_front/*.jpg`, `logs/2024/*`, `**/metadata.json`): some
  segment of the path equals it;
- a segment ending in a literal extension (`*.jpg`, `frame_*.tar.gz`): some segment of the path has
  that extension (the text after its last `.`).

These hold for any segment of the path, not only the file name, because gitignore patterns also
match everything below a matching directory (`*.jpg` matches `x.jpg/notes.txt`). The pattern's
*bucket* is named by one of its literals; within the bucket, its *sub-bucket* by a secondary
literal (or none), and any further literals are checked before its regex. Patterns with no literal
requirement (`**`, `*`, `run_*/`) are always checked. A path looks up its own segments and their
extensions, so the patterns tested are those sharing a literal with it, plus the always-checked
ones: the cost depends on how many patterns share the path's literals, not on the total. Which
patterns those are depends only on the path's *signature* (the known literals of its directory,
name and extension), so the walk over buckets is done once per signature and remembered.

A dataset's files share a few directories, and most patterns read a file's name only through its
known literal or its extension (`*.jpg`, `metadata.json`, `*`): every path with the same *shape*
(its directory, and the known literals of its name and extension) gets the same verdict from
those, the patterns *decided by shape*, which is remembered per shape. Only the other patterns
(`frame_*[05].jpg`, and any held by a key whose negations read the name beyond its shape) are
tested per path. Most files of a directory are matched with one lookup and no regex.

Identical regexes are shared between keys: a path is tested at most once against each distinct
positive pattern per `match`, and a match counts for every key holding it. A key whose positive
patterns matched is then confirmed with its own `GlobSet.admits` when it has negations (the last
matching pattern decides); without negations, a positive match is already the verdict.

Every memo here (verdicts by shape, candidates by signature, literals by directory) is a
`BoundedMemo`: a dict that starts over once it holds `_REMEMBERED` entries.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from itertools import count
from typing import Any, Generic, Literal, NamedTuple, TypeVar

from engine.globs import GlobSet, PathRegex, segment_tokens

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

RequirementKind = Literal["segment", "extension"]
SEGMENT: RequirementKind = "segment"
EXTENSION: RequirementKind = "extension"

# `Vocabulary.shape`: a path's directory, and the known literals of its name and extension.
Shape = tuple[str, str | None, str | None]
# `Vocabulary.signature`: the known literals of a path's directory, name and extension.
Signature = tuple[tuple[str, ...], str | None, str | None]
# A key's check of a positive match against its negations (`GlobSet.admits`).
Confirm = Callable[[str], bool]
# What `match` reads of a key holding a pattern: the key, and its confirmation (None: no need).
Holder = tuple[K, Confirm | None]

# How many entries each memo holds before it starts over: a bound on memory, set to hold a busy
# org's working set of directories and signatures, since a memo that starts over within one pass
# over them walks the buckets again for each.
_REMEMBERED = 1 << 16


class Requirement(NamedTuple):
    """A literal every path a pattern matches has. `text` is what `match` looks up: a path segment
    (SEGMENT, "cam_front"), or a path segment's extension with its dot (EXTENSION, ".jpg"), which
    is the slice from the segment's last dot."""

    kind: RequirementKind
    text: str


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
        return Requirement(SEGMENT, literal)
    dot = literal.rfind(".")
    return None if dot < 0 else Requirement(EXTENSION, literal[dot:])


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
    return tuple(sorted(found, key=lambda r: (r.kind != SEGMENT, -len(r.text), r.text)))


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


@dataclass(slots=True)
class IndexedKey(Generic[K]):
    """A key of the index, and what its patterns' entries need of it."""

    key: K
    serial: int  # unique per `add`: its id in the `owners` of its patterns
    regexes: tuple[str, ...]  # distinct regex sources of its positive patterns
    # With negations, a positive match must be confirmed (`GlobSet.admits`); None: no need.
    confirm: Confirm | None
    # Whether `confirm` reads a path's name beyond what its shape keeps (`reads_name_by_literals`
    # is false for one of its patterns): its positive patterns are then tested per path.
    reads_name_beyond_shape: bool


@dataclass(slots=True, eq=False)
class SharedPattern(Generic[K]):
    """One distinct positive pattern, the keys holding it and where it is filed."""

    search: Callable[[str], re.Match[str] | None]
    bucket_literal: str | None  # the literal naming its bucket; None: an always-checked pattern
    secondary_literal: str  # the literal naming its sub-bucket in the bucket; "" when it has none
    other_literals: frozenset[str]  # its other literals: a cheap subset test before the regex
    reads_name_by_literals: bool  # `reads_name_by_literals` of its body
    # Its holders by their `serial`: an int key hashes faster than the key itself.
    owners: dict[int, IndexedKey[K]] = field(default_factory=dict)
    # What `match` reads of the owners, made on first use after a change (`GlobIndex._holders`):
    # one tuple in the index's order, instead of the dict and a member object each to bring into
    # the cache; and the keys alone when none needs confirming (the match is then the verdict).
    holders: tuple[Holder[K], ...] | None = None
    keys: tuple[K, ...] | None = None
    owners_reading_name_beyond_shape: int = 0

    @property
    def decided_by_shape(self) -> bool:
        """Whether its match, and its owners' confirmations, are the same for every path of a
        shape."""
        return self.reads_name_by_literals and not self.owners_reading_name_beyond_shape


@dataclass(frozen=True, slots=True)
class Candidates(Generic[K]):
    """The patterns whose literal requirements the paths of a signature meet."""

    decided_by_shape: tuple[SharedPattern[K], ...]
    tested_per_path: tuple[SharedPattern[K], ...]


@dataclass(frozen=True, slots=True)
class ShapeVerdict(Generic[K]):
    """What holds for every path of a shape."""

    keys: tuple[K, ...]  # the keys that the patterns decided by shape select
    tested_per_path: tuple[SharedPattern[K], ...]  # the candidates to test per path
    # The patterns decided by shape that match: to merge with those tested that match.
    matched_by_shape: tuple[SharedPattern[K], ...]


class ShapeVerdicts(BoundedMemo[tuple["GlobIndex[Any]", Shape], ShapeVerdict[Any]]):
    """What `GlobIndex.match` remembers per (index, shape), for the indexes sharing it."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(_REMEMBERED)


class Vocabulary:
    """Every literal some indexed pattern requires, one string object per literal.

    A path is reduced to the few of its literals that patterns name by probing this one table,
    which all events share, so it stays in the CPU cache; the per-org tables are then probed only
    with those, and their keys are the very same string objects, so a hit compares by identity
    without reading the key. (With many triggers the per-org tables are cold: every probe avoided
    is a cache miss avoided.) A directory's literals are remembered: a dataset's files share a few
    directories, and the events of a directory ask about it again and again.
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
        """The literals of a signature, and "" (the sub-bucket of patterns without a secondary
        literal: no path segment is empty)."""
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
        self._members: dict[K, IndexedKey[K]] = {}
        self._patterns: dict[str, SharedPattern[K]] = {}  # by regex source
        # Bucket literal -> secondary literal ("" for none) -> {regex source: pattern}: a bucket's
        # sub-buckets. A segment literally named ".jpg" shares the bucket of the extension ".jpg",
        # which only adds candidates. Literals are the vocabulary's objects.
        self._buckets: dict[str, dict[str, dict[str, SharedPattern[K]]]] = {}
        self._sizes: Counter[str] = Counter()  # patterns per bucket
        self._always: dict[str, SharedPattern[K]] = {}
        self._serials = count()
        # The patterns to test a path with, by its signature: the buckets, sub-buckets and subset
        # tests walked once per distinct signature. Forgotten whenever a pattern comes or goes.
        self._candidates: BoundedMemo[Signature, Candidates[K]] = BoundedMemo(_REMEMBERED)

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
        beyond_shape = confirm is not None and not all(
            reads_name_by_literals(p.body) for p in globs.compiled
        )
        member = IndexedKey(key, next(self._serials), tuple(positives), confirm, beyond_shape)
        self._members[key] = member
        for source, compiled in positives.items():
            pattern = self._patterns.get(source)
            if pattern is None:
                pattern = self._file(source, compiled.regex, compiled.body)
            pattern.owners[member.serial] = member
            pattern.holders = pattern.keys = None
            pattern.owners_reading_name_beyond_shape += beyond_shape

    def remove(self, key: K) -> None:
        """Forget `key`; KeyError if it was never added."""
        member = self._members.pop(key)
        self._forget()
        for source in member.regexes:
            pattern = self._patterns[source]
            del pattern.owners[member.serial]
            pattern.holders = pattern.keys = None
            pattern.owners_reading_name_beyond_shape -= member.reads_name_beyond_shape
            if not pattern.owners:
                del self._patterns[source]
                self._unfile(source, pattern)

    def _forget(self) -> None:
        self._candidates.clear()
        self._verdicts.clear()

    def _file(self, source: str, regex: PathRegex, body: str) -> SharedPattern[K]:
        """Create the entry of a new pattern and file it in the best bucket and sub-bucket."""
        requirements = literal_requirements(body)
        bucket_literal = self._choose_bucket(requirements)
        by_literals = reads_name_by_literals(body)
        pattern: SharedPattern[K]
        if bucket_literal is None:
            pattern = SharedPattern(regex.search, None, "", frozenset(), by_literals)
            self._always[source] = pattern
        else:
            adopt = self._vocabulary.adopt
            bucket_literal = adopt(bucket_literal)
            bucket = self._buckets.setdefault(bucket_literal, {})
            texts = dict.fromkeys(r.text for r in requirements)  # a segment may be ".jpg"
            rest = [adopt(text) for text in texts if text != bucket_literal]
            # The sub-bucket with the fewest patterns, as for buckets; `rest` is best first.
            secondary = min(rest, key=lambda text: len(bucket.get(text, ())), default="")
            others = frozenset(text for text in rest if text != secondary)
            pattern = SharedPattern(regex.search, bucket_literal, secondary, others, by_literals)
            bucket.setdefault(secondary, {})[source] = pattern
            self._sizes[bucket_literal] += 1
        self._patterns[source] = pattern
        return pattern

    def _unfile(self, source: str, pattern: SharedPattern[K]) -> None:
        bucket_literal = pattern.bucket_literal
        if bucket_literal is None:
            del self._always[source]
            return
        bucket = self._buckets[bucket_literal]
        sub_bucket = bucket[pattern.secondary_literal]
        del sub_bucket[source]
        if not sub_bucket:
            del bucket[pattern.secondary_literal]
        self._sizes[bucket_literal] -= 1
        if not bucket:
            del self._buckets[bucket_literal], self._sizes[bucket_literal]
        for text in (bucket_literal, pattern.secondary_literal, *pattern.other_literals):
            if text:
                self._vocabulary.release(text)

    def _choose_bucket(self, requirements: tuple[Requirement, ...]) -> str | None:
        """The bucket literal for a pattern with these requirements (best first); None: always
        check.

        Extensions are few and shared by most paths, so a literal segment is always the better
        filter; among the best kind, take the bucket holding the fewest patterns now (ties keep the
        longer literal).
        """
        if not requirements:
            return None
        best_kind = requirements[0].kind
        options = [r.text for r in requirements if r.kind == best_kind]
        return min(options, key=self._sizes.__getitem__)

    def match(self, path: str) -> tuple[K, ...]:
        """Keys whose globs select `path` (a dataset-relative path), sorted by the index's order."""
        shape = self._vocabulary.shape(path)
        verdict: ShapeVerdict[K] | None = self._verdicts.get((self, shape))
        if verdict is None:
            return self._match_new_shape(path, shape)
        tested = verdict.tested_per_path
        if tested:
            more = _matching(path, tested)
            if more:
                return self._keys(path, [*verdict.matched_by_shape, *more])
        return verdict.keys

    def _match_new_shape(self, path: str, shape: Shape) -> tuple[K, ...]:
        """`match` for the first path of its shape, remembering what holds for the whole shape."""
        signature = self._vocabulary.signature(shape)
        candidates = self._candidates.get(signature)
        if candidates is None:
            candidates = self._remember_candidates(signature)
        found = _matching(path, candidates.decided_by_shape)
        more = _matching(path, candidates.tested_per_path)
        keys = self._keys(path, found + more)
        shape_keys = self._keys(path, found) if more else keys
        verdict = ShapeVerdict(shape_keys, candidates.tested_per_path, tuple(found))
        self._verdicts.remember((self, shape), verdict)
        return keys

    def _keys(self, path: str, found: list[SharedPattern[K]]) -> tuple[K, ...]:
        """The keys whose globs select `path`, given the positive patterns that match it."""
        if not found:
            return ()
        # Loops, not comprehensions: each comprehension is a frame per path.
        if len(found) == 1:
            pattern = found[0]
            holders: Iterable[Holder[K]]
            holders = pattern.holders or self._holders(pattern)
            if pattern.keys is not None:
                return pattern.keys  # immutable: shared by every path that matches only it
        else:
            merged: dict[K, Holder[K]] = {}
            for pattern in found:  # a key holding several of the patterns found counts once
                for holder in pattern.holders or self._holders(pattern):
                    merged[holder[0]] = holder
            holders = merged.values()
        keys: list[K] = []
        for key, confirm in holders:
            if confirm is None or confirm(path):
                keys.append(key)
        if len(found) > 1 and self._order is not None:
            keys.sort(key=self._order)
        return tuple(keys)

    def _holders(self, pattern: SharedPattern[K]) -> tuple[Holder[K], ...]:
        members = list(pattern.owners.values())
        if self._order is not None:
            order = self._order
            members.sort(key=lambda member: order(member.key))
        pattern.holders = tuple((m.key, m.confirm) for m in members)
        if all(m.confirm is None for m in members):
            pattern.keys = tuple(m.key for m in members)
        return pattern.holders

    def _remember_candidates(self, signature: Signature) -> Candidates[K]:
        """The patterns whose literal requirements a path with this signature meets: those decided
        by shape, and the others, to test per path."""
        literals = Vocabulary.literals(signature)
        found = list(self._always.values())
        buckets = self._buckets
        for bucket_literal in literals:
            bucket = buckets.get(bucket_literal)
            if bucket is None:
                continue
            for secondary in literals:
                sub_bucket = bucket.get(secondary)
                if sub_bucket is not None:
                    found.extend(p for p in sub_bucket.values() if p.other_literals <= literals)
        candidates = Candidates(
            tuple(pattern for pattern in found if pattern.decided_by_shape),
            tuple(pattern for pattern in found if not pattern.decided_by_shape),
        )
        return self._candidates.remember(signature, candidates)


def _matching(path: str, patterns: tuple[SharedPattern[K], ...]) -> list[SharedPattern[K]]:
    """The patterns that match `path`."""
    found: list[SharedPattern[K]] = []
    for pattern in patterns:  # a loop, not a comprehension: no frame to make per path
        if pattern.search(path) is not None:
            found.append(pattern)
    return found
