"""`trigger-engine triggers create|update|get|search|delete|list`, with `roboto triggers` flags,
and the operator commands `triggers backfill|invoke`.

Triggers live in a file (`--triggers PATH`) or in the registry topic (`--bootstrap-servers`).
Every create/update compiles the trigger against the actions, so what is stored always loads.
A backfill or an invoke is an event (`engine.command_events`): checked here against the trigger it
names, then printed as a line for an event log, or written to the events topic.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import sys
from pathlib import Path
from typing import Any, Protocol

from engine.actions import ActionCatalog, load_actions
from engine.command_events import (
    CommandEvent,
    backfill_requested,
    checked_time,
    invoke_requested,
    new_command_id,
    now,
)
from engine.compiled import DEFAULT_TIMEOUT_MINUTES, compile_trigger
from engine.errors import ConfigError
from engine.models import VALID_MEMORY, ActionReference, Trigger
from engine.service.cli import add_command_kafka_options, kafka_settings
from engine.service.settings import ServiceSettings, validated
from engine.trigger_files import load_triggers, save_triggers, trigger_from_dict, trigger_to_dict
from engine.vocabulary import LISTENABLE_CAUSES, ForEach


class TriggerStore(Protocol):
    def load(self) -> list[Trigger]: ...
    def put(self, trigger: Trigger) -> None: ...
    def delete(self, trigger: Trigger) -> None: ...


class FileTriggerStore:
    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> list[Trigger]:
        return load_triggers(self.path) if self.path.exists() else []

    def put(self, trigger: Trigger) -> None:
        others = [t for t in self.load() if t.key != trigger.key]
        save_triggers(self.path, [*others, trigger])

    def delete(self, trigger: Trigger) -> None:
        save_triggers(self.path, [t for t in self.load() if t.key != trigger.key])


def _key_values(pairs: list[str] | None, flag: str, *, as_json: bool) -> dict[str, Any] | None:
    """`k=v` pairs; values parsed as JSON when they are JSON (as `roboto` does), else strings."""
    if pairs is None:
        return None
    result: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"{flag} {pair!r}", None, "expected KEY=VALUE")
        result[key] = _json_or_text(value) if as_json else value
    return result


def _json_or_text(value: str) -> Any:
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def _condition(text: str) -> dict[str, Any]:
    """Inline JSON or a path to a JSON file, as `--condition-json` takes it."""
    source = Path(text).read_text(encoding="utf-8") if Path(text).is_file() else text
    try:
        condition = json.loads(source)
    except json.JSONDecodeError as exc:
        raise ConfigError("--condition-json", None, f"not valid JSON: {exc}") from None
    if not isinstance(condition, dict):
        raise ConfigError("--condition-json", None, "must be a JSON object")
    return condition


def _command(args: argparse.Namespace) -> list[str] | None:
    if args.command_override is None:
        return None
    if args.command_form == "shell":
        return [args.command_override]
    return shlex.split(args.command_override)


def _fields_from_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The trigger fields the flags set (None: not given)."""
    compute = {
        "vCPU": args.vcpu, "memory": args.memory, "storage": args.storage,
        "gpu": True if args.gpu else None,
    }  # fmt: skip
    container = {
        "entry_point": [args.entrypoint] if args.entrypoint is not None else None,
        "command": _command(args),
        "workdir": args.workdir,
        "env_vars": _key_values(args.env, "--env", as_json=False),
    }
    fields: dict[str, Any] = {
        "action": args.action,
        "required_inputs": args.required_inputs,
        "additional_inputs": args.additional_inputs,
        "for_each": args.for_each,
        "causes": args.causes,
        "timeout": args.timeout,
        "condition": _condition(args.condition_json) if args.condition_json else None,
        "required_tag": args.required_tag,
        "required_metadata": _key_values(
            args.required_metadata, "--required-metadata", as_json=True
        ),
        "parameter_values": _key_values(args.parameter_value, "--parameter-value", as_json=True),
        "compute_requirement_overrides": {k: v for k, v in compute.items() if v is not None}
        or None,
        "container_parameter_overrides": {k: v for k, v in container.items() if v is not None}
        or None,
    }
    return {k: v for k, v in fields.items() if v is not None}


def _org(args: argparse.Namespace, triggers: list[Trigger]) -> str:
    if args.org:
        return str(args.org)
    orgs = sorted({t.org_id for t in triggers})
    if len(orgs) == 1:
        return orgs[0]
    raise ConfigError("--org", None, "not given, ROBOTO_ORG_ID is not set, and it is not implicit")


