"""Input selections kept up to date from the journal equal a recomputation from the files."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.globs import GlobSet
from engine.selections import SelectionCache

PATHS = ["a.jpg", "x/a.jpg", "x/b.jpg", "x/metadata.json", "tmp/c.jpg", "y/run.mcap", "b.txt"]
GLOBS = [
    GlobSet(["**/*.jpg"]),
    GlobSet(["**/*.jpg", "!tmp/"]),
    GlobSet(["**/*.mcap", "**/metadata.json"]),
    GlobSet(["x/", "!**/b.jpg", "*.txt"]),
]

# (operation, file id, path index, ingested)
_Operation = tuple[str, int, int, bool]
_OPERATIONS = st.lists(
    st.tuples(
        st.sampled_from(["put", "put", "pop", "ask", "clear"]),
        st.integers(0, 5),
        st.integers(0, len(PATHS) - 1),
        st.booleans(),
    ),
    max_size=40,
)


def _expected(
    globs: GlobSet, files: dict[str, dict[str, Any]], ingested_only: bool
) -> tuple[list[str], list[str]]:
    """(selected file ids by path, then dataset order; unsatisfied patterns), recomputed."""
    current = [
        f
        for f in files.values()
        if not ingested_only or f["ingestion_status"] == "ingested"
        if globs.matches(f["relative_path"])
    ]
    ordered = sorted(current, key=lambda f: f["relative_path"])
    unsatisfied = globs.unsatisfied_by([f["relative_path"] for f in ordered])
    return [f["file_id"] for f in ordered], unsatisfied


@settings(max_examples=300, deadline=None)
@given(_OPERATIONS)
def test_selections_follow_every_change(operations: list[_Operation]) -> None:
    files: dict[str, dict[str, Any]] = {}
    cache = SelectionCache()
    for operation, number, path, ingested in operations:
        file_id = f"f{number}"
        if operation == "put":
            status = "ingested" if ingested else "not_ingested"
            files[file_id] = {
                "file_id": file_id,
                "relative_path": PATHS[path],
                "ingestion_status": status,
            }
            cache.changed(file_id, files)
        elif operation == "pop":
            if files.pop(file_id, None) is not None:
                cache.changed(file_id, files)
        elif operation == "clear":
            files.clear()
            cache.reset()
        for globs in GLOBS[: 1 + number % len(GLOBS)]:
            selection = cache.get(globs, ingested, files)
            listed = selection.files(files)
            assert all(f is files[f["file_id"]] for f in listed)  # the current records
            selected = [f["file_id"] for f in listed]
            assert (selected, selection.unsatisfied()) == _expected(globs, files, ingested)


def test_equal_paths_keep_the_dataset_order() -> None:
    files: dict[str, dict[str, Any]] = {}
    cache = SelectionCache()
    globs = GlobSet(["*.jpg"])
    cache.get(globs, False, files)
    for file_id in ("f9", "f1", "f5"):
        files[file_id] = {"file_id": file_id, "relative_path": "a.jpg", "ingestion_status": "x"}
        cache.changed(file_id, files)
    assert [f["file_id"] for f in cache.get(globs, False, files).files(files)] == ["f9", "f1", "f5"]


def test_the_journal_never_outgrows_the_dataset() -> None:
    files = {"f1": {"file_id": "f1", "relative_path": "a.jpg", "ingestion_status": "x"}}
    cache = SelectionCache()
    globs = GlobSet(["*.jpg"])
    cache.get(globs, False, files)
    for _ in range(1000):
        cache.changed("f1", files)
    assert len(cache._journal) <= 64 + 4 * len(files)
    assert [f["file_id"] for f in cache.get(globs, False, files).files(files)] == ["f1"]
