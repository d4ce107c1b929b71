"""GlobSet: gitignore semantics (as pathspec's gitwildmatch), validation, satisfaction, explain."""

from __future__ import annotations

import re
import warnings

import pathspec
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pathspec.patterns.gitignore.spec import GitIgnoreSpecPattern

from engine.errors import ConfigError
from engine.globs import (
    GlobError,
    GlobSet,
    SplitRegex,
    compile_pattern,
    necessary_literals,
    segmentwise,
    shared_globset,
    split_regex,
)


def _naive(patterns: list[str]) -> pathspec.PathSpec:
    # The reference the spec names; pathspec 1.x flags the "gitwildmatch" name as deprecated.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return pathspec.PathSpec.from_lines("gitwildmatch", patterns)


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        # `*.ulg` matches at any depth
        ("*.ulg", "flight.ulg", True),
        ("*.ulg", "a/b/flight.ulg", True),
        ("*.ulg", "a/b/flight.ulgx", False),
        # a pattern with a slash is anchored to the root
        ("data/*.csv", "data/a.csv", True),
        ("data/*.csv", "data/sub/a.csv", False),
        ("data/*.csv", "x/data/a.csv", False),
        # `**/x` also matches at the root
        ("**/x", "x", True),
        ("**/x", "a/b/x", True),
        ("**/cam_front/*.jpg", "run1/cam_front/0001.jpg", True),
        ("**/cam_front/*.jpg", "cam_front/0001.jpg", True),
        ("**/cam_front/*.jpg", "run1/cam_back/0001.jpg", False),
        # a trailing `/` matches everything below the directory, not a file of that name
        ("dir/", "dir/a", True),
        ("dir/", "x/dir/a/b", True),
        ("dir/", "dir", False),
        ("logs/", "logs/2024/a.ulg", True),
        # a leading `/` only anchors
        ("/a.txt", "a.txt", True),
        ("/a.txt", "x/a.txt", False),
        # a matching directory selects everything below it (gitignore semantics)
        ("*.jpg", "x.jpg/notes.txt", True),
        ("run_*/imu/*.csv", "run_7/imu/accel.csv", True),
        ("run_*/imu/*.csv", "run_7/gps/fix.csv", False),
        # wildcards
        ("?.bin", "a.bin", True),
        ("?.bin", "ab.bin", False),
        ("[ab].bin", "b.bin", True),
        ("[!ab].bin", "c.bin", True),
        ("[!ab].bin", "a.bin", False),
        ("a/**/b", "a/b", True),
        ("a/**/b", "a/x/y/b", True),
        ("**", "any/thing", True),
        ("*", "top", True),
        # case-sensitive
        ("*.JPG", "a.jpg", False),
        # escapes, trailing whitespace
        ("\\#notes", "#notes", True),
        ("\\!important", "!important", True),
        ("*.txt   ", "a.txt", True),
        ("a\\ ", "a ", True),
        ("a\\ ", "a", False),
    ],
)
def test_single_pattern(pattern: str, path: str, expected: bool) -> None:
    assert GlobSet([pattern]).matches(path) is expected
    assert _naive([pattern]).match_file(path) is expected


def test_negation_excludes_and_last_match_wins() -> None:
    globs = GlobSet(["*.jpg", "!tmp/*.jpg", "tmp/keep.jpg"])
    assert globs.matches("a/b.jpg")
    assert not globs.matches("tmp/drop.jpg")
    assert globs.matches("tmp/keep.jpg")
    assert globs.has_negations
    assert [p.source for p in globs.positives] == ["*.jpg", "tmp/keep.jpg"]


def test_negation_only_applies_to_earlier_patterns() -> None:
    globs = GlobSet(["!*.tmp", "*"])
    assert globs.matches("a.tmp")


def test_blank_lines_and_comments_are_ignored() -> None:
    globs = GlobSet(["", "# a comment", "   ", "*.mcap"])
    assert globs.patterns == ("", "# a comment", "   ", "*.mcap")
    assert [p.source for p in globs.compiled] == ["*.mcap"]
    assert [p.index for p in globs.compiled] == [3]
    assert globs.matches("x.mcap")
    assert not globs.matches("# a comment")


def _unsatisfied(globs: GlobSet, paths: list[str]) -> list[str]:
    return globs.unsatisfied_by([path for path in paths if globs.matches(path)])


