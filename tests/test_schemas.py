"""`trigger-engine schema`: the JSON Schemas accept what the loaders and the event checks accept,
on the bundled examples and a generated workload, and reject what they reject."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from jsonschema import Draft202012Validator

from benchmarks.workload import WorkloadSpec, generate
from engine.actions import load_actions
from engine.cli import main
from engine.documents import SUFFIXES
from engine.errors import ConfigError, EventError
from engine.events import event_from_dict, parse_event
from engine.schemas import SchemaKind, json_schema
from engine.trigger_files import load_triggers

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
EXAMPLE_EVENTS = EXAMPLES / "events.jsonl"
EXAMPLE_TRIGGERS = EXAMPLES / "triggers.yaml"


def _document(path: Path) -> Any:
    """A trigger or action file as written (JSON is YAML)."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _validator(kind: SchemaKind) -> Draft202012Validator:
    schema = json_schema(kind)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _errors(kind: SchemaKind, document: Any) -> list[str]:
    return [error.message for error in _validator(kind).iter_errors(document)]


def _example_files(kind: SchemaKind) -> list[Path]:
    if kind is SchemaKind.TRIGGER:
        return [EXAMPLE_TRIGGERS]
    return sorted(p for p in (EXAMPLES / "actions").iterdir() if p.suffix in SUFFIXES)


@pytest.mark.parametrize("kind", [SchemaKind.TRIGGER, SchemaKind.ACTION])
def test_every_example_file_is_valid(kind: SchemaKind) -> None:
    files = _example_files(kind)
    assert files
    for file in files:
        assert _errors(kind, _document(file)) == [], file


def test_the_example_events_are_valid_exactly_when_the_engine_accepts_them() -> None:
    validator = _validator(SchemaKind.EVENT)
    judged = 0
    for line in EXAMPLE_EVENTS.read_bytes().splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue  # not JSON: nothing for a schema to judge
        try:
            parse_event(line)
        except EventError:
            accepted = False
        else:
            accepted = True
        assert validator.is_valid(event) == accepted, line
        judged += 1
    assert judged == len(EXAMPLE_EVENTS.read_bytes().splitlines()) - 1


def test_a_generated_workload_is_valid(tmp_path: Path) -> None:
    workload = generate(WorkloadSpec(triggers=48, orgs=3, events=600))
    triggers, actions = tmp_path / "triggers.json", tmp_path / "actions.json"
    triggers.write_text(json.dumps({"triggers": workload.triggers}))
    actions.write_text(json.dumps(workload.actions))
    assert len(load_triggers(triggers)) == len(workload.triggers)  # the loaders take them too
    assert len(load_actions(actions)) == len(workload.actions)
    assert _errors(SchemaKind.TRIGGER, _document(triggers)) == []
    assert _errors(SchemaKind.ACTION, _document(actions)) == []
    validator = _validator(SchemaKind.EVENT)
    accepted = [e for e in workload.events if _engine_accepts(e)]
    assert len(accepted) > len(workload.events) // 2
    assert [e["id"] for e in accepted if not validator.is_valid(e)] == []


def _engine_accepts(event: dict[str, Any]) -> bool:
    try:
        parse_event(orjson.dumps(event))
    except EventError:
        return False
    return True


def _example_event(ev_type: str) -> dict[str, Any]:
    for line in EXAMPLE_EVENTS.read_bytes().splitlines():
        if f'"type": "{ev_type}"'.encode() in line:
            event: dict[str, Any] = json.loads(line)
            return event
    raise AssertionError(f"no {ev_type} event in the examples")


def _without(path: str) -> Callable[[dict[str, Any]], None]:
    *parents, name = path.split(".")

    def edit(event: dict[str, Any]) -> None:
        node = event
        for parent in parents:
            node = node[parent]
        del node[name]

    return edit


