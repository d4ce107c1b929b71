"""`triggers create|update|delete` edit a triggers file in place: only the lines of the changed
trigger change (YAML keeps its comments, order and quoting; JSON its shape, order and
indentation), and `validate` lists every error of the files, each at its file and line."""

from __future__ import annotations

import difflib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from engine.cli import main

ROOT = Path(__file__).resolve().parent.parent
ACTIONS = ROOT / "examples" / "actions"

# Three triggers in no sorted order, with comments, blank lines and mixed quoting.
COMMENTED = """\
# Camera triggers, kept by hand.
triggers:
  # Thumbnails of every image.
  - name: zeta-thumbs
    org_id: og_skyops
    action: og_roboto/thumbnailer
    required_inputs: ['*.png']  # single quotes on purpose

  # Detection on production frames.
  - name: cam
    org_id: og_acme
    action: detect-objects
    required_inputs: ["**/cam_front/*.jpg"]
    for_each: dataset_file
    timeout: 45  # minutes
    container_parameter_overrides:
      workdir: /app
      env_vars: {A: "1"}
    parameter_values: {threshold: "0.7"}

  # Public thumbnails for acme too.
  - name: alpha-thumbs
    org_id: og_acme
    action: og_roboto/thumbnailer
    required_inputs: ["*.jpg"]
"""


@pytest.fixture(autouse=True)
def _no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRIGGER_ENGINE_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.delenv("ROBOTO_ORG_ID", raising=False)


def _triggers(capsys: pytest.CaptureFixture[str], path: Path, *args: str) -> None:
    assert main(["triggers", *args, "--triggers", str(path), "--actions", str(ACTIONS)]) == 0, (
        capsys.readouterr().err
    )
    capsys.readouterr()


def _changes(before: str, after: str) -> tuple[list[str], list[str]]:
    """The lines removed and the lines added from `before` to `after`."""
    diff = list(difflib.ndiff(before.splitlines(), after.splitlines()))
    return [d[2:] for d in diff if d.startswith("- ")], [d[2:] for d in diff if d.startswith("+ ")]


@pytest.fixture
def commented(tmp_path: Path) -> Path:
    path = tmp_path / "triggers.yaml"
    path.write_text(COMMENTED)
    return path


def test_an_update_changes_only_the_line_of_the_field(
    capsys: pytest.CaptureFixture[str], commented: Path
) -> None:
    _triggers(capsys, commented, "update", "cam", "--timeout", "60")
    edited = commented.read_text()
    assert _changes(COMMENTED, edited) == (
        ["    timeout: 45  # minutes"],
        ["    timeout: 60  # minutes"],
    )
    assert edited == COMMENTED.replace("timeout: 45", "timeout: 60")