def test_unsatisfied_lists_positive_patterns_without_a_selected_file() -> None:
    globs = GlobSet(["**/cam_front/*.jpg", "**/imu/*.csv", "*.json", "!tmp/*"])
    paths = ["r/cam_front/1.jpg", "tmp/meta.json", "r/other.txt"]
    assert _unsatisfied(globs, paths) == ["**/imu/*.csv", "*.json"]
    assert _unsatisfied(globs, [*paths, "r/imu/a.csv", "meta.json"]) == []
    assert _unsatisfied(globs, []) == ["**/cam_front/*.jpg", "**/imu/*.csv", "*.json"]


def test_unsatisfied_when_a_negation_removes_every_match() -> None:
    assert _unsatisfied(GlobSet(["*.jpg", "!*.jpg"]), ["a.jpg"]) == ["*.jpg"]


def test_explain_lists_each_effective_pattern_with_its_own_matches() -> None:
    globs = GlobSet(["# cameras", "*.jpg", "!tmp/", "*.csv"])
    paths = iter(["a.jpg", "tmp/b.jpg", "c.csv"])
    assert globs.explain(paths) == [
        ("*.jpg", ["a.jpg", "tmp/b.jpg"]),
        ("!tmp/", ["tmp/b.jpg"]),
        ("*.csv", ["c.csv"]),
    ]


@pytest.mark.parametrize(
    ("patterns", "index", "reason"),
    [
        (["*.jpg", "a\\"], 1, "Escape character found with no next character"),
        (["[ab"], 0, "unclosed '[' bracket expression"),
        (["*.jpg", "!"], 1, "'!' alone negates nothing"),
        (["/"], 0, "'/' alone matches no file"),
        (["a//b"], 0, "empty path segment"),
        (["*.jpg", "ok", "[z-a].bin"], 2, "invalid bracket expression"),
        (["r1/**/[z-a].bin"], 0, "invalid bracket expression"),  # in a split regex's tail
        (["a\x00b"], 0, "NUL character"),
        (["*.jpg", 7], 1, "must be a string, got int"),
    ],
)
def test_invalid_pattern_is_named_with_index_and_reason(
    patterns: list, index: int, reason: str
) -> None:
    with pytest.raises(GlobError) as caught:
        GlobSet(patterns, place="triggers.yaml: trigger 'x' required_inputs")
    error = caught.value
    assert isinstance(error, ConfigError)
    assert error.index == index
    assert error.pattern == patterns[index]
    assert reason in error.reason
    assert error.place == "triggers.yaml: trigger 'x' required_inputs"
    assert f"pattern [{index}]" in str(error)


@pytest.mark.parametrize(
    "patterns", [[], [""], ["# only a comment", "  "], ["!*.jpg"], ["!a", "# b"]]
)
def test_at_least_one_positive_pattern_is_required(patterns: list[str]) -> None:
    with pytest.raises(GlobError, match="at least one pattern that is not blank"):
        GlobSet(patterns)


def test_a_bare_string_is_not_a_list_of_patterns() -> None:
    with pytest.raises(GlobError, match="not a single string"):
        GlobSet("*.jpg")


# --- property: same verdict as pathspec's gitwildmatch, used naively -------------------------

# Pattern segments: literals, every wildcard form, escapes, brackets that look odd but are closed.
_SEGMENTS = st.sampled_from(
    [
        *("a", "b", "ab", "x.jpg", "a.b", ".hidden", "*.tar.gz"),
        *("*", "**", "?", "a*", "*.jpg", "*b", "a?b"),
        *("[ab]", "[!a]", "[]a]", "c[a-c]", "\\*", "\\[a"),
        "b[!x]a",  # a negated bracket also matches "/": this one matches the path "b/a"
    ]
)


@st.composite
def glob_patterns(draw: st.DrawFn) -> str:
    segments = draw(st.lists(_SEGMENTS, min_size=1, max_size=4))
    body = "/".join(segments)
    if draw(st.booleans()):
        body = "/" + body
    if draw(st.booleans()):
        body += "/"
    return ("!" if draw(st.integers(0, 3)) == 0 else "") + body


@st.composite
def pattern_lists(draw: st.DrawFn) -> list[str]:
    first = draw(glob_patterns().filter(lambda p: not p.startswith("!")))
    return [first, *draw(st.lists(glob_patterns(), max_size=4))]


def valid_paths(max_segments: int) -> st.SearchStrategy[str]:
    """Relative paths without empty segments, of segments that look like glob syntax too."""
    segments = ["a", "b", "ab", "x.jpg", "a.b", "c", "*", "[a", ".hidden", "f.tar.gz", "a]"]
    return st.lists(st.sampled_from(segments), min_size=1, max_size=max_segments).map("/".join)


