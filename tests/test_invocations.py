"""Invocation requests encode from their template's parts to the very bytes of their JSON object."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.invocations import _VARIABLE, InvocationRequest, InvocationTemplate, invocation_id

# Any text, and text that looks like the template's own placeholders.
texts = st.text() | st.sampled_from(["\x00org_id\x00", "\x00files\x00", "\x00event_time\x00"])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)


def _template(name: str, parameters: dict[str, Any], timeout: int = 30) -> InvocationTemplate:
    return InvocationTemplate(
        trigger={"trigger_id": "tr_1", "name": name},
        action={"name": "detect", "owner": "og_1", "digest": None},
        for_each="dataset_file",
        required_inputs=["**/*.jpg"],
        additional_inputs=[],
        parameter_values=parameters,
        compute_requirements={"vCPU": 512, "memory": 1024, "storage": 21, "gpu": False},
        container_parameters={
            "entry_point": None,
            "command": None,
            "env_vars": {},
            "workdir": None,
        },
        timeout=timeout,
    )


def _request(template: InvocationTemplate, dataset_id: str, path: str) -> InvocationRequest:
    files = [{"file_id": "f1", "relative_path": path, "size": 3, "tags": []}]
    return template.request("og_1", dataset_id, "f1", files, "file_upload", "ev-1", None)


def test_a_request_reads_like_its_json_object() -> None:
    request = _request(_template("cam", {"model": "big"}), "ds_1", "a/b.jpg")
    assert request["invocation_id"] == invocation_id("tr_1", "ds_1", "f1")
    assert request["input_data"]["files"] == [{"file_id": "f1", "relative_path": "a/b.jpg"}]
    assert request["parameter_values"] == {"model": "big"}
    assert list(request)[:2] == ["invocation_id", "org_id"] and len(request) == 16
    assert orjson.loads(request.to_json()) == dict(request)


@settings(max_examples=300)
@given(name=texts, parameters=st.dictionaries(texts, json_values, max_size=4), value=texts)
def test_the_encoding_is_byte_identical_to_encoding_the_object(
    name: str, parameters: dict[str, Any], value: str
) -> None:
    request = _request(_template(name, parameters), value, value)
    assert request.to_json() == orjson.dumps(request.as_dict())


def test_a_fixed_value_holding_a_placeholder_is_encoded_whole() -> None:
    template = _template("\x00dataset_id\x00", {})
    assert template.encoded_parts() is None
    request = _request(template, "ds_1", "a.jpg")
    assert request.to_json() == orjson.dumps(dict(request))
    assert orjson.loads(request.to_json())["trigger"]["name"] == "\x00dataset_id\x00"


def test_a_plain_template_is_encoded_once_in_parts() -> None:
    template = _template("cam", {})
    parts = template.encoded_parts()
    assert parts is not None and len(parts) == len(_VARIABLE) + 1
    assert b'"name":"cam"' in parts[2]  # the trigger: fixed, after org_id
