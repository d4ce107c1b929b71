"""deploy/k8s: the manifests parse, fit together, and set only what `trigger-engine run` has."""

from __future__ import annotations

import re
from typing import Any

import pytest

from engine.service.settings import ServiceSettings
from tests.deploy.surface import (
    DEPLOY,
    ENV_PREFIX,
    flag_of_env,
    run_default,
    run_options,
    run_settings,
    topic_plan,
    yaml_documents,
)

K8S = DEPLOY / "k8s"
Manifest = dict[str, Any]


@pytest.fixture(scope="module")
def manifests() -> dict[str, Manifest]:
    """Every object the kustomization applies, by kind (one of each)."""
    (kustomization,) = yaml_documents(K8S / "kustomization.yaml")
    by_kind: dict[str, Manifest] = {}
    for resource in kustomization["resources"]:
        for doc in yaml_documents(K8S / resource):
            assert {"apiVersion", "kind", "metadata"} <= doc.keys(), resource
            assert doc["metadata"].get("name"), resource
            assert doc["kind"] not in by_kind, f"two {doc['kind']} objects"
            by_kind[doc["kind"]] = doc
    return by_kind


def engine_container(manifests: dict[str, Manifest]) -> Manifest:
    (container,) = manifests["Deployment"]["spec"]["template"]["spec"]["containers"]
    return container


def settings(manifests: dict[str, Manifest]) -> dict[str, str]:
    """The variables the container gets: the ConfigMap's and the Secret's."""
    return {**manifests["ConfigMap"]["data"], **manifests["Secret"]["stringData"]}


def engine_settings(manifests: dict[str, Manifest]) -> ServiceSettings:
    return run_settings(engine_container(manifests)["args"], settings(manifests))


def test_every_file_in_the_directory_is_applied(manifests: dict[str, Manifest]) -> None:
    (kustomization,) = yaml_documents(K8S / "kustomization.yaml")
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == on_disk
    assert {"Deployment", "ConfigMap", "Secret", "PodDisruptionBudget", "Service"} <= set(manifests)


def test_the_image_name_is_the_one_the_kustomization_rewrites(
    manifests: dict[str, Manifest],
) -> None:
    (kustomization,) = yaml_documents(K8S / "kustomization.yaml")
    assert engine_container(manifests)["image"] in {i["name"] for i in kustomization["images"]}


def test_every_setting_is_a_variable_of_a_run_flag(manifests: dict[str, Manifest]) -> None:
    options = run_options()
    for name in settings(manifests):
        assert name.startswith(ENV_PREFIX), name
        assert flag_of_env(name) in options, (
            f"{name}: `trigger-engine run` has no {flag_of_env(name)}"
        )


def test_each_pod_is_a_static_group_member_named_after_itself(
    manifests: dict[str, Manifest],
) -> None:
    variables = {e["name"]: e for e in engine_container(manifests)["env"]}
    assert {flag_of_env(name) for name in variables} <= set(run_options())
    instance = variables["TRIGGER_ENGINE_GROUP_INSTANCE_ID"]["valueFrom"]["fieldRef"]
    assert instance["fieldPath"] == "metadata.name"
    settings = engine_settings(manifests)
    assert settings.heartbeat_interval_ms * 3 <= settings.session_timeout_ms


def test_the_container_runs_the_service_with_values_it_accepts(
    manifests: dict[str, Manifest],
) -> None:
    kafka = engine_settings(manifests).kafka
    assert kafka.security_protocol == "SASL_SSL"
    assert kafka.sasl_mechanism is not None and kafka.sasl_mechanism.startswith("SCRAM")


def test_settings_come_from_the_configmap_and_credentials_from_the_secret(
    manifests: dict[str, Manifest],
) -> None:
    sources = engine_container(manifests)["envFrom"]
    assert [s["configMapRef"]["name"] for s in sources if "configMapRef" in s] == [
        manifests["ConfigMap"]["metadata"]["name"]
    ]
    assert [s["secretRef"]["name"] for s in sources if "secretRef" in s] == [
        manifests["Secret"]["metadata"]["name"]
    ]
    secret_keys = set(manifests["Secret"]["stringData"])
    assert secret_keys == {"TRIGGER_ENGINE_SASL_USERNAME", "TRIGGER_ENGINE_SASL_PASSWORD"}
    assert not secret_keys & set(manifests["ConfigMap"]["data"])


@pytest.mark.parametrize(
    ("probe", "path"), [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")]
)
def test_probes_ask_the_service_on_its_http_port(
    manifests: dict[str, Manifest], probe: str, path: str
) -> None:
    container = engine_container(manifests)
    get = container[probe]["httpGet"]
    assert get["path"] == path
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports[get["port"]] == engine_settings(manifests).http_port


def test_metrics_are_scraped_from_the_http_port(manifests: dict[str, Manifest]) -> None:
    annotations = manifests["Deployment"]["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/path"] == "/metrics"
    assert int(annotations["prometheus.io/port"]) == engine_settings(manifests).http_port
    (port,) = manifests["Service"]["spec"]["ports"]
    assert port["targetPort"] == "http"


def test_the_grace_period_outlasts_the_shutdown_deadline(manifests: dict[str, Manifest]) -> None:
    pod = manifests["Deployment"]["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] > engine_settings(manifests).shutdown_timeout


def test_the_container_requests_cpu_and_memory(manifests: dict[str, Manifest]) -> None:
    resources = engine_container(manifests)["resources"]
    assert {"cpu", "memory"} <= resources["requests"].keys()
    assert "memory" in resources["limits"]


def test_the_disruption_budget_and_service_select_the_engine_pods(
    manifests: dict[str, Manifest],
) -> None:
    deployment = manifests["Deployment"]["spec"]
    selected = deployment["selector"]["matchLabels"]
    assert selected.items() <= deployment["template"]["metadata"]["labels"].items()
    assert manifests["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"] == selected
    assert manifests["PodDisruptionBudget"]["spec"]["maxUnavailable"] == 1
    assert manifests["Service"]["spec"]["selector"] == selected


def test_the_pod_runs_as_the_images_unprivileged_user(manifests: dict[str, Manifest]) -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    user = re.search(r"^USER (\d+):(\d+)$", dockerfile, re.MULTILINE)
    assert user
    pod = manifests["Deployment"]["spec"]["template"]["spec"]["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert (pod["runAsUser"], pod["runAsGroup"]) == (int(user.group(1)), int(user.group(2)))
    container = engine_container(manifests)["securityContext"]
    assert container["readOnlyRootFilesystem"] is True
    assert container["allowPrivilegeEscalation"] is False


def test_replicas_do_not_exceed_the_input_partitions(manifests: dict[str, Manifest]) -> None:
    # A replica beyond the partition count of the events topic gets no partition and idles.
    events = topic_plan()[run_default("--events-topic")]
    assert 1 < manifests["Deployment"]["spec"]["replicas"] <= events.partitions


def test_topic_names_match_the_topic_plan(manifests: dict[str, Manifest]) -> None:
    topics = {v for k, v in manifests["ConfigMap"]["data"].items() if k.endswith("_TOPIC")}
    assert topics == set(topic_plan(**manifests["ConfigMap"]["data"]))