paths = valid_paths(5)


@settings(max_examples=400, deadline=None)
@given(pattern_lists(), st.lists(paths, min_size=1, max_size=6))
def test_matches_agrees_with_pathspec(patterns: list[str], files: list[str]) -> None:
    globs = GlobSet(patterns)
    naive = _naive(patterns)
    for path in files:
        assert globs.matches(path) == naive.match_file(path), (patterns, path)


@st.composite
def literal_head_patterns(draw: st.DrawFn) -> str:
    """Literal directories, at the root or at any depth, then (mostly) any directories and more
    segments: the shape `split_regex` splits, over few names, so that paths repeat the head."""
    head = draw(st.lists(st.sampled_from(["a", "b", "ab", "a.b"]), min_size=1, max_size=2))
    between = draw(st.sampled_from([["**"], ["**"], []]))  # without, at any depth: not split
    rest = draw(st.lists(_SEGMENTS, max_size=3))
    start = draw(st.sampled_from(["", "/", "**/"]))
    return start + "/".join([*head, *between, *rest]) + draw(st.sampled_from(["", "/"]))


@st.composite
def patterns_with_paths(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A pattern, and paths that often repeat its literal segments (a head twice, say)."""
    pattern = draw(st.one_of(glob_patterns(), literal_head_patterns()))
    names = [s for s in pattern.split("/") if s and not set(s) & set("!*?[\\")] + ["c", "x.jpg"]
    own = st.lists(st.sampled_from(names), min_size=1, max_size=8).map("/".join)
    return pattern, draw(st.lists(st.one_of(valid_paths(9), own), min_size=1, max_size=8))


@settings(max_examples=4000, deadline=None)
@given(patterns_with_paths())
def test_compiled_regexes_match_the_paths_pathspecs_regexes_match(
    pattern_and_paths: tuple[str, list[str]],
) -> None:
    """Both rewrites keep pathspec's meaning: directory spans a segment at a time, then the split
    into a literal head and a shared tail."""
    pattern, files = pattern_and_paths
    regex, _include = GitIgnoreSpecPattern.pattern_to_regex(pattern.removeprefix("!"))
    assume(regex is not None)
    whole = segmentwise(regex)
    theirs, segmented, split = re.compile(regex), re.compile(whole), split_regex(whole)
    assert split.pattern == whole
    for path in files:
        expected = theirs.search(path) is not None
        assert (segmented.search(path) is not None) == expected, ("segmentwise", whole, path)
        assert (split.search(path) is not None) == expected, ("split", whole, path)


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("**/a", "p/q/r/a", True),
        ("**/a", "p/q/ra", False),
        ("a/**/b", "a/b", True),
        ("a/**/b", "a/x/y/z/b", True),
        ("a/**/b", "a/x/y/z/c", False),
        ("**/r0/**/cam_f*/*.jpg", "p/r0/x/y/cam_front/1.jpg", True),
        ("**/r0/**/cam_f*/*.jpg", "p/r0/x/y/cam_rear/1.jpg", False),
        ("*.jpg", "a/b/c/d.jpg/e.txt", True),
        ("a/**/", "a/b/c/d", True),
        ("logs/", "x/y/logs/z", True),
    ],
)
def test_directory_spans_are_matched_a_segment_at_a_time(
    pattern: str, path: str, expected: bool
) -> None:
    (compiled,) = GlobSet([pattern]).compiled
    assert ".+" not in compiled.regex.pattern and "?P<" not in compiled.regex.pattern
    assert (compiled.regex.search(path) is not None) == expected
    assert _naive([pattern]).match_file(path) == expected


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        # at any depth: the leftmost head is tried, and the tail may skip directories after it
        ("**/a/**/b/*.jpg", "a/x/a/b/1.jpg", True),
        ("**/a/**/b/*.jpg", "x/a/a/y/b/1.jpg", True),
        ("**/a/**/b/*.jpg", "b/1.jpg/a", False),
        ("**/a/**/b/*.jpg", "xa/b/1.jpg", False),
        ("**/a/**/b", "c/a/b/a/c", True),  # not after the last `a/`
        ("**/a/**/b/*.jpg", "x/a/b/1.jpg/a/c", True),
        ("**/a/b/**/c", "a/a/b/c", True),
        ("**/r1/**", "p/r1/q", True),
        ("**/r1/**", "p/r1", False),
        # anchored: the head is the start of the path, any tail after it
        ("r1/**/run_0?/lidar/", "r1/x/run_07/lidar/1.pcd", True),
        ("r1/**/run_0?/lidar/", "x/r1/run_07/lidar/1.pcd", False),
        ("a/b/*.jpg", "a/b/c.jpg", True),
        # escaped literals in the head
        ("**/a\\*b/**/c", "x/a*b/y/c", True),
        ("**/a-b.c/**/d", "a-b.c/d", True),
        ("**/a-b.c/**/d", "a-bxc/d", False),
    ],
)
def test_patterns_with_a_literal_head_are_split(pattern: str, path: str, expected: bool) -> None:
    (compiled,) = GlobSet([pattern]).compiled
    assert isinstance(compiled.regex, SplitRegex)
    assert (compiled.regex.search(path) is not None) == expected
    assert _naive([pattern]).match_file(path) == expected


@pytest.mark.parametrize("pattern", ["*.jpg", "**/metadata.json", "**/r1/cam/*.jpg", "a*/b"])
def test_patterns_without_a_usable_head_are_compiled_whole(pattern: str) -> None:
    (compiled,) = GlobSet([pattern]).compiled
    assert isinstance(compiled.regex, re.Pattern)


def test_segmentwise_leaves_escapes_and_bracket_expressions_alone() -> None:
    for regex in (r"^x\(\?:/\.\+\)\?/", r"^[]a(?:/.+)?/]b", r"^[^\](?:/.+)?/]b"):
        assert segmentwise(regex) == regex


@settings(max_examples=400, deadline=None)
@given(pattern_lists(), st.lists(paths, min_size=1, max_size=6))
def test_admits_is_the_verdict_once_a_positive_pattern_matches(
    patterns: list[str], files: list[str]
) -> None:
    globs = GlobSet(patterns)
    for path in files:
        if any(p.regex.search(path) for p in globs.positives):
            assert globs.admits(path) == globs.matches(path), (patterns, path)


def test_admits_checks_only_trailing_exclusions() -> None:
    assert GlobSet(["*.jpg", "!tmp/"]).admits("tmp/a.jpg") is False
    assert GlobSet(["*.jpg", "!tmp/"]).admits("a.jpg") is True
    assert GlobSet(["*.jpg", "!tmp/", "tmp/keep.jpg"]).admits("tmp/keep.jpg") is True


@settings(max_examples=400, deadline=None)
@given(glob_patterns(), st.lists(paths, min_size=1, max_size=6))
def test_necessary_literals_are_in_every_matching_path(pattern: str, files: list[str]) -> None:
    compiled = compile_pattern(pattern, 0, "test")
    assert compiled is not None
    literals = necessary_literals(compiled.body)
    for path in files:
        if compiled.regex.search(path):
            assert all(text in path for text in literals), (pattern, path, literals)


def test_necessary_literals_name_a_directory_and_the_file_kind() -> None:
    assert necessary_literals("**/r0042/**/*.mcap") == ("r0042", ".mcap")
    assert necessary_literals("**/metadata.json") == ("metadata.json", "")
    assert necessary_literals("**") == ("", "")


@settings(max_examples=200, deadline=None)
@given(pattern_lists(), st.lists(paths, max_size=6))
def test_unsatisfied_agrees_with_per_pattern_pathspec(
    patterns: list[str], files: list[str]
) -> None:
    globs = GlobSet(patterns)
    selected = [f for f in files if _naive(patterns).match_file(f)]
    expected = [
        p
        for p in patterns
        if not p.startswith("!") and not any(_naive([p]).match_file(f) for f in selected)
    ]
    assert _unsatisfied(globs, files) == expected


def test_equal_pattern_lists_share_one_globset() -> None:
    first = shared_globset(["**/*.jpg", "!tmp/"], place="t1 required_inputs")
    assert shared_globset(("**/*.jpg", "!tmp/"), place="t2 required_inputs") is first
    assert shared_globset(["**/*.png"], place="t3 required_inputs") is not first


def test_a_shared_globset_error_names_its_own_place() -> None:
    with pytest.raises(GlobError, match="trigger 'b' required_inputs"):
        shared_globset(["a//b"], place="trigger 'b' required_inputs")
    with pytest.raises(GlobError, match="trigger 'c' required_inputs"):
        shared_globset("*.jpg", place="trigger 'c' required_inputs")  # type: ignore[arg-type]