def test_repeated_flags_and_null_edit_the_trigger_in_its_place(
    capsys: pytest.CaptureFixture[str], commented: Path
) -> None:
    inputs = ["--required-inputs", "a/*.jpg", "--required-inputs", "b/*.jpg"]
    _triggers(capsys, commented, "update", "cam", *inputs, "--env", "B=2", "--env", "C=x")
    assert _changes(COMMENTED, commented.read_text()) == (
        ['    required_inputs: ["**/cam_front/*.jpg"]', '      env_vars: {A: "1"}'],
        ['    required_inputs: ["a/*.jpg", "b/*.jpg"]', '      env_vars: {A: "1", B: "2", C: "x"}'],
    )

    before = commented.read_text()
    _triggers(capsys, commented, "update", "cam", "--workdir", "null")
    assert _changes(before, commented.read_text()) == (["      workdir: /app"], [])

    before = commented.read_text()
    _triggers(capsys, commented, "update", "cam", "--required-tag", "prod", "--memory", "4096")
    assert _changes(before, commented.read_text()) == (
        [],
        ["    required_tag: [prod]", "    compute_requirement_overrides: {memory: 4096}"],
    )
    assert main(["triggers", "get", "cam", "--triggers", str(commented)]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["container_parameter_overrides"] == {"env_vars": {"A": "1", "B": "2", "C": "x"}}
    assert (got["required_tag"], got["compute_requirement_overrides"]) == (
        ["prod"],
        {"memory": 4096},
    )


def test_create_appends_the_trigger_at_the_end_laid_out_as_the_last(
    capsys: pytest.CaptureFixture[str], commented: Path
) -> None:
    flags = ["--org", "og_acme", "--action", "detect-objects", "--required-inputs", "*.bag"]
    _triggers(capsys, commented, "create", "--name", "bags", *flags)
    new = "\n  - name: bags\n    org_id: og_acme\n    action: detect-objects\n"
    new += '    required_inputs: ["*.bag"]\n'
    assert commented.read_text() == COMMENTED + new


def test_delete_removes_only_the_item_and_its_comment(
    capsys: pytest.CaptureFixture[str], commented: Path
) -> None:
    _triggers(capsys, commented, "delete", "cam")
    lines = COMMENTED.splitlines(keepends=True)
    first, last = (
        lines.index("  # Detection on production frames.\n"),
        lines.index("  # Public thumbnails for acme too.\n"),
    )
    assert commented.read_text() == "".join(lines[:first] + lines[last:])

    _triggers(capsys, commented, "delete", "alpha-thumbs")
    assert commented.read_text() == "".join(lines[: first - 1])  # nor the blank line before it
    _triggers(capsys, commented, "delete", "zeta-thumbs")
    assert commented.read_text() == "# Camera triggers, kept by hand.\ntriggers: []\n"
    assert main(["triggers", "list", "--triggers", str(commented)]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_a_json_file_keeps_its_shape_order_and_indentation(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # A top-level list, not sorted by org and name, fields in no canonical order.
    thumbnailer = "og_roboto/thumbnailer"
    items: list[dict[str, Any]] = [
        {
            "required_inputs": ["*.png"],
            "name": "zeta",
            "org_id": "og_skyops",
            "action": thumbnailer,
        },
        {"org_id": "og_acme", "name": "cam", "action": "detect-objects", "required_inputs": ["*"]},
    ]
    path = tmp_path / "triggers.json"
    path.write_text(json.dumps(items, indent=4))

    _triggers(capsys, path, "update", "cam", "--timeout", "5")
    items[1]["timeout"] = 5
    assert path.read_text() == json.dumps(items, indent=4) + "\n"

    flags = ["--org", "og_acme", "--action", "detect-objects", "--required-inputs", "*.bag"]
    _triggers(capsys, path, "create", "--name", "bags", *flags)
    new = {"name": "bags", "org_id": "og_acme", "action": "detect-objects"}
    items.append({**new, "required_inputs": ["*.bag"]})
    assert path.read_text() == json.dumps(items, indent=4) + "\n"

    _triggers(capsys, path, "delete", "zeta")
    assert path.read_text() == json.dumps(items[1:], indent=4) + "\n"


def test_in_a_directory_the_trigger_is_edited_in_its_own_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "b").mkdir()
    first, second = tmp_path / "a.yaml", tmp_path / "b" / "c.yaml"
    first.write_text(COMMENTED)
    second.write_text(
        "- {name: solo, org_id: og_acme, action: detect-objects, required_inputs: [x]}\n"
    )

    _triggers(capsys, tmp_path, "update", "cam", "--timeout", "60")
    assert first.read_text() == COMMENTED.replace("timeout: 45", "timeout: 60")
    _triggers(capsys, tmp_path, "update", "solo", "--timeout", "7")
    solo = "- {name: solo, org_id: og_acme, action: detect-objects, required_inputs: [x]"
    assert second.read_text() == f"{solo}, timeout: 7}}\n"

    flags = ["--org", "og_acme", "--action", "detect-objects", "--required-inputs", "y"]
    _triggers(capsys, tmp_path, "create", "--name", "new", *flags)  # in the last file
    assert first.read_text() == COMMENTED.replace("timeout: 45", "timeout: 60")
    new = "- {name: new, org_id: og_acme, action: detect-objects, required_inputs: [y]}"
    assert second.read_text() == f"{solo}, timeout: 7}}\n{new}\n"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.yaml", "b", "c.yaml"]


# Two schema errors (an unknown field, a missing field), three semantic ones (an unknown action,
# a bad glob, a bad condition) and a duplicate, among two valid triggers.
INVALID: list[dict[str, Any]] = [
    {"name": "good", "org_id": "og_acme", "action": "detect-objects", "required_inputs": ["*"]},
    {"name": "typo", "org_id": "og_acme", "action": "detect-objects", "required_inputs": ["*"],
     "colour": "red"},
    {"name": "no-action", "org_id": "og_acme", "action": "nope", "required_inputs": ["*"]},
    {"name": "no-inputs", "org_id": "og_acme", "action": "detect-objects"},
    {"name": "bad-glob", "org_id": "og_acme", "action": "detect-objects",
     "required_inputs": ["a/[z"]},
    {"name": "bad-condition", "org_id": "og_acme", "action": "detect-objects",
     "required_inputs": ["*"], "condition": {"field": "tags", "comparator": "WITHIN", "value": 1}},
    {"name": "good", "org_id": "og_acme", "action": "detect-objects", "required_inputs": ["x"]},
    {"name": "also-good", "org_id": "og_acme", "action": "detect-objects",
     "required_inputs": ["*"]},
]  # fmt: skip
EXPECTED_ERRORS = [
    (1, "unknown field 'colour'"),
    (2, "action nope is not a known action"),
    (3, "required_inputs: Field required"),
    (4, "unclosed '[' bracket"),
    (5, "WITHIN"),
    (6, "is defined twice (first at {path}:{line0} (trigger #0))"),
]


def _item_lines(text: str, first_line_of_item: str) -> list[int]:
    """The line (from 1) of each item: the lines that are exactly `first_line_of_item`."""
    return [n for n, line in enumerate(text.splitlines(), 1) if line == first_line_of_item]


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_validate_lists_every_error_at_its_file_and_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, suffix: str
) -> None:
    path = tmp_path / f"triggers{suffix}"
    if suffix == ".json":
        text = json.dumps({"triggers": INVALID}, indent=2)
        lines = _item_lines(text, "    {")
    else:  # block items, blank lines and comments between them
        text = "# comment\ntriggers:\n" + "".join(
            f"\n  # item {n}\n  - " + json.dumps(item, indent=2).replace("\n", "\n    ")
            for n, item in enumerate(INVALID)
        )
        lines = _item_lines(text, "  - {")
    assert len(lines) == len(INVALID)
    path.write_text(text)
    actions = tmp_path / "actions"
    shutil.copytree(ACTIONS, actions)
    broken = actions / "zz.yaml"
    broken.write_text("- {org_id: og_acme, name: broken, colour: red}\n\n- {org_id: og_acme}\n")

    assert main(["validate", "--triggers", str(path), "--actions", str(actions)]) == 1
    printed = capsys.readouterr()
    errors = printed.err.splitlines()
    assert errors[:2] == [
        f"error: action 'broken' at {broken}:1 (action #0): unknown field 'colour'",
        f"error: action at {broken}:3 (action #1): name: Field required",
    ]
    assert len(errors[2:]) == len(EXPECTED_ERRORS)
    for error, (index, reason) in zip(errors[2:], EXPECTED_ERRORS, strict=True):
        assert f" at {path}:{lines[index]} (trigger #{index}): " in error
        assert reason.format(path=path, line0=lines[0]) in error
    assert printed.out == f"2 valid triggers, {len(errors)} errors\n"


def test_validate_of_valid_files_exits_0(
    capsys: pytest.CaptureFixture[str], commented: Path
) -> None:
    assert main(["validate", "--triggers", str(commented), "--actions", str(ACTIONS)]) == 0
    printed = capsys.readouterr()
    assert (printed.out, printed.err) == ("3 valid triggers, 0 errors\n", "")


def test_removing_the_first_field_of_an_item_moves_the_next_up(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "triggers.yaml"
    rest = "  name: cam  # the camera\n  org_id: og_acme\n  action: detect-objects\n"
    rest += "  required_inputs: ['*.jpg']\n"
    path.write_text("- required_tag: [prod]\n" + rest)
    condition = '{"field": "tags", "comparator": "CONTAINS", "value": "qa"}'
    _triggers(capsys, path, "update", "cam", "--condition-json", condition)
    added = "  condition: {field: tags, comparator: CONTAINS, value: qa}\n"
    assert path.read_text() == "- " + rest.removeprefix("  ") + added
