"""GlobIndex: literal requirements are sound, and `match` equals the naive loop over GlobSets."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.glob_index import (
    EXTENSION,
    SEGMENT,
    BoundedMemo,
    GlobIndex,
    Signature,
    Vocabulary,
    literal_requirements,
    reads_name_by_literals,
    segment_tokens,
)
from engine.globs import GlobSet
from tests.test_globs import glob_patterns, paths, pattern_lists


def test_segment_tokens_mark_wildcards() -> None:
    assert segment_tokens("a\\*[]x]?b") == ("a", "*", None, None, "b")
    assert segment_tokens("[!]]c") == (None, "c")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("**/cam_front/*.jpg", [(SEGMENT, "cam_front"), (EXTENSION, ".jpg")]),
        ("*.mcap", [(EXTENSION, ".mcap")]),
        ("logs/*.ulg", [(SEGMENT, "logs"), (EXTENSION, ".ulg")]),
        ("logs/2024/*", [(SEGMENT, "2024"), (SEGMENT, "logs")]),
        ("**/metadata.json", [(SEGMENT, "metadata.json")]),
        ("run_*/imu/*.csv", [(SEGMENT, "imu"), (EXTENSION, ".csv")]),
        ("frame_*.tar.gz", [(EXTENSION, ".gz")]),
        ("data/", [(SEGMENT, "data")]),
        ("/a/b", [(SEGMENT, "a"), (SEGMENT, "b")]),
        ("\\*.jpg", [(SEGMENT, "*.jpg")]),
        ("*.j?g", []),
        ("*[.]jpg", []),
        ("**/*", []),
        ("*", []),
        ("run_*/", []),
    ],
)
def test_literal_requirements(body: str, expected: list[tuple[str, str]]) -> None:
    assert list(literal_requirements(body)) == expected


@settings(max_examples=400, deadline=None)
@given(glob_patterns(), st.lists(paths, min_size=1, max_size=8))
def test_every_path_a_pattern_matches_meets_its_requirements(
    pattern: str, files: list[str]
) -> None:
    (compiled,) = GlobSet(["*", pattern]).compiled[1:]
    for path in files:
        if compiled.regex.search(path) is None:
            continue
        segments = path.split("/")
        extensions = {s[s.rfind(".") :] for s in segments if "." in s}
        for kind, text in literal_requirements(compiled.body):
            assert text in (segments if kind == SEGMENT else extensions), (pattern, path, text)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("**/cam_front/*.jpg", True),
        ("**/metadata.json", True),
        ("logs/2024/*", True),
        ("r1/**", True),
        ("run_*/", True),
        ("**", True),
        ("*.", True),
        ("\\*.jpg", True),
        ("**/r1/**/cam_[fr]*/*.jpg", True),
        ("**/cam_front/*[05].jpg", False),
        ("frame_*.jpg", False),
        ("*.tar.gz", False),
        ("?.jpg", False),
        ("?", False),
        ("[ab]", False),
        ("**.jpg", False),
        ("b[!x]a", False),
        ("a\\/b", False),
    ],
)
def test_which_patterns_read_names_by_shape(body: str, expected: bool) -> None:
    assert reads_name_by_literals(body) is expected


_NAMES = st.sampled_from(
    ["a", "b", "ab", "x.jpg", "y.jpg", ".jpg", "a.b", "c.b", "f.tar.gz", "g.gz", "[a", "a]", "*"]
)


@settings(max_examples=400, deadline=None)
@given(glob_patterns(), st.lists(paths, min_size=1, max_size=3), st.lists(_NAMES, min_size=2))
def test_a_pattern_read_by_shape_gives_one_verdict_per_shape(
    pattern: str, directories: list[str], names: list[str]
) -> None:
    (compiled,) = GlobSet(["*", pattern]).compiled[1:]
    if not reads_name_by_literals(compiled.body):
        return
    vocabulary = Vocabulary()
    for _kind, text in literal_requirements(compiled.body):
        vocabulary.adopt(text)
    for directory in directories:
        verdicts: dict[object, bool] = {}
        for name in names:
            path = f"{directory}/{name}"
            verdict = compiled.regex.search(path) is not None
            assert verdicts.setdefault(vocabulary.shape(path), verdict) == verdict, (pattern, path)


def _index(triggers: dict[str, list[str]]) -> GlobIndex[str]:
    index: GlobIndex[str] = GlobIndex()
    for key, patterns in triggers.items():
        index.add(key, GlobSet(patterns))
    return index


def test_match_finds_exactly_the_matching_keys() -> None:
    index = _index(
        {
            "front": ["**/cam_front/*.jpg"],
            "mcap": ["*.mcap"],
            "px4": ["logs/*.ulg"],
            "bags": ["**/*.bag"],
            "imu": ["run_*/imu/*.csv"],
            "all": ["**"],
            "meta": ["**/metadata.json"],
        }
    )
    assert len(index) == 7
    assert sorted(index.match("run1/cam_front/0001.jpg")) == ["all", "front"]
    assert sorted(index.match("cam_front/0001.jpg")) == ["all", "front"]
    assert sorted(index.match("run_3/imu/a.csv")) == ["all", "imu"]
    assert sorted(index.match("logs/f.ulg")) == ["all", "px4"]
    assert sorted(index.match("x/logs/f.ulg")) == ["all"]
    assert sorted(index.match("metadata.json")) == ["all", "meta"]
    assert sorted(index.match("d/x.mcap")) == ["all", "mcap"]


def test_paths_of_one_shape_share_verdicts_and_test_the_rest_per_path() -> None:
    index = _index(
        {
            "frames": ["**/cam_front/*.jpg"],
            "fifth": ["**/cam_front/*[05].jpg"],  # reads more of the name than its shape
            "meta": ["**/metadata.json"],
        }
    )
    for _round in range(2):  # the first path of each shape is matched, then remembered
        assert sorted(index.match("r1/cam_front/000010.jpg")) == ["fifth", "frames"]
        assert index.match("r1/cam_front/000011.jpg") == ("frames",)
        assert sorted(index.match("r1/cam_front/000015.jpg")) == ["fifth", "frames"]
        assert index.match("r1/metadata.json") == ("meta",)
        assert index.match("r1/other.json") == ()


def test_directory_matches_select_files_below_them() -> None:
    index = _index({"jpg": ["*.jpg"], "raw": ["raw/"], "cam": ["**/cam_front/*.jpg"]})
    assert sorted(index.match("frames.jpg/readme.txt")) == ["jpg"]
    assert sorted(index.match("a/raw/b/c.bin")) == ["raw"]
    assert sorted(index.match("cam_front/x.jpg/y")) == ["cam", "jpg"]


def test_negations_decide_per_key() -> None:
    index = _index(
        {"keep": ["*.jpg"], "drop_tmp": ["*.jpg", "!tmp/"], "back": ["*", "!*.tmp", "a.tmp"]}
    )
    assert sorted(index.match("tmp/a.jpg")) == ["back", "keep"]
    assert sorted(index.match("b.jpg")) == ["back", "drop_tmp", "keep"]
    assert sorted(index.match("b.tmp")) == []
    assert sorted(index.match("a.tmp")) == ["back"]


def test_shared_patterns_survive_removal_of_one_holder() -> None:
    index = _index({"a": ["*.mcap"], "b": ["**/*.mcap", "*.mcap"], "c": ["*.mcap"]})
    assert sorted(index.match("x.mcap")) == ["a", "b", "c"]
    index.remove("b")
    assert sorted(index.match("x.mcap")) == ["a", "c"]
    index.remove("a")
    index.remove("c")
    assert sorted(index.match("x.mcap")) == []
    assert len(index) == 0


def test_add_replaces_and_moves_the_key_to_the_end() -> None:
    index = _index({"a": ["*.jpg"], "b": ["*.jpg"]})
    index.add("a", GlobSet(["*.jpg", "*.png"]))
    assert sorted(index.match("x.jpg")) == ["a", "b"]
    assert sorted(index.match("x.png")) == ["a"]
    index.add("a", GlobSet(["*.csv"]))
    assert sorted(index.match("x.png")) == []
    assert "a" in index
    assert len(index) == 2


def test_remove_unknown_key_raises() -> None:
    index = _index({"a": ["*.jpg"]})
    with pytest.raises(KeyError):
        index.remove("b")


# --- property: random add/remove sequences against the naive loop ----------------------------

_KEYS = st.sampled_from([f"k{i}" for i in range(6)])
_OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("add"), _KEYS, pattern_lists()), st.tuples(st.just("remove"), _KEYS)
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(_OPERATIONS, st.lists(paths, min_size=1, max_size=6))
def test_match_equals_naive_loop_under_add_and_remove(
    operations: list[tuple], files: list[str]
) -> None:
    index: GlobIndex[str] = GlobIndex()
    model: dict[str, GlobSet] = {}
    for operation in operations:
        key = operation[1]
        model.pop(key, None)
        if operation[0] == "add":
            globs = GlobSet(operation[2])
            index.add(key, globs)
            model[key] = globs
        elif key in index:
            index.remove(key)
        for path in files:
            expected = sorted(k for k, g in model.items() if g.matches(path))
            assert sorted(index.match(path)) == expected, path
    assert len(index) == len(model)


def _signature(vocabulary: Vocabulary, path: str) -> Signature:
    return vocabulary.signature(vocabulary.shape(path))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(pattern_lists(), min_size=1, max_size=6),
    st.lists(st.tuples(st.sampled_from(["a", "a/b", "x.jpg/c", "b/a"]), _NAMES), max_size=30),
)
def test_match_by_shape_equals_naive_loop(
    inputs: list[list[str]], files: list[tuple[str, str]]
) -> None:
    index: GlobIndex[str] = GlobIndex()
    model = {f"k{n}": GlobSet(patterns) for n, patterns in enumerate(inputs)}
    for key, globs in model.items():
        index.add(key, globs)
    for directory, name in files * 2:  # the second time round, shapes are remembered
        path = f"{directory}/{name}"
        assert sorted(index.match(path)) == sorted(k for k, g in model.items() if g.matches(path))


def test_indexes_sharing_a_vocabulary_keep_the_literals_they_still_use() -> None:
    vocabulary = Vocabulary()
    first: GlobIndex[str] = GlobIndex(vocabulary)
    second: GlobIndex[str] = GlobIndex(vocabulary)
    first.add("a", GlobSet(["**/cam_front/*.jpg"]))
    second.add("b", GlobSet(["**/cam_front/*.jpg", "logs/*.ulg"]))
    literals = Vocabulary.literals(_signature(vocabulary, "r1/cam_front/x.jpg"))
    assert literals == {"", "cam_front", ".jpg"}
    first.remove("a")
    assert second.match("r1/cam_front/x.jpg") == ("b",)
    assert "cam_front" in vocabulary
    second.remove("b")
    assert Vocabulary.literals(_signature(vocabulary, "r1/cam_front/x.jpg")) == {""}
    assert "logs" not in vocabulary and ".ulg" not in vocabulary


def test_remembered_signatures_follow_the_vocabulary() -> None:
    vocabulary = Vocabulary()
    first: GlobIndex[str] = GlobIndex(vocabulary)
    second: GlobIndex[str] = GlobIndex(vocabulary)
    first.add("a", GlobSet(["**/*.jpg"]))
    assert first.match("r1/cam_front/x.jpg") == ("a",)
    assert _signature(vocabulary, "r1/cam_front/x.jpg") == ((), None, ".jpg")
    # Another index's pattern makes the directory's segment a known literal.
    second.add("b", GlobSet(["**/cam_front/*.png"]))
    assert _signature(vocabulary, "r1/cam_front/x.jpg") == (("cam_front",), None, ".jpg")
    assert first.match("r1/cam_front/x.jpg") == ("a",)
    assert second.match("r1/cam_front/y.png") == ("b",)
    first.add("c", GlobSet(["**/cam_front/x.jpg"]))
    assert sorted(first.match("r1/cam_front/x.jpg")) == ["a", "c"]
    first.remove("c")
    second.remove("b")
    assert _signature(vocabulary, "r1/cam_front/x.jpg") == ((), None, ".jpg")
    assert first.match("r1/cam_front/x.jpg") == ("a",)


def test_matches_come_in_the_index_order() -> None:
    index: GlobIndex[str] = GlobIndex(order=str.upper)
    for key in ("c", "a", "b"):
        index.add(key, GlobSet(["**/*.jpg"]))
    assert index.match("x/y.jpg") == ("a", "b", "c")  # one pattern, its holders in order
    index.add("B0", GlobSet(["x/", "!**/tmp/**"]))
    assert index.match("x/y.jpg") == ("a", "b", "B0", "c")  # several patterns, merged in order
    assert index.match("x/tmp/y.jpg") == ("a", "b", "c")
    index.remove("a")
    assert index.match("x/y.jpg") == ("b", "B0", "c")


def test_remembered_directories_and_signatures_stay_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("engine.glob_index._REMEMBERED", 4)
    vocabulary = Vocabulary()
    index: GlobIndex[str] = GlobIndex(vocabulary)
    robots = [f"r{n}" for n in range(10)]
    for robot in robots:
        index.add(robot, GlobSet([f"**/{robot}/**/cam_front/*.jpg"]))
    for _round in range(2):  # the second round asks again what was forgotten
        for robot in robots:
            for run in range(3):
                path = f"{robot}/run_{run}/cam_front/1.jpg"
                assert index.match(path) == (robot,)
                assert index.match(f"{robot}/run_{run}/cam_rear/1.jpg") == ()
                assert len(vocabulary._directories) <= 4 and len(index._candidates) <= 4
                assert len(index._verdicts) <= 4


def test_a_bounded_memo_starts_over_once_full() -> None:
    memo: BoundedMemo[str, int] = BoundedMemo(2)
    assert memo.remember("a", 1) == 1
    memo.remember("b", 2)
    assert memo == {"a": 1, "b": 2}
    assert memo.remember("c", 3) == 3
    assert memo == {"c": 3}
