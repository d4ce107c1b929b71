"""Every validation rule of triggers: at the model, in files, at registry put.

What needs nothing but the trigger is checked by the model and the file loader; what needs the
action catalog or compiled globs and conditions is checked by `compile_trigger` /
`TriggerRegistry.put`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from engine import registry as registry_module
from engine.actions import ActionCatalog, action_digest
from engine.compiled import DEFAULT_TIMEOUT_MINUTES, compile_trigger
from engine.errors import ConfigError
from engine.models import (
    Action,
    ActionReference,
    ContainerParameters,
    Trigger,
    derive_trigger_id,
    merge_container,
)
from engine.registry import TriggerRegistry, load_registry
from engine.trigger_files import load_triggers, put_trigger, trigger_from_dict, trigger_to_dict

ORG = "og_1"
PUBLIC_ORG = "og_public"
BASE: dict[str, Any] = {
    "name": "front-cam",
    "org_id": ORG,
    "action": "detect",
    "required_inputs": ["**/cam_front/*.jpg"],
}
DETECT = Action(
    org_id=ORG,
    name="detect",
    image_uri="img",
    parameters=[{"name": "threshold", "default": 9.8}, {"name": "model", "required": True}],
    compute_requirements={"vCPU": 1024, "memory": 2048},
)


def _trigger(**fields: Any) -> Trigger:
    return Trigger.model_validate({**BASE, **fields})


def _catalog() -> ActionCatalog:
    return ActionCatalog([DETECT, Action(org_id=PUBLIC_ORG, name="public-detect", image_uri="p")])


def _put(**fields: Any) -> TriggerRegistry:
    registry = TriggerRegistry(_catalog())
    trigger = _trigger(**{"parameter_values": {"model": "small"}, **fields})
    registry.put(trigger, place="triggers.json")
    return registry


def _put_error(**fields: Any) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        _put(**fields)
    return caught.value


# --- name -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a", "front-cam_1", "Front_Cam-2", "x" * 256, "-_-"])
def test_valid_names(name: str) -> None:
    assert _trigger(name=name).name == name


@pytest.mark.parametrize("name", ["", "x" * 257, "front cam", "front/cam", "a.b", "a\n"])
def test_invalid_names_are_rejected(name: str) -> None:
    with pytest.raises(ValidationError, match="must be 1-256 letters, digits"):
        _trigger(name=name)


@pytest.mark.parametrize("field", ["name", "org_id", "action", "required_inputs"])
def test_required_fields(field: str) -> None:
    data = {k: v for k, v in BASE.items() if k != field}
    with pytest.raises(ValidationError, match=field):
        Trigger.model_validate(data)


# --- action reference -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("detect", ActionReference(name="detect")),
        ("og_2/detect", ActionReference(name="detect", owner="og_2")),
        ("detect@abc123", ActionReference(name="detect", digest="abc123")),
        ("og_2/detect@abc123", ActionReference(name="detect", owner="og_2", digest="abc123")),
        ({"name": "detect"}, ActionReference(name="detect")),
        (
            {"name": "detect", "owner": "og_2", "digest": "abc123"},
            ActionReference(name="detect", owner="og_2", digest="abc123"),
        ),
    ],
)
def test_action_string_and_dict_forms(action: Any, expected: ActionReference) -> None:
    assert _trigger(action=action).action == expected


@pytest.mark.parametrize(
    "action", ["", "a/b/c", "/detect", "og_2/", "detect@", "@abc", "my detect", {"owner": "og_2"}]
)
def test_malformed_action_references_are_rejected(action: Any) -> None:
    with pytest.raises(ValidationError, match="action"):
        _trigger(action=action)


def test_action_dict_with_an_unknown_field_is_rejected() -> None:
    with pytest.raises(ValidationError, match=r"action\.version"):
        _trigger(action={"name": "detect", "version": 2})


def test_action_must_resolve_to_a_known_action() -> None:
    error = _put_error(action="unknown")
    assert error.thing == f"trigger 'front-cam' of org '{ORG}'"
    assert error.place == "triggers.json"
    assert "action unknown is not a known action" in error.reason


def test_owner_defaults_to_the_triggers_org_and_a_public_action_needs_its_owner() -> None:
    assert _put().get(ORG, "front-cam") is not None
    registry = _put(action=f"{PUBLIC_ORG}/public-detect", parameter_values={})
    compiled = registry.get(ORG, "front-cam")
    assert compiled is not None and compiled.failure is None
    assert "not a known action" in _put_error(action="public-detect", parameter_values={}).reason


def test_pinned_digest_must_match_the_action() -> None:
    assert _put(action=f"detect@{action_digest(DETECT)}").get(ORG, "front-cam") is not None
    assert "but the action's digest is" in _put_error(action=f"detect@{'0' * 64}").reason


# --- required inputs ------------------------------------------------------------------------


@pytest.mark.parametrize("inputs", [[], [""], ["", "   ", "\t"]])
def test_required_inputs_need_a_non_blank_pattern(inputs: list[str]) -> None:
    with pytest.raises(ValidationError, match="required_inputs"):
        _trigger(required_inputs=inputs)


def test_blank_patterns_beside_a_real_one_are_accepted() -> None:
    assert _trigger(required_inputs=["", "*.jpg"]).required_inputs == ["", "*.jpg"]


@pytest.mark.parametrize(
    ("inputs", "pattern"),
    [(["*.jpg", "img[0-9.png"], "img[0-9.png"), (["!*.tmp"], "!*.tmp"), (["!a", "!b"], "!b")],
)
def test_bad_globs_are_rejected_naming_the_pattern(inputs: list[str], pattern: str) -> None:
    error = _put_error(required_inputs=inputs)
    assert pattern in str(error)
    assert "front-cam" in str(error) and "required_inputs" in str(error)


def test_bad_glob_rejected_by_compile_trigger_leaves_nothing_behind() -> None:
    registry = _put()
    before = registry.get(ORG, "front-cam")
    bad = _trigger(required_inputs=["[abc"], parameter_values={"model": "m"})
    with pytest.raises(ConfigError, match="unclosed"):
        registry.put(bad, place="triggers.json")
    assert registry.get(ORG, "front-cam") is before and len(registry) == 1


# --- condition and its shorthands -----------------------------------------------------------

LEAF = {"field": "metadata.robot", "comparator": "EQUALS", "value": "r2"}


@pytest.mark.parametrize("sugar", [{"required_tag": ["prod"]}, {"required_metadata": {"k": 1}}])
def test_condition_and_shorthands_are_mutually_exclusive(sugar: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="mutually exclusive"):
        _trigger(condition=LEAF, **sugar)


def test_both_shorthands_together_are_accepted() -> None:
    registry = _put(required_tag=["prod"], required_metadata={"robot": "r2"})
    compiled = registry.get(ORG, "front-cam")
    assert compiled is not None
    dataset = {"tags": ["prod"], "metadata": {"robot": "r2"}}
    assert compiled.condition(dataset, None, None) is True
    assert compiled.condition({**dataset, "tags": []}, None, None) is False
    assert compiled.condition({**dataset, "metadata": {}}, None, None) is False


@pytest.mark.parametrize(
    "condition",
    [
        LEAF,
        {"operator": "NOT", "conditions": [LEAF, {"field": "tags", "comparator": "EXISTS"}]},
        {"==": [{"var": "dataset.metadata.robot"}, "r2"]},
    ],
)
def test_roboto_and_jsonlogic_conditions_are_accepted(condition: dict[str, Any]) -> None:
    compiled = _put(condition=condition).get(ORG, "front-cam")
    assert compiled is not None and compiled.condition.dialect != "none"


@pytest.mark.parametrize(
    ("condition", "reason"),
    [
        ({"field": "tags", "comparator": "CONTAINS"}, "CONTAINS needs a value"),
        ({"field": "tags", "comparator": "HAS", "value": "x"}, "unknown comparator 'HAS'"),
        ({"operator": "XOR", "conditions": [LEAF]}, "unknown operator 'XOR'"),
        ({"operator": "AND", "conditions": []}, "non-empty list"),
        ({"frobnicate": [1]}, "got keys 'frobnicate'"),
    ],
)
def test_invalid_conditions_are_rejected_at_put(condition: dict[str, Any], reason: str) -> None:
    error = _put_error(condition=condition)
    assert error.thing == f"trigger 'front-cam' of org '{ORG}' condition"
    assert reason in error.reason


FILE_CONDITIONS = [
    {"field": "file.relative_path", "comparator": "BEGINS_WITH", "value": "run1/"},
    {"operator": "OR", "conditions": [LEAF, {"field": "file.tags", "comparator": "EXISTS"}]},
    {"==": [{"var": "file.relative_path"}, "a.jpg"]},
]


@pytest.mark.parametrize("condition", FILE_CONDITIONS)
def test_file_fields_are_rejected_for_for_each_dataset(condition: dict[str, Any]) -> None:
    error = _put_error(condition=condition, for_each="dataset")
    assert error.thing == f"trigger 'front-cam' of org '{ORG}' condition"
    assert error.place == "triggers.json"
    assert "file fields are not allowed" in error.reason


@pytest.mark.parametrize("condition", FILE_CONDITIONS)
def test_file_fields_are_allowed_for_for_each_dataset_file(condition: dict[str, Any]) -> None:
    compiled = _put(condition=condition, for_each="dataset_file").get(ORG, "front-cam")
    assert compiled is not None and compiled.condition.references_file


def test_dataset_prefixed_fields_are_allowed_for_for_each_dataset() -> None:
    condition = {"field": "dataset.metadata.robot", "comparator": "EQUALS", "value": "r2"}
    assert _put(condition=condition).get(ORG, "front-cam") is not None


# --- causes, for_each, timeout, enabled -----------------------------------------------------


def test_defaults() -> None:
    trigger = _trigger()
    assert trigger.causes == ["file_upload", "dataset_metadata_update"]
    assert trigger.for_each == "dataset"
    assert (trigger.condition, trigger.additional_inputs, trigger.timeout) == (None, None, None)
    assert trigger.parameter_values == {} and trigger.enabled is True


@pytest.mark.parametrize(
    "causes",
    [["file_upload"], ["file_ingest"], ["file_metadata_update"], ["dataset_metadata_update"]],
)
def test_each_cause_is_accepted(causes: list[str]) -> None:
    assert _trigger(causes=causes).causes == causes


@pytest.mark.parametrize(
    ("causes", "message"),
    [
        (["file_deleted"], "causes"),
        (["file_upload", "upload"], "causes"),
        (["file_upload", "file_upload"], "lists a cause twice"),
        ([], "needs at least one cause"),
    ],
)
def test_bad_causes_are_rejected(causes: list[str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        _trigger(causes=causes)


@pytest.mark.parametrize("for_each", ["dataset", "dataset_file"])
def test_for_each_values(for_each: str) -> None:
    assert _trigger(for_each=for_each).for_each == for_each


@pytest.mark.parametrize("for_each", ["file", "dataset-file", "Dataset", ""])
def test_invalid_for_each_is_rejected(for_each: str) -> None:
    with pytest.raises(ValidationError, match="for_each"):
        _trigger(for_each=for_each)


@pytest.mark.parametrize("timeout", [0, -1])
def test_timeout_below_one_minute_is_rejected(timeout: int) -> None:
    with pytest.raises(ValidationError, match="timeout"):
        _trigger(timeout=timeout)


def test_timeout_of_one_minute_is_accepted() -> None:
    assert _trigger(timeout=1).timeout == 1


def test_disabled_trigger_still_validates_against_its_action() -> None:
    assert "not a known action" in _put_error(enabled=False, action="unknown").reason


# --- trigger_id -----------------------------------------------------------------------------


def test_trigger_id_is_derived_from_org_and_name_only() -> None:
    trigger = _trigger()
    assert trigger.trigger_id == derive_trigger_id(ORG, "front-cam")
    assert trigger.trigger_id.startswith("tr_")
    changed = _trigger(action="other", required_inputs=["*"], for_each="dataset_file")
    assert changed.trigger_id == trigger.trigger_id
    assert _trigger(name="back-cam").trigger_id != trigger.trigger_id
    assert _trigger(org_id="og_2").trigger_id != trigger.trigger_id


def test_derived_trigger_id_is_pinned() -> None:
    # Fired state is keyed by it: a changed derivation would re-fire every trigger after upgrade.
    assert derive_trigger_id("og_1", "front-cam") == "tr_0eb6024028295e49a988e851"


def test_explicit_trigger_id_is_kept() -> None:
    assert _trigger(trigger_id="tr_custom").trigger_id == "tr_custom"


# --- parameters and overrides against the action --------------------------------------------


def test_unknown_parameter_name_is_rejected() -> None:
    error = _put_error(parameter_values={"model": "m", "treshold": 1})
    assert error.place == "triggers.json" and "front-cam" in error.thing
    assert "parameter_values treshold not defined by action 'detect'" in error.reason


def test_required_parameter_without_default_or_value_is_rejected() -> None:
    registry = TriggerRegistry(_catalog())
    with pytest.raises(ConfigError, match="requires parameter model with no default") as caught:
        registry.put(_trigger(), place="triggers.json")
    assert caught.value.place == "triggers.json" and len(registry) == 0


def test_required_parameter_with_a_value_is_accepted() -> None:
    compiled = _put(parameter_values={"model": "large", "threshold": 3}).get(ORG, "front-cam")
    assert compiled is not None and compiled.template is not None


def test_invalid_merged_compute_is_rejected() -> None:
    error = _put_error(compute_requirement_overrides={"memory": 9000})
    assert "memory 9000 MiB is not valid with vCPU 1024" in error.reason


def test_valid_compute_override_is_accepted() -> None:
    registry = _put(compute_requirement_overrides={"vCPU": 2048, "memory": 4096, "gpu": True})
    assert registry.get(ORG, "front-cam") is not None


def test_compute_override_with_an_unknown_field_is_rejected() -> None:
    with pytest.raises(ValidationError, match=r"compute_requirement_overrides\.cpu"):
        _trigger(compute_requirement_overrides={"cpu": 1024})


def test_compile_trigger_needs_no_registry() -> None:
    trigger = _trigger(parameter_values={"model": "m"})
    compiled = compile_trigger(
        trigger, _catalog(), place="cli", default_timeout=DEFAULT_TIMEOUT_MINUTES
    )
    assert compiled.spec is trigger and compiled.causes == frozenset(trigger.causes)


def _numbered(count: int) -> list[tuple[Trigger, str]]:
    return [
        (
            _trigger(
                name=f"cam-{n}",
                required_inputs=[f"**/cam_{n}/*.jpg"],
                parameter_values={"model": "m"},
                condition={"field": "metadata.run", "comparator": "EQUALS", "value": n},
            ),
            f"triggers.yaml entry {n}",
        )
        for n in range(count)
    ]


def test_a_bulk_load_in_batches_equals_putting_one_by_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry_module, "LOAD_BATCH", 2)
    pairs = _numbered(5)
    one_by_one = TriggerRegistry(_catalog())
    for trigger, place in pairs:
        one_by_one.put(trigger, place=place)

    loaded = load_registry(iter(pairs), _catalog())

    assert [t.key for t in loaded] == [t.key for t in one_by_one]
    for n in range(5):
        path = f"r/cam_{n}/f.jpg"
        file = {"file_id": f"f{n}", "relative_path": path}
        found = loaded.index.file_matches(ORG, file, {})
        expected = one_by_one.index.file_matches(ORG, file, {})
        assert [t.name for t in found] == [t.name for t in expected]
        assert [t.name for t in found] == [f"cam-{n}"]
        assert found[0].condition.evaluate({"metadata": {"run": n}}, None, None)


@pytest.mark.parametrize(
    ("bad", "named"),
    [
        ({"required_inputs": ["[abc"]}, "required_inputs"),
        ({"condition": {"field": "tags", "comparator": "HAS", "value": "x"}}, "condition"),
    ],
)
def test_a_bulk_load_raises_for_the_invalid_trigger_naming_it_and_its_place(
    monkeypatch: pytest.MonkeyPatch, bad: dict[str, Any], named: str
) -> None:
    monkeypatch.setattr(registry_module, "LOAD_BATCH", 3)
    pairs = _numbered(5)
    invalid = Trigger.model_validate({**pairs[4][0].model_dump(), **bad})
    pairs[4] = (invalid, "triggers.yaml entry 4")

    with pytest.raises(ConfigError) as caught:
        load_registry(pairs, _catalog())

    message = str(caught.value)
    assert "'cam-4'" in message and "triggers.yaml entry 4" in message and named in message


# --- files ----------------------------------------------------------------------------------

FRONT = {**BASE, "parameter_values": {"model": "small"}}
BACK = {**BASE, "name": "back-cam", "required_inputs": ["**/cam_back/*.jpg"]}


def _write(path: Path, document: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(document) if path.suffix == ".json" else yaml.safe_dump(document)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("file_name", "document"),
    [
        ("t.json", [FRONT, BACK]),
        ("t.json", {"triggers": [FRONT, BACK]}),
        ("t.yaml", [FRONT, BACK]),
        ("t.yml", {"triggers": [FRONT, BACK]}),
    ],
)
def test_load_triggers_reads_json_and_yaml_lists_and_wrappers(
    tmp_path: Path, file_name: str, document: Any
) -> None:
    loaded = load_triggers(_write(tmp_path / file_name, document))
    assert loaded == [Trigger.model_validate(FRONT), Trigger.model_validate(BACK)]


@pytest.mark.parametrize("file_name", ["one.json", "one.yaml"])
def test_load_triggers_reads_a_single_object(tmp_path: Path, file_name: str) -> None:
    assert load_triggers(_write(tmp_path / file_name, FRONT)) == [Trigger.model_validate(FRONT)]


def test_load_triggers_reads_a_directory(tmp_path: Path) -> None:
    _write(tmp_path / "z" / "back.yaml", {"triggers": [BACK]})
    _write(tmp_path / "front.json", [FRONT])
    (tmp_path / "notes.txt").write_text("not a trigger", encoding="utf-8")
    assert [t.name for t in load_triggers(tmp_path)] == ["front-cam", "back-cam"]


def test_unknown_field_in_a_trigger_file_names_field_trigger_and_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.yaml", [FRONT, {**BACK, "requried_tag": ["prod"]}])
    with pytest.raises(ConfigError) as caught:
        load_triggers(path)
    error = caught.value
    assert error.thing == "trigger 'back-cam'"
    assert error.place is not None and str(path) in error.place and "#1" in error.place
    assert "unknown field 'requried_tag'" in error.reason
    assert all(part in str(error) for part in ("requried_tag", "back-cam", str(path)))


def test_non_object_item_in_a_trigger_file_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="expected an object, got str"):
        load_triggers(_write(tmp_path / "t.json", [FRONT, "back-cam"]))


def test_duplicate_trigger_in_one_file_is_rejected(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.json", [FRONT, BACK, {**FRONT, "required_inputs": ["*"]}])
    with pytest.raises(ConfigError, match="is defined twice") as caught:
        load_triggers(path)
    error = caught.value
    assert error.thing == f"trigger 'front-cam' of org '{ORG}'"
    assert error.place is not None and "#2" in error.place
    assert f"{path}:1 (trigger #0)" in error.reason


def test_duplicate_trigger_across_a_directory_is_rejected(tmp_path: Path) -> None:
    first = _write(tmp_path / "a.json", [FRONT])
    second = _write(tmp_path / "b" / "c.yaml", [BACK, FRONT])
    with pytest.raises(ConfigError, match="is defined twice") as caught:
        load_triggers(tmp_path)
    assert caught.value.place is not None and str(second) in caught.value.place
    assert str(first) in caught.value.reason


def test_same_name_in_two_orgs_is_not_a_duplicate(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.json", [FRONT, {**FRONT, "org_id": "og_2"}])
    assert [t.org_id for t in load_triggers(path)] == [ORG, "og_2"]


def test_trigger_from_dict_names_the_place() -> None:
    with pytest.raises(ConfigError, match="unknown field 'colour'") as caught:
        trigger_from_dict({**FRONT, "colour": "red"}, "command line")
    assert (caught.value.thing, caught.value.place) == ("trigger 'front-cam'", "command line")


# --- save / load ----------------------------------------------------------------------------

RICH: dict[str, Any] = {
    "name": "rich-trigger",
    "org_id": ORG,
    "trigger_id": "tr_explicit",
    "action": {"name": "detect", "owner": PUBLIC_ORG, "digest": "abc"},
    "required_inputs": ["**/*.ulg", "!tmp/", "data/[ab]*.csv"],
    "additional_inputs": ["calib/*.yaml"],
    "for_each": "dataset_file",
    "causes": ["file_ingest", "file_metadata_update"],
    "condition": {
        "operator": "AND",
        "conditions": [
            {"field": "metadata.site", "comparator": "EQUALS", "value": "Zürich"},
            {"field": "metadata.count", "comparator": "GREATER_THAN", "value": 2.5},
            {"field": "file.metadata.flag", "comparator": "EQUALS", "value": "true"},
            {"field": "metadata.gone", "comparator": "IS_NULL", "value": None},
        ],
    },
    "parameter_values": {"threshold": 9.8, "model": "yes", "empty": None},
    "compute_requirement_overrides": {"vCPU": 2048, "memory": 4096, "gpu": True},
    "container_parameter_overrides": {"command": ["run", "--fast"], "env_vars": {"A": "on"}},
    "timeout": 45,
    "enabled": False,
}
SUGARED = {**BASE, "name": "sugared", "required_tag": ["prod"], "required_metadata": {"n": 1}}
JSONLOGIC = {**BASE, "name": "logic", "condition": {"in": ["prod", {"var": "dataset.tags"}]}}
SAVED = [RICH, SUGARED, JSONLOGIC, FRONT, {**BACK, "org_id": "og_0"}]


@pytest.mark.parametrize("file_name", ["triggers.json", "triggers.yaml"])
def test_save_then_load_gives_equal_triggers(tmp_path: Path, file_name: str) -> None:
    triggers = [Trigger.model_validate(item) for item in SAVED]
    path = tmp_path / file_name
    for trigger in triggers:
        put_trigger(path, trigger)
    loaded = load_triggers(path)
    by_key = {t.key: t for t in triggers}
    assert len(loaded) == len(triggers)
    assert all(t == by_key[t.key] for t in loaded)
    assert [t.trigger_id for t in loaded] == [by_key[t.key].trigger_id for t in loaded]


@pytest.mark.parametrize("file_name", ["triggers.json", "triggers.yaml"])
def test_save_is_deterministic_and_keeps_the_order(tmp_path: Path, file_name: str) -> None:
    triggers = [Trigger.model_validate(item) for item in SAVED]
    first, second = tmp_path / "1" / file_name, tmp_path / "2" / file_name
    for path in (first, second):
        for trigger in reversed(triggers):
            put_trigger(path, trigger)
    once = first.read_bytes()
    for trigger in triggers:
        put_trigger(first, trigger)  # unchanged: the file is left as it was
    assert first.read_bytes() == once == second.read_bytes()
    assert load_triggers(first) == list(reversed(triggers))
    assert [p.name for p in first.parent.iterdir()] == [file_name]  # no temporary file left


def test_trigger_to_dict_writes_only_what_was_set_and_the_action_as_a_string() -> None:
    data = trigger_to_dict(Trigger.model_validate(RICH))
    assert data["action"] == f"{PUBLIC_ORG}/detect@abc"
    assert data["trigger_id"] == "tr_explicit"
    assert trigger_to_dict(_trigger()) == {**BASE}


def test_round_trip_keeps_an_explicit_null_container_override(tmp_path: Path) -> None:
    # A field set on the override replaces the action's (merge_container); an explicit null that
    # clears the action's workdir must mean the same after the trigger is saved and loaded.
    action_container = ContainerParameters(command=["run"], workdir="/w")
    trigger = _trigger(container_parameter_overrides={"workdir": None})
    path = tmp_path / "t.json"
    put_trigger(path, trigger)
    [loaded] = load_triggers(path)
    assert merge_container(action_container, loaded.container_parameter_overrides) == (
        merge_container(action_container, trigger.container_parameter_overrides)
    )
