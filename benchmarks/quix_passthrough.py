"""The other side of the engine's comparison: an exactly-once quix-streams passthrough.

`python -m benchmarks.quix_passthrough --bootstrap-servers ... --group-id ... --events-topic ...
--output-topic ... --state-dir ...` runs a quix-streams `Application` (exactly-once, a consumer
group of its own) that parses each event's JSON and writes one invocation-shaped record per event
(the fields of an invocation request, built from the event, keyed by dataset id) to its output
topic. It evaluates no trigger, keeps no state and reads no registry: it is the cost of moving one
event to one invocation exactly once through the same broker, which no trigger engine can beat.

Its transactions commit as often as the engine's batches close (the engine's defaults of
`batch_timeout_ms` and `batch_max_records`), so that neither side buys throughput with latency.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from engine.compiled import DEFAULT_TIMEOUT_MINUTES
from engine.models import ComputeRequirements
from engine.service.settings import ServiceSettings

if TYPE_CHECKING:
    from quixstreams import Application

PASSTHROUGH_TRIGGER = "passthrough"
COMPUTE_DEFAULTS = ComputeRequirements().model_dump()
COMMIT_INTERVAL_S = ServiceSettings.model_fields["batch_timeout_ms"].default / 1000
COMMIT_EVERY = ServiceSettings.model_fields["batch_max_records"].default


def passthrough_id(dataset_id: str, file_id: str) -> str:
    """Deterministic, as an invocation id is: the same event always gives the same id."""
    material = f"{PASSTHROUGH_TRIGGER}\x00{dataset_id}\x00{file_id}"
    return hashlib.sha256(material.encode()).hexdigest()[:32]


def invocation_of(event: dict[str, Any]) -> dict[str, Any]:
    """An invocation request's fields for the file of an upload event, with no trigger behind it."""
    org_id, dataset_id = event["orgid"], event["datasetid"]
    file = event["data"]["file"]
    return {
        "invocation_id": passthrough_id(dataset_id, file["file_id"]),
        "org_id": org_id,
        "trigger": {"trigger_id": PASSTHROUGH_TRIGGER, "name": PASSTHROUGH_TRIGGER},
        "action": {"name": PASSTHROUGH_TRIGGER, "owner": org_id, "digest": None},
        "for_each": "dataset_file",
        "data_source": {"data_source_type": "Dataset", "data_source_id": dataset_id},
        "input_data": {
            "required_inputs": ["**/*"],
            "additional_inputs": [],
            "files": [{"file_id": file["file_id"], "relative_path": file["relative_path"]}],
        },
        "parameter_values": {},
        "compute_requirements": COMPUTE_DEFAULTS,
        "container_parameters": {
            "entry_point": None,
            "command": None,
            "env_vars": {},
            "workdir": None,
        },
        "timeout": DEFAULT_TIMEOUT_MINUTES,
        "invocation_source": "Trigger",
        "invocation_source_id": PASSTHROUGH_TRIGGER,
        "cause": "file_upload",
        "event_id": event["id"],
        "event_time": event["time"],
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.quix_passthrough",
        description="Exactly-once quix-streams passthrough: an invocation-shaped record per event.",
    )
    for flag in ("--bootstrap-servers", "--group-id", "--events-topic", "--output-topic"):
        parser.add_argument(flag, required=True)
    parser.add_argument("--state-dir", required=True, help="quix-streams' state directory")
    return parser


def build_application(args: argparse.Namespace) -> Application:
    # Imported here: the harness imports this module for `passthrough_id` and runs without
    # quix-streams installed until `--vs-quix` starts the passthrough.
    from quixstreams import Application

    app = Application(
        broker_address=args.bootstrap_servers,
        consumer_group=args.group_id,
        auto_offset_reset="earliest",
        processing_guarantee="exactly-once",
        commit_interval=COMMIT_INTERVAL_S,
        commit_every=COMMIT_EVERY,
        state_dir=args.state_dir,
        auto_create_topics=False,  # the harness creates both, with the engine's partition count
        loglevel="WARNING",
    )
    events = app.topic(args.events_topic, value_deserializer="json", key_deserializer="str")
    output = app.topic(args.output_topic, value_serializer="json", key_serializer="str")
    invocations = app.dataframe(events).apply(invocation_of)
    invocations.to_topic(output, key=lambda request: request["data_source"]["data_source_id"])
    return app


def main(argv: Sequence[str] | None = None) -> int:
    build_application(build_parser().parse_args(argv)).run()  # SIGTERM stops it gracefully
    return 0


if __name__ == "__main__":
    sys.exit(main())
