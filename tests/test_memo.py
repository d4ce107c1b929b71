"""The per-dataset memo follows the state's changes: verdicts, path matches and selections are
dropped exactly when the facts they were read from change."""

from __future__ import annotations

from typing import Any

import pytest

from conditions import compile_condition
from engine.events import Event
from engine.globs import GlobSet
from engine.json_identity import identical_json
from engine.memo import MemoStore
from engine.state import StateStore
from engine.vocabulary import EventType


def _ev(event_type: str, file: dict[str, Any] | None = None, dataset: Any = None) -> Event:
    return Event("ev", EventType(event_type), "/src", None, "og_1", "ds_1", file, dataset)


def _snapshot(tags: list[str], metadata: dict[str, Any]) -> dict[str, Any]:
    return {"dataset_id": "ds_1", "org_id": "og_1", "tags": tags, "metadata": metadata}


class _Follower:
    """A store and the memos that follow it, as the evaluator keeps them."""

    def __init__(self) -> None:
        self.state = StateStore()
        self.memos = MemoStore()

    def apply(self, event: Event) -> Any:
        ds = self.state.apply(event)
        return self.memos.following(ds, self.state.take_changes())


def test_a_new_record_forgets_the_condition_verdicts() -> None:
    follower = _Follower()
    token = compile_condition(required_tag=["a"]).token
    memo = follower.apply(_ev("dataset.created", dataset=_snapshot(["a"], {})))
    memo.verdicts[token] = True
    follower.apply(_ev("file.uploaded", {"file_id": "f1", "relative_path": "a"}))
    assert memo.verdicts == {token: True}  # no new record: still valid
    follower.apply(_ev("dataset.metadata_updated", dataset=_snapshot(["b"], {})))
    assert memo.verdicts == {}


def test_an_unchanged_snapshot_keeps_the_verdicts_and_a_retyped_value_does_not() -> None:
    follower = _Follower()
    memo = follower.apply(_ev("dataset.created", dataset=_snapshot(["a"], {"n": 1, "x": [0.0]})))
    memo.verdicts["token"] = True
    same = _snapshot(["a"], {"n": 1, "x": [0.0]})
    follower.apply(_ev("file.uploaded", {"file_id": "f1", "relative_path": "a"}, dataset=same))
    assert memo.verdicts == {"token": True}
    # Equal in Python, not to a condition: `true` against 1, 1.0 against 1, -0.0 against 0.0.
    for metadata in ({"n": True, "x": [0.0]}, {"n": 1.0, "x": [0.0]}, {"n": 1, "x": [-0.0]}):
        memo.verdicts["token"] = True
        follower.apply(_ev("dataset.metadata_updated", dataset=_snapshot(["a"], metadata)))
        assert memo.verdicts == {}, metadata
        follower.apply(
            _ev("dataset.metadata_updated", dataset=_snapshot(["a"], {"n": 1, "x": [0.0]}))
        )


def test_selections_follow_file_writes_removals_and_a_deleted_dataset() -> None:
    follower = _Follower()
    globs = GlobSet(["*.jpg"])
    follower.apply(_ev("file.uploaded", {"file_id": "f1", "relative_path": "a.jpg"}))
    memo = follower.apply(_ev("file.uploaded", {"file_id": "f2", "relative_path": "b.txt"}))
    ds = follower.state.get("ds_1")
    assert ds is not None

    def selected() -> list[str]:
        selection = memo.selections.get(globs, False, ds.files)
        return [f["file_id"] for f in selection.files(ds.files)]

    assert selected() == ["f1"]
    follower.apply(_ev("file.uploaded", {"file_id": "f2", "relative_path": "b.jpg"}))
    assert selected() == ["f1", "f2"]
    follower.apply(_ev("file.deleted", {"file_id": "f1"}))
    assert selected() == ["f2"]
    memo.matches["f2"] = (0, "b.jpg", ())
    follower.apply(_ev("dataset.deleted"))
    assert selected() == [] and memo.matches == {}


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        ({"a": [1, "x", None]}, {"a": [1, "x", None]}, True),
        ({"a": 1, "b": 2}, {"b": 2, "a": 1}, False),  # key order is part of what a record shows
        ([1], [1, 2], False),
        (1, True, False),
        (0.5, 0.5, True),
        ({"n": 2**70}, {"n": 2**70}, False),  # beyond orjson: counted as changed
    ],
)
def test_identical_json(left: Any, right: Any, expected: bool) -> None:
    assert identical_json(left, right) is expected