def _setting(name: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda event: event.__setitem__(name, value)


def _backfill(trigger: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    def edit(event: dict[str, Any]) -> None:
        event.update(type="trigger.backfill_requested", data={"trigger": trigger})
        event.pop("datasetid")

    return edit


WRONG_EVENTS = {
    "unknown event type": ("file.uploaded", _setting("type", "file.renamed")),
    "missing orgid": ("file.uploaded", _without("orgid")),
    "wrong specversion": ("dataset.created", _setting("specversion", "0.3")),
    "missing datasetid": ("dataset.created", _without("datasetid")),
    "a creation without its dataset": ("dataset.created", _without("data.dataset")),
    "an upload without its path": ("file.uploaded", _without("data.file.relative_path")),
    "a file without its id": ("file.uploaded", _without("data.file.file_id")),
    "a negative size": ("file.uploaded", lambda e: e["data"]["file"].update(size=-1)),
    "an absolute path": (
        "file.uploaded",
        lambda e: e["data"]["file"].update(relative_path="/run42/a.jpg"),
    ),
    "a completion without its upload": ("dataset.upload_completed", _without("transactionid")),
    "a backfill without its request id": ("dataset.created", _backfill({"name": "t"})),
}


@pytest.mark.parametrize("case", sorted(WRONG_EVENTS))
def test_a_wrong_event_is_refused_by_the_schema_as_by_the_engine(case: str) -> None:
    ev_type, edit = WRONG_EVENTS[case]
    event = _example_event(ev_type)
    assert _engine_accepts(event) and _validator(SchemaKind.EVENT).is_valid(event)
    wrong = copy.deepcopy(event)
    edit(wrong)
    with pytest.raises(EventError):
        event_from_dict(wrong)
    assert _errors(SchemaKind.EVENT, wrong) != []


def test_a_backfill_with_its_request_id_and_no_dataset_is_valid() -> None:
    event = _example_event("dataset.created")
    _backfill({"name": "t", "request_id": "rq-1"})(event)
    assert _engine_accepts(event)
    assert _errors(SchemaKind.EVENT, event) == []


def _first_trigger() -> dict[str, Any]:
    trigger: dict[str, Any] = _document(EXAMPLE_TRIGGERS)["triggers"][0]
    return trigger


@pytest.mark.parametrize(
    ("case", "edit"),
    [
        ("missing required_inputs", lambda t: t.pop("required_inputs")),
        ("missing org_id", lambda t: t.pop("org_id")),
        ("unknown field", lambda t: t.update(required_tags=["prod"])),
        ("unknown for_each", lambda t: t.update(for_each="org")),
    ],
)
def test_a_wrong_trigger_is_refused_by_the_schema_as_by_the_loader(
    tmp_path: Path, case: str, edit: Callable[[dict[str, Any]], None]
) -> None:
    trigger = _first_trigger()
    edit(trigger)
    path = tmp_path / "triggers.json"
    path.write_text(json.dumps([trigger]))
    with pytest.raises(ConfigError):
        load_triggers(path)
    assert _errors(SchemaKind.TRIGGER, [trigger]) != [], case
    assert _errors(SchemaKind.TRIGGER, {"triggers": [trigger]}) != [], case


@pytest.mark.parametrize("shape", ["list", "collection", "one item"])
def test_a_file_may_hold_a_list_a_collection_or_one_item(tmp_path: Path, shape: str) -> None:
    trigger = _first_trigger()
    document = {"list": [trigger], "collection": {"triggers": [trigger]}, "one item": trigger}
    path = tmp_path / "triggers.json"
    path.write_text(json.dumps(document[shape]))
    assert len(load_triggers(path)) == 1
    assert _errors(SchemaKind.TRIGGER, document[shape]) == []


def test_a_wrong_action_is_refused_by_the_schema_as_by_the_loader(tmp_path: Path) -> None:
    action: dict[str, Any] = _document(EXAMPLES / "actions" / "public.json")
    del action["org_id"]
    path = tmp_path / "actions.json"
    path.write_text(json.dumps(action))
    with pytest.raises(ConfigError):
        load_actions(path)
    assert _errors(SchemaKind.ACTION, action) != []


@pytest.mark.parametrize("kind", list(SchemaKind))
def test_schema_prints_the_same_sorted_json_every_time(kind: SchemaKind, capsys) -> None:
    assert main(["schema", kind.value]) == 0
    first = capsys.readouterr().out
    assert main(["schema", kind.value]) == 0
    assert capsys.readouterr().out == first
    printed = json.loads(first)
    assert printed == json_schema(kind)
    assert first == json.dumps(printed, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    assert printed["$schema"] == "https://json-schema.org/draft/2020-12/schema"
