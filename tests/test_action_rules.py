"""Every validation rule of actions (Roboto's `action.json` reference).

Covers the vCPU/memory table, storage, image sources, `inherits` (exclusions, resolution, unknown
parents, cycles, digests), owners, parameters, file loading and its error messages, the catalog's
duplicate check, and the trigger-against-action checks and compute/container merges.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from engine.actions import (
    ActionCatalog,
    ResolvedAction,
    action_digest,
    check_trigger_against_action,
    load_actions,
)
from engine.errors import ConfigError
from engine.models import (
    Action,
    ActionReference,
    ComputeRequirementOverrides,
    ComputeRequirements,
    ContainerParameters,
    Trigger,
    merge_compute,
    merge_container,
)

ORG = "og_1"
PUBLIC_ORG = "og_public"


def _action(**fields: Any) -> Action:
    return Action.model_validate({"org_id": ORG, "name": "detect", "image_uri": "img", **fields})


def _trigger(**fields: Any) -> Trigger:
    base = {"name": "front-cam", "org_id": ORG, "action": "detect", "required_inputs": ["*.jpg"]}
    return Trigger.model_validate({**base, **fields})


def _resolve(catalog: ActionCatalog, text: str, org_id: str = ORG) -> ResolvedAction:
    resolved = catalog.resolve(ActionReference.parse(text), org_id)
    assert resolved is not None, f"{text} should resolve for {org_id}"
    return resolved


# --- compute requirements: the vCPU / memory table -------------------------------------------

# vCPU, lowest valid memory, highest valid memory, a memory inside the range but off its steps,
# and the first step below / above the range.
TABLE = [
    (256, 512, 2048, 1536, 256, 3072),
    (512, 1024, 4096, 2500, 512, 5120),
    (1024, 2048, 8192, 2500, 1024, 9216),
    (2048, 4096, 16384, 5000, 3072, 17408),
    (4096, 8192, 30720, 9000, 7168, 31744),
    (8192, 16384, 61440, 17408, 12288, 65536),
    (16384, 32768, 122880, 36864, 24576, 131072),
]
VALID_PAIRS = [(row[0], memory) for row in TABLE for memory in row[1:3]]
INVALID_PAIRS = [(row[0], memory) for row in TABLE for memory in row[3:]]


@pytest.mark.parametrize(("vcpu", "memory"), VALID_PAIRS)
def test_lowest_and_highest_memory_of_each_vcpu_row_are_valid(vcpu: int, memory: int) -> None:
    action = _action(compute_requirements={"vCPU": vcpu, "memory": memory})
    assert action.compute_requirements == ComputeRequirements(vCPU=vcpu, memory=memory)


@pytest.mark.parametrize(("vcpu", "memory"), INVALID_PAIRS)
def test_memory_off_step_or_outside_the_row_is_rejected(vcpu: int, memory: int) -> None:
    with pytest.raises(ValidationError, match=f"memory {memory} MiB is not valid with vCPU {vcpu}"):
        _action(compute_requirements={"vCPU": vcpu, "memory": memory})


@pytest.mark.parametrize(
    ("vcpu", "memory"),
    [(1024, 3072), (2048, 10240), (4096, 20480), (8192, 20480), (16384, 40960), (512, 3072)],
)
def test_memory_on_a_step_inside_the_row_is_valid(vcpu: int, memory: int) -> None:
    assert ComputeRequirements(vCPU=vcpu, memory=memory).memory == memory


@pytest.mark.parametrize("vcpu", [0, 128, 768, 1000, 3072, 32768])
def test_unknown_vcpu_is_rejected(vcpu: int) -> None:
    with pytest.raises(ValidationError, match=f"vCPU {vcpu} is not one of"):
        _action(compute_requirements={"vCPU": vcpu, "memory": 2048})


def test_compute_defaults_are_those_of_the_reference() -> None:
    expected = ComputeRequirements(vCPU=512, memory=1024, storage=21, gpu=False)
    assert ComputeRequirements() == expected


@pytest.mark.parametrize("storage", [21, 200])
def test_storage_of_21_to_200_is_valid(storage: int) -> None:
    action = _action(compute_requirements={"storage": storage})
    assert action.compute_requirements == ComputeRequirements(storage=storage)


@pytest.mark.parametrize("storage", [20, 201])
def test_storage_outside_21_to_200_is_rejected(storage: int) -> None:
    with pytest.raises(ValidationError, match=f"storage {storage} GiB is outside 21-200"):
        _action(compute_requirements={"storage": storage})


# --- image source and inherits ----------------------------------------------------------------


def test_image_uri_and_docker_config_are_mutually_exclusive() -> None:
    with pytest.raises(ValidationError, match="image_uri and docker_config are mutually exclusive"):
        _action(docker_config={"dockerfile": "Dockerfile"})


@pytest.mark.parametrize(
    "source",
    [{"image_uri": "registry/detect:1"}, {"docker_config": {"context": ".", "build_args": {}}}],
)
def test_either_image_source_alone_is_accepted(source: dict[str, Any]) -> None:
    action = Action.model_validate({"org_id": ORG, "name": "detect", **source})
    assert (action.image_uri is None) != (action.docker_config is None)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("image_uri", "registry/detect:1"),
        ("docker_config", {"dockerfile": "Dockerfile"}),
        ("container_parameters", {"workdir": "/w"}),
        ("parameters", [{"name": "threshold"}]),
        ("requires_downloaded_inputs", False),
    ],
)
def test_inherits_excludes_what_it_inherits(field: str, value: Any) -> None:
    with pytest.raises(ValidationError, match=f"inherits base excludes {field}"):
        Action.model_validate({"org_id": ORG, "name": "child", "inherits": "base", field: value})


def test_inherits_allows_own_compute_timeout_and_descriptions() -> None:
    child = Action.model_validate(
        {
            "org_id": ORG,
            "name": "child",
            "inherits": {"name": "base", "owner": PUBLIC_ORG},
            "compute_requirements": {"vCPU": 1024, "memory": 4096},
            "timeout": 5,
            "description": "d",
            "short_description": "s",
            "tags": ["t"],
            "metadata": {"k": 1},
        }
    )
    assert child.inherits == ActionReference(name="base", owner=PUBLIC_ORG)


def _parent(**fields: Any) -> Action:
    return _action(
        name="base",
        parameters=[{"name": "threshold", "default": "9.8"}, {"name": "topic", "required": True}],
        container_parameters={"command": ["run"], "env_vars": {"A": "1"}},
        compute_requirements={"vCPU": 256, "memory": 512},
        timeout=60,
        **fields,
    )


def test_inherits_takes_image_parameters_and_container_from_the_parent() -> None:
    parent = _parent()
    child = Action(
        org_id=ORG,
        name="child",
        inherits=ActionReference(name="base"),
        compute_requirements=ComputeRequirements(vCPU=2048, memory=8192),
        timeout=7,
    )
    resolved = _resolve(ActionCatalog([parent, child]), "child")
    assert resolved.name == "child"
    assert resolved.owner == ORG
    assert resolved.digest == action_digest(child)
    assert resolved.parameters == tuple(parent.parameters)
    assert resolved.container_parameters == parent.container_parameters
    assert (resolved.image_uri, resolved.docker_config) == ("img", None)
    assert resolved.compute_requirements == ComputeRequirements(vCPU=2048, memory=8192)
    assert resolved.timeout == 7


def test_inherits_without_own_compute_or_timeout_takes_the_parents() -> None:
    catalog = ActionCatalog([_parent(), Action(org_id=ORG, name="child", inherits="base")])
    resolved = _resolve(catalog, "child")
    assert resolved.compute_requirements == ComputeRequirements(vCPU=256, memory=512)
    assert resolved.timeout == 60


def test_inherits_resolves_through_a_chain() -> None:
    catalog = ActionCatalog(
        [
            Action(org_id=ORG, name="grandchild", inherits="child"),
            Action(org_id=ORG, name="child", inherits="base", timeout=3),
            _parent(docker_config={"dockerfile": "D"}, image_uri=None),
        ]
    )
    resolved = _resolve(catalog, "grandchild")
    assert [p.name for p in resolved.parameters] == ["threshold", "topic"]
    assert resolved.docker_config is not None and resolved.docker_config.dockerfile == "D"
    assert resolved.timeout == 3


def test_inherits_owner_defaults_to_the_childs_org() -> None:
    public_base = Action(org_id=PUBLIC_ORG, name="base", image_uri="public-img")
    own_base = Action(org_id=ORG, name="base", image_uri="own-img")
    catalog = ActionCatalog(
        [
            public_base,
            own_base,
            Action(org_id=ORG, name="plain", inherits="base"),
            Action(org_id=ORG, name="public", inherits=f"{PUBLIC_ORG}/base"),
        ]
    )
    assert _resolve(catalog, "plain").image_uri == "own-img"
    assert _resolve(catalog, "public").image_uri == "public-img"


def test_inherits_of_an_unknown_action_fails_at_catalog_build() -> None:
    with pytest.raises(ConfigError, match="inherits unknown action missing") as caught:
        ActionCatalog([Action(org_id=ORG, name="child", inherits="missing")])
    assert caught.value.thing == f"action '{ORG}/child'"


def test_inherits_looks_in_the_childs_org_only_unless_an_owner_is_given() -> None:
    with pytest.raises(ConfigError, match="inherits unknown action base"):
        ActionCatalog(
            [
                Action(org_id=PUBLIC_ORG, name="base", image_uri="img"),
                Action(org_id=ORG, name="child", inherits="base"),
            ]
        )


@pytest.mark.parametrize(
    ("actions", "cycle"),
    [
        ([("a", "a")], "og_1/a -> og_1/a"),
        ([("a", "b"), ("b", "a")], "og_1/a -> og_1/b -> og_1/a"),
        ([("a", "b"), ("b", "c"), ("c", "a")], "og_1/a -> og_1/b -> og_1/c -> og_1/a"),
    ],
)
def test_an_inherits_cycle_fails_at_catalog_build(
    actions: list[tuple[str, str]], cycle: str
) -> None:
    with pytest.raises(ConfigError, match=f"inherits in a cycle: {cycle}"):
        ActionCatalog(Action(org_id=ORG, name=name, inherits=parent) for name, parent in actions)


def test_inherits_with_a_matching_pinned_digest_resolves() -> None:
    parent = _parent()
    child = Action(org_id=ORG, name="child", inherits=f"base@{action_digest(parent)}")
    assert _resolve(ActionCatalog([parent, child]), "child").parameters == tuple(parent.parameters)


def test_inherits_with_a_stale_pinned_digest_fails_at_catalog_build() -> None:
    child = Action(org_id=ORG, name="child", inherits=f"base@{action_digest(_action(name='x'))}")
    with pytest.raises(ConfigError, match="inherits unknown action base@"):
        ActionCatalog([_parent(), child])


# --- digests, owners, resolving -------------------------------------------------------------


def test_action_digest_is_a_stable_sha256_of_the_content() -> None:
    digest = action_digest(_action())
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert digest == action_digest(_action())
    assert digest != action_digest(_action(timeout=5))
    assert digest != action_digest(_action(org_id="og_2"))


def test_digest_does_not_depend_on_key_order() -> None:
    forwards = {"vCPU": 1024, "memory": 2048}
    backwards = {"memory": 2048, "vCPU": 1024}
    assert action_digest(_action(compute_requirements=forwards)) == action_digest(
        _action(compute_requirements=backwards)
    )


def test_a_matching_pinned_digest_resolves_and_a_different_one_does_not() -> None:
    action = _action()
    catalog = ActionCatalog([action])
    assert _resolve(catalog, f"detect@{action_digest(action)}").digest == action_digest(action)
    assert catalog.resolve(ActionReference(name="detect", digest="0" * 64), ORG) is None


def test_owner_defaults_to_the_triggers_org() -> None:
    catalog = ActionCatalog([_action()])
    assert _resolve(catalog, "detect").owner == ORG
    assert catalog.resolve(ActionReference(name="detect"), "og_2") is None


def test_an_action_of_another_owner_resolves_when_the_owner_is_named() -> None:
    catalog = ActionCatalog([_action(org_id=PUBLIC_ORG, name="public-detect")])
    resolved = _resolve(catalog, f"{PUBLIC_ORG}/public-detect", org_id=ORG)
    assert (resolved.name, resolved.owner) == ("public-detect", PUBLIC_ORG)
    assert catalog.resolve(ActionReference(name="public-detect"), ORG) is None


def test_an_unknown_action_does_not_resolve() -> None:
    assert ActionCatalog([_action()]).resolve(ActionReference(name="other"), ORG) is None


def test_resolve_fails_softly_once_a_parent_is_removed() -> None:
    catalog = ActionCatalog([_parent(), Action(org_id=ORG, name="child", inherits="base")])
    catalog.remove(ORG, "base")
    assert catalog.resolve(ActionReference(name="child"), ORG) is None


def test_a_resolution_follows_changes_to_the_action_and_to_its_parent() -> None:
    catalog = ActionCatalog([_parent(), Action(org_id=ORG, name="child", inherits="base")])
    first = _resolve(catalog, "child")
    assert _resolve(catalog, "child") is first  # every trigger of the action shares it
    assert first.timeout == 60  # the parent's
    catalog.add(_parent().model_copy(update={"timeout": 75}))
    assert _resolve(catalog, "child").timeout == 75
    pinned = f"child@{first.digest}"
    assert _resolve(catalog, pinned).digest == first.digest  # the child itself did not change
    catalog.add(Action(org_id=ORG, name="child", inherits="base", timeout=9))
    assert catalog.resolve(ActionReference.parse(pinned), ORG) is None
    catalog.remove(ORG, "base")
    assert catalog.resolve(ActionReference(name="child"), ORG) is None


def test_catalog_add_checks_inherits() -> None:
    catalog = ActionCatalog([_action()])
    with pytest.raises(ConfigError, match="inherits unknown action nowhere"):
        catalog.add(Action(org_id=ORG, name="child", inherits="nowhere"))
    assert len(catalog) == 1


# --- parameters -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("default", "expected"),
    [("9.8", "9.8"), (9.8, "9.8"), (25, "25"), (True, "true"), (False, "false"), (None, None)],
)
def test_parameter_default_is_coerced_to_a_string(default: Any, expected: str | None) -> None:
    action = _action(parameters=[{"name": "threshold", "default": default}])
    assert action.parameters[0].default == expected


def test_parameter_required_defaults_to_false() -> None:
    assert _action(parameters=[{"name": "p"}]).parameters[0].required is False


def test_duplicate_parameter_names_are_rejected() -> None:
    parameters = [{"name": "a"}, {"name": "topic"}, {"name": "topic", "default": "x"}]
    with pytest.raises(ValidationError, match="duplicate parameter names: topic"):
        _action(parameters=parameters)


@pytest.mark.parametrize("fields", [{"name": ""}, {"description": "no name"}])
def test_a_parameter_needs_a_name(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match=r"parameters\.0\.name"):
        _action(parameters=[fields])


@pytest.mark.parametrize("name", ["", "has space", "a/b", "x" * 257])
def test_action_name_rule(name: str) -> None:
    with pytest.raises(ValidationError, match="name"):
        _action(name=name)


def test_action_needs_an_owner() -> None:
    with pytest.raises(ValidationError, match="org_id"):
        Action.model_validate({"name": "detect", "image_uri": "img"})


@pytest.mark.parametrize("timeout", [0, -1])
def test_action_timeout_below_one_minute_is_rejected(timeout: int) -> None:
    with pytest.raises(ValidationError, match="timeout"):
        _action(timeout=timeout)


# --- files ----------------------------------------------------------------------------------

FULL_EXAMPLE = {
    "org_id": ORG,
    "name": "check-magnetometer-norm",
    "short_description": "Flag flights where magnetometer norm deviates from expected range",
    "description": "Computes the magnetometer vector norm for each flight.",
    "parameters": [
        {"name": "min_norm", "description": "Minimum (µT)", "required": False, "default": "25"},
        {"name": "max_norm", "description": "Maximum (µT)", "required": False, "default": "65"},
    ],
    "requires_downloaded_inputs": False,
    "compute_requirements": {"vCPU": 1024, "memory": 2048},
    "tags": ["diagnostics", "magnetometer"],
}
SECOND = {"org_id": ORG, "name": "detect", "image_uri": "img"}


def _write(path: Path, document: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(document) if path.suffix == ".json" else yaml.safe_dump(document)
    path.write_text(text, encoding="utf-8")
    return path


def test_the_reference_full_example_loads() -> None:
    action = Action.model_validate(FULL_EXAMPLE)
    assert [p.default for p in action.parameters] == ["25", "65"]
    assert action.compute_requirements == ComputeRequirements(vCPU=1024, memory=2048)


@pytest.mark.parametrize(
    ("file_name", "document"),
    [
        ("actions.json", [FULL_EXAMPLE, SECOND]),
        ("actions.json", {"actions": [FULL_EXAMPLE, SECOND]}),
        ("actions.yaml", [FULL_EXAMPLE, SECOND]),
        ("actions.yml", {"actions": [FULL_EXAMPLE, SECOND]}),
    ],
)
def test_load_actions_reads_json_and_yaml_lists_and_wrappers(
    tmp_path: Path, file_name: str, document: Any
) -> None:
    loaded = load_actions(_write(tmp_path / file_name, document))
    assert loaded == [Action.model_validate(FULL_EXAMPLE), Action.model_validate(SECOND)]


@pytest.mark.parametrize("file_name", ["action.json", "action.yaml"])
def test_load_actions_reads_a_single_action_object(tmp_path: Path, file_name: str) -> None:
    assert load_actions(_write(tmp_path / file_name, SECOND)) == [Action.model_validate(SECOND)]


def test_load_actions_reads_a_directory_recursively_in_path_order(tmp_path: Path) -> None:
    _write(tmp_path / "b" / "second.yaml", [SECOND])
    _write(tmp_path / "a.json", FULL_EXAMPLE)
    (tmp_path / "README.md").write_text("not an action", encoding="utf-8")
    names = [a.name for a in load_actions(tmp_path)]
    assert names == ["check-magnetometer-norm", "detect"]


def test_unknown_field_in_an_action_file_names_field_action_and_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "actions.json", [SECOND, {**FULL_EXAMPLE, "colour": "blue"}])
    with pytest.raises(ConfigError) as caught:
        load_actions(path)
    error = caught.value
    assert error.thing == "action 'check-magnetometer-norm'"
    assert error.place is not None and str(path) in error.place and "#1" in error.place
    assert "unknown field 'colour'" in error.reason


def test_unknown_nested_field_in_an_action_file_names_its_path(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.yaml", {**SECOND, "compute_requirements": {"cpu": 1024}})
    with pytest.raises(ConfigError, match=r"unknown field 'compute_requirements\.cpu'"):
        load_actions(path)


def test_invalid_action_file_is_reported_with_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text("[{", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid JSON") as caught:
        load_actions(path)
    assert caught.value.thing == str(path)


def test_a_missing_actions_path_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file or directory"):
        load_actions(tmp_path / "nowhere.json")


def test_duplicate_action_of_the_same_org_is_rejected(tmp_path: Path) -> None:
    _write(tmp_path / "one.json", SECOND)
    _write(tmp_path / "two.yaml", {**SECOND, "image_uri": "other"})
    with pytest.raises(ConfigError, match="is defined twice") as caught:
        ActionCatalog(load_actions(tmp_path))
    assert caught.value.thing == f"action '{ORG}/detect'"


def test_same_action_name_in_two_orgs_is_not_a_duplicate() -> None:
    catalog = ActionCatalog([_action(), _action(org_id="og_2", image_uri="other")])
    assert len(catalog) == 2
    assert _resolve(catalog, "detect", org_id="og_2").image_uri == "other"


# --- a trigger against its action -----------------------------------------------------------


def _resolved(**fields: Any) -> ResolvedAction:
    return _resolve(ActionCatalog([_action(**fields)]), "detect")


PARAMETERS = [
    {"name": "threshold", "default": 9.8},
    {"name": "topic", "required": True},
    {"name": "mode", "required": True, "default": "fast"},
    {"name": "note"},
]


def test_trigger_with_every_required_parameter_passes() -> None:
    action = _resolved(parameters=PARAMETERS)
    check_trigger_against_action(_trigger(parameter_values={"topic": "imu"}), action)


def test_unknown_parameter_value_is_rejected_with_the_known_ones() -> None:
    trigger = _trigger(parameter_values={"topic": "imu", "treshold": 1})
    with pytest.raises(ConfigError, match="parameter_values treshold not defined") as caught:
        check_trigger_against_action(trigger, _resolved(parameters=PARAMETERS))
    assert caught.value.thing == "trigger 'front-cam'"
    assert "mode, note, threshold, topic" in caught.value.reason


def test_required_parameter_without_default_or_value_is_rejected() -> None:
    with pytest.raises(ConfigError, match="requires parameter topic with no default"):
        check_trigger_against_action(_trigger(), _resolved(parameters=PARAMETERS))


def test_invalid_merged_compute_is_rejected() -> None:
    action = _resolved(compute_requirements={"vCPU": 1024, "memory": 2048})
    trigger = _trigger(compute_requirement_overrides={"memory": 9000})
    with pytest.raises(ConfigError, match="memory 9000 MiB is not valid with vCPU 1024"):
        check_trigger_against_action(trigger, action)


# --- merges ---------------------------------------------------------------------------------


def test_merge_compute_with_nothing_gives_the_defaults() -> None:
    assert merge_compute(None) == ComputeRequirements()
    assert merge_compute(None, None) == ComputeRequirements()


def test_merge_compute_overlays_set_fields_in_order() -> None:
    action = ComputeRequirements(vCPU=1024, memory=2048, storage=50)
    first = ComputeRequirementOverrides(vCPU=2048, memory=4096)
    second = ComputeRequirementOverrides(memory=16384, gpu=True)
    merged = merge_compute(action, first, None, second)
    assert merged == ComputeRequirements(vCPU=2048, memory=16384, storage=50, gpu=True)


def test_merge_compute_ignores_null_overrides() -> None:
    action = ComputeRequirements(vCPU=1024, memory=2048)
    overrides = ComputeRequirementOverrides.model_validate({"vCPU": None, "memory": None})
    assert merge_compute(action, overrides) == action


def test_merge_compute_validates_the_merged_whole() -> None:
    action = ComputeRequirements(vCPU=1024, memory=2048)
    with pytest.raises(ValidationError, match="memory 9000 MiB is not valid with vCPU 1024"):
        merge_compute(action, ComputeRequirementOverrides(memory=9000))
    with pytest.raises(ValidationError, match="storage 500 GiB"):
        merge_compute(action, ComputeRequirementOverrides(storage=500))


def test_merge_container_replaces_field_by_field() -> None:
    action = ContainerParameters(command=["run"], env_vars={"A": "1"}, workdir="/w")
    override = ContainerParameters(env_vars={"B": "2"}, entry_point=["sh", "-c"])
    assert merge_container(action, override) == ContainerParameters(
        entry_point=["sh", "-c"], command=["run"], env_vars={"B": "2"}, workdir="/w"
    )


def test_merge_container_with_nothing_on_either_side() -> None:
    action = ContainerParameters(workdir="/w")
    assert merge_container(None, None) == ContainerParameters()
    assert merge_container(action, None) == action
    assert merge_container(None, action) == action