def _find(triggers: list[Trigger], org: str, name: str) -> Trigger:
    for trigger in triggers:
        if trigger.org_id == org and trigger.name == name:
            return trigger
    raise ConfigError(f"trigger {name!r} of org {org!r}", None, "does not exist")


def _validated(args: argparse.Namespace, data: dict[str, Any]) -> Trigger:
    trigger = trigger_from_dict(data, "command line")
    if args.actions is None:
        raise ConfigError("--actions", None, "needed to validate the trigger against its action")
    catalog = ActionCatalog(load_actions(args.actions))
    compile_trigger(trigger, catalog, place="command line", default_timeout=DEFAULT_TIMEOUT_MINUTES)
    return trigger


def _print(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def cmd_create(args: argparse.Namespace, store: TriggerStore) -> int:
    existing = store.load()
    org = _org(args, existing)
    if any(t.org_id == org and t.name == args.name for t in existing):
        raise ConfigError(f"trigger {args.name!r} of org {org!r}", None, "already exists")
    fields = {"name": args.name, "org_id": org, **_fields_from_flags(args)}
    if args.enabled is not None:
        fields["enabled"] = args.enabled
    trigger = _validated(args, fields)
    store.put(trigger)
    _print(trigger_to_dict(trigger))
    return 0


def cmd_update(args: argparse.Namespace, store: TriggerStore) -> int:
    existing = store.load()
    current = trigger_to_dict(_find(existing, _org(args, existing), args.trigger_name))
    changes = _fields_from_flags(args)
    if changes.keys() & {"condition", "required_tag", "required_metadata"} or args.clear_condition:
        for field in ("condition", "required_tag", "required_metadata"):
            current.pop(field, None)
    if args.enabled is not None:
        changes["enabled"] = args.enabled
    trigger = _validated(args, {**current, **changes})
    store.put(trigger)
    _print(trigger_to_dict(trigger))
    return 0


def cmd_get(args: argparse.Namespace, store: TriggerStore) -> int:
    existing = store.load()
    _print(trigger_to_dict(_find(existing, _org(args, existing), args.trigger_name)))
    return 0


def cmd_delete(args: argparse.Namespace, store: TriggerStore) -> int:
    existing = store.load()
    trigger = _find(existing, _org(args, existing), args.trigger_name)
    store.delete(trigger)
    sys.stderr.write(f"deleted trigger {trigger.name!r} of org {trigger.org_id!r}\n")
    return 0


def cmd_search(args: argparse.Namespace, store: TriggerStore) -> int:
    found = store.load()
    if args.org:
        found = [t for t in found if t.org_id == args.org]
    if args.name:
        found = [t for t in found if t.name == args.name]
    if args.action:
        wanted = ActionReference.parse(args.action)
        found = [t for t in found if _same_action(t, wanted)]
    _print([trigger_to_dict(t) for t in sorted(found, key=lambda t: (t.org_id, t.name))])
    return 0


def _same_action(trigger: Trigger, wanted: ActionReference) -> bool:
    ref = trigger.action
    return (
        ref.name == wanted.name
        and (wanted.owner is None or (ref.owner or trigger.org_id) == wanted.owner)
        and (wanted.digest is None or ref.digest == wanted.digest)
    )


def cmd_backfill(args: argparse.Namespace, store: TriggerStore) -> int:
    trigger = _commanded(args, store)
    if not trigger.enabled:
        sys.stderr.write(
            f"warning: trigger {trigger.name!r} is disabled: its backfill records trigger_disabled "
            f"and invokes nothing (enable it first: triggers update {trigger.name} --enabled)\n"
        )
    time = _time(args)
    request_id = args.request_id or _generated("request id", "--request-id")
    command = backfill_requested(
        trigger.org_id, trigger.name, request_id, rerun=args.rerun, time=time
    )
    return _send(args, command)


def cmd_invoke(args: argparse.Namespace, store: TriggerStore) -> int:
    trigger = _commanded(args, store)
    per_file = trigger.for_each is ForEach.DATASET_FILE
    if per_file and args.file is None:
        raise ConfigError(
            "--file", None, f"required: {trigger.name!r} is for_each dataset_file (name the file)"
        )
    if not per_file and args.file is not None:
        raise ConfigError(
            "--file",
            None,
            f"not allowed: {trigger.name!r} is for_each dataset (it invokes for the whole dataset)",
        )
    time = _time(args)
    idempotency_id = args.idempotency_id or _generated("idempotency id", "--idempotency-id")
    command = invoke_requested(
        trigger.org_id, args.dataset, trigger.name, idempotency_id, file_id=args.file, time=time
    )
    return _send(args, command)


def _commanded(args: argparse.Namespace, store: TriggerStore) -> Trigger:
    existing = store.load()
    return _find(existing, _org(args, existing), args.trigger_name)


def _generated(what: str, flag: str) -> str:
    """A fresh id, told to the operator: repeating the command with it repeats the same event."""
    made = new_command_id()
    sys.stderr.write(f"{what}: {made} (pass {flag} {made} to repeat this same command)\n")
    return made


def _time(args: argparse.Namespace) -> str:
    return now() if args.time is None else checked_time(args.time, "--time")


def _send(args: argparse.Namespace, command: CommandEvent) -> int:
    """The command as a line on stdout, or, with `--bootstrap-servers`, to the events topic."""
    if args.bootstrap_servers is None:
        sys.stdout.write(command.line() + "\n")
        return 0
    from aiokafka.errors import KafkaError  # Kafka only when asked for

    from engine.service.command_writer import write_command

    values = {
        "events_topic": args.events_topic,
        "triggers_topic": args.triggers_topic,
        "transactional_id_prefix": args.transactional_id_prefix,
        "kafka": kafka_settings(args),
    }
    settings = validated(
        ServiceSettings, values, "command-line flags and TRIGGER_ENGINE_* variables"
    )
    topic = settings.events_topic
    try:
        partitions = asyncio.run(
            write_command(settings.kafka, topic, command, settings.transactional_id_prefix)
        )
    except (KafkaError, OSError) as exc:
        sys.stderr.write(
            f"trigger-engine: error: cannot write {command.type} {command.id!r} to {topic!r} "
            f"(brokers {settings.kafka.bootstrap_servers}): {exc!r}\n"
        )
        return 1
    where = ", ".join(str(p) for p in partitions)
    sys.stderr.write(
        f"wrote {command.type} {command.id!r} to {topic!r} "
        f"(partition{'s' if len(partitions) > 1 else ''} {where}, key {command.key!r})\n"
    )
    return 0


def _add_definition_flags(parser: argparse.ArgumentParser, *, create: bool) -> None:
    parser.add_argument("--action", required=create, help="[owner/]name[@digest]")
    parser.add_argument("--required-inputs", nargs="+", required=create, metavar="INPUT_DATA")
    parser.add_argument("--additional-inputs", nargs="+")
    parser.add_argument("--parameter-value", nargs="*", metavar="NAME=VALUE")
    parser.add_argument("--timeout", type=int, help="minutes")
    parser.add_argument("--vcpu", type=int, choices=sorted(VALID_MEMORY))
    parser.add_argument("--memory", type=int)
    parser.add_argument("--storage", type=int)
    parser.add_argument("--gpu", action="store_true", default=None)
    parser.add_argument("--entrypoint")
    parser.add_argument("--command", dest="command_override")
    parser.add_argument("--command-form", choices=["exec", "shell"], default="exec")
    parser.add_argument("--workdir")
    parser.add_argument("--env", nargs="*", metavar="KEY=VALUE")
    parser.add_argument("--for-each", choices=list(ForEach))
    parser.add_argument(
        "--causes",
        nargs="+",
        choices=list(LISTENABLE_CAUSES),
        help="evaluation causes (default: file_upload dataset_metadata_update)",
    )
    sugar = parser.add_mutually_exclusive_group()
    sugar.add_argument("--condition-json", help="inline JSON or a JSON file")
    sugar.add_argument("--required-tag", nargs="*")
    parser.add_argument("--required-metadata", nargs="*", metavar="KEY=VALUE")


def _add_store_flags(parser: argparse.ArgumentParser, *, command: bool = False) -> None:
    """Where the triggers are; an operator `command` also writes to the events topic."""
    parser.add_argument(
        "--org", default=os.environ.get("ROBOTO_ORG_ID"), help="(env ROBOTO_ORG_ID)"
    )
    parser.add_argument("--triggers", type=Path, help="triggers file (JSON or YAML)")
    if command:
        topics = ["--triggers-topic", "--events-topic", "--transactional-id-prefix"]
    else:
        parser.add_argument("--actions", type=Path, help="actions to validate against")
        topics = ["--triggers-topic"]
    add_command_kafka_options(parser, topics)


def _add_command_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--time", help="the event's time, ISO 8601 with a zone (default: now)")
    _add_store_flags(parser, command=True)


def _add_state_flags(parser: argparse.ArgumentParser) -> None:
    state = parser.add_mutually_exclusive_group()
    state.add_argument("--enabled", action="store_true", default=None, help="resume the trigger")
    state.add_argument(
        "--disabled",
        dest="enabled",
        action="store_false",
        help="pause it: its evaluation points record trigger_disabled and are not replayed on "
        "--enabled (catch up with `triggers backfill`)",
    )


def add_triggers_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    triggers = sub.add_parser("triggers", help="create, update, get, search, delete, list triggers")
    verbs = triggers.add_subparsers(dest="verb", required=True, metavar="VERB")

    p = verbs.add_parser("create", help="create a trigger")
    p.add_argument("--name", required=True)
    _add_definition_flags(p, create=True)
    _add_state_flags(p)
    _add_store_flags(p)
    p.set_defaults(run=cmd_create)

    p = verbs.add_parser("update", help="update a trigger")
    p.add_argument("trigger_name")
    _add_definition_flags(p, create=False)
    _add_state_flags(p)
    p.add_argument("--clear-condition", action="store_true")
    _add_store_flags(p)
    p.set_defaults(run=cmd_update)

    for verb, run in (("get", cmd_get), ("delete", cmd_delete)):
        p = verbs.add_parser(verb, help=f"{verb} a trigger")
        p.add_argument("trigger_name")
        _add_store_flags(p)
        p.set_defaults(run=run)

    p = verbs.add_parser("search", help="search by exact name and/or action")
    p.add_argument("--name")
    p.add_argument("--action")
    _add_store_flags(p)
    p.set_defaults(run=cmd_search)

    p = verbs.add_parser("list", help="list all triggers (of --org, if given)")
    _add_store_flags(p)
    p.set_defaults(run=cmd_search, name=None, action=None)

    p = verbs.add_parser(
        "backfill",
        help="evaluate a trigger for every dataset of its org now (a command event)",
        description="Evaluate TRIGGER_NAME, cause `backfill`, for every dataset of its org the "
        "engine knows, whatever the trigger's causes: it fires where it is satisfied and has not "
        "fired yet (with --rerun, also where it has). The trigger must exist (in --triggers FILE, "
        "or in the registry topic). The command is an event: printed as a JSON line to append to "
        "an event log for replay, or with --bootstrap-servers written to every partition of the "
        "events topic in one transaction (its transactional id starts with "
        "--transactional-id-prefix). Its time (now, or --time) is the event_time of the "
        "invocations it makes.",
    )
    p.add_argument("trigger_name")
    p.add_argument("--rerun", action="store_true", help="fire again where it fired before")
    p.add_argument("--request-id", help="the backfill's id (default: a new one, printed)")
    _add_command_flags(p)
    p.set_defaults(run=cmd_backfill)

    p = verbs.add_parser(
        "invoke",
        help="invoke a trigger's action for a dataset or file now (a command event)",
        description="Invoke TRIGGER_NAME's action for dataset --dataset (for a dataset_file "
        "trigger: its file --file) now, whatever the trigger's condition and causes and whether "
        "it fired before, with the current files its inputs match. Invokes with the same "
        "idempotency id invoke once. The trigger must exist (in --triggers FILE, or in the "
        "registry topic). The command is an event: printed as a JSON line to append to "
        "an event log for replay, or with --bootstrap-servers written to the events topic, keyed "
        "by the dataset. Its time (now, or --time) is the event_time of the invocation.",
    )
    p.add_argument("trigger_name")
    p.add_argument("--dataset", required=True, help="dataset id")
    p.add_argument("--file", help="file id (dataset_file triggers only, and required for them)")
    p.add_argument("--idempotency-id", help="the invoke's id (default: a new one, printed)")
    _add_command_flags(p)
    p.set_defaults(run=cmd_invoke)

    triggers.set_defaults(func=run_triggers_command)


def run_triggers_command(args: argparse.Namespace) -> int:
    if args.triggers is not None and args.bootstrap_servers is None:
        store = FileTriggerStore(args.triggers)
        return int(args.run(args, store))
    if args.bootstrap_servers is not None and args.triggers is None:
        from engine.service.cli import against_kafka
        from engine.service.registry_topic import TopicTriggerStore  # Kafka only when asked for

        topic_store = TopicTriggerStore(kafka_settings(args), args.triggers_topic)
        return against_kafka(lambda: int(args.run(args, topic_store)), args.bootstrap_servers)
    raise ConfigError(
        "triggers",
        None,
        "give exactly one of --triggers FILE or --bootstrap-servers "
        "(TRIGGER_ENGINE_BOOTSTRAP_SERVERS counts as --bootstrap-servers)",
    )
