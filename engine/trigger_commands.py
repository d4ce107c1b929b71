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
from engine.documents import document_files
from engine.errors import ConfigError
from engine.models import VALID_MEMORY, ActionReference, Trigger
from engine.service.cli import add_command_kafka_options, kafka_settings
from engine.service.settings import ServiceSettings, validated
from engine.trigger_files import (
    delete_trigger,
    file_of_trigger,
    load_triggers,
    put_trigger,
    trigger_from_dict,
    trigger_to_dict,
)
from engine.vocabulary import LISTENABLE_CAUSES, ForEach

CLEARED = "null"  # as for `roboto`: a container override given so is removed
CONDITION_FIELDS = ("condition", "required_tag", "required_metadata")  # one replaces the others


class TriggerStore(Protocol):
    def load(self) -> list[Trigger]: ...
    def put(self, trigger: Trigger) -> None: ...
    def delete(self, trigger: Trigger) -> None: ...


class FileTriggerStore:
    """A triggers file, or a directory of them; only `create` may name a file that does not exist
    yet (it makes it). A trigger is changed in the file that defines it; a new one in a directory
    goes at the end of its last file (in reading order), the trigger that loads last."""

    def __init__(self, path: Path, *, may_be_new: bool) -> None:
        self.path = path
        self.may_be_new = may_be_new

    def load(self) -> list[Trigger]:
        if self.may_be_new and not self.path.exists():
            return []
        return load_triggers(self.path)

    def put(self, trigger: Trigger) -> None:
        put_trigger(self._file_of(trigger), trigger)

    def delete(self, trigger: Trigger) -> None:
        delete_trigger(self._file_of(trigger), trigger)

    def _file_of(self, trigger: Trigger) -> Path:
        if not self.path.is_dir():
            return self.path
        found = file_of_trigger(self.path, trigger)
        if found is not None:
            return found
        files = document_files(self.path)
        return files[-1] if files else self.path / "triggers.yaml"


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


def _container_changes(args: argparse.Namespace) -> dict[str, Any]:
    """The container fields the flags give; None for a field given as `null` (remove it)."""
    given = {
        "entry_point": args.entrypoint,
        "command": args.command_override,
        "workdir": args.workdir,
    }
    changes: dict[str, Any] = {}
    for field, text in given.items():
        if text is None:
            continue
        if text == CLEARED:
            changes[field] = None
        elif field == "entry_point":
            changes[field] = [text]
        elif field == "command":
            changes[field] = [text] if args.command_form == "shell" else shlex.split(text)
        else:
            changes[field] = text
    return changes


def _overrides(current: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """The current compute and container overrides with the flags applied field by field: what a
    flag does not name is kept, environment variables merge by name, `null` removes a field."""
    compute = {
        "vCPU": args.vcpu, "memory": args.memory, "storage": args.storage,
        "gpu": True if args.gpu else None,
    }  # fmt: skip
    merged_compute = {
        **current.get("compute_requirement_overrides", {}),
        **{k: v for k, v in compute.items() if v is not None},
    }
    container = dict(current.get("container_parameter_overrides", {}))
    for field, value in _container_changes(args).items():
        if value is None:
            container.pop(field, None)
        else:
            container[field] = value
    env = _key_values(args.env, "--env", as_json=False)
    if env is not None:
        container["env_vars"] = {**container.get("env_vars", {}), **env}
    return {
        "compute_requirement_overrides": merged_compute or None,
        "container_parameter_overrides": container or None,
    }


def _fields_from_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The trigger fields the flags set, overrides aside (None: not given)."""
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
        # Strings, as `roboto` passes them (and as action defaults are).
        "parameter_values": _key_values(args.parameter_value, "--parameter-value", as_json=False),
    }
    return {k: v for k, v in fields.items() if v is not None}


def _definition(current: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """`current` (a trigger's JSON form) changed by the definition and state flags."""
    changed = {**current, **_fields_from_flags(args), **_overrides(current, args)}
    if args.enabled is not None:
        changed["enabled"] = args.enabled
    return {k: v for k, v in changed.items() if v is not None}


def _org(args: argparse.Namespace, triggers: list[Trigger]) -> str:
    """The org of a new trigger: --org, or the one org of the store."""
    if args.org:
        return str(args.org)
    orgs = sorted({t.org_id for t in triggers})
    if len(orgs) == 1:
        return orgs[0]
    raise ConfigError("--org", None, "not given, ROBOTO_ORG_ID is not set, and it is not implicit")


def _named(args: argparse.Namespace, triggers: list[Trigger]) -> Trigger:
    """The trigger `args.trigger_name` of --org, or of the one org that has a trigger so named."""
    name = args.trigger_name
    named = [t for t in triggers if t.name == name and (not args.org or t.org_id == args.org)]
    if len(named) == 1:
        return named[0]
    if args.org:
        raise ConfigError(f"trigger {name!r} of org {args.org!r}", None, "does not exist")
    if not named:
        raise ConfigError(f"trigger {name!r}", None, "does not exist in any org")
    orgs = ", ".join(sorted(t.org_id for t in named))
    raise ConfigError(
        "--org",
        None,
        f"not given and ROBOTO_ORG_ID is not set, and trigger {name!r} is in orgs {orgs}: name one",
    )


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
    trigger = _validated(args, _definition({"name": args.name, "org_id": org}, args))
    store.put(trigger)
    _print(trigger_to_dict(trigger))
    return 0


def cmd_update(args: argparse.Namespace, store: TriggerStore) -> int:
    current = trigger_to_dict(_named(args, store.load()))
    if _fields_from_flags(args).keys() & CONDITION_FIELDS or args.clear_condition:
        for field in CONDITION_FIELDS:
            current.pop(field, None)
    trigger = _validated(args, _definition(current, args))
    store.put(trigger)
    _print(trigger_to_dict(trigger))
    return 0


def cmd_get(args: argparse.Namespace, store: TriggerStore) -> int:
    _print(trigger_to_dict(_named(args, store.load())))
    return 0


def cmd_delete(args: argparse.Namespace, store: TriggerStore) -> int:
    trigger = _named(args, store.load())
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
    return _named(args, store.load())


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
    """The `roboto triggers create|update` flags; list flags accumulate when repeated."""
    listed = "(repeatable: values accumulate)"
    parser.add_argument(
        "--action", required=create, help="the action to invoke: [owner/]name[@digest]"
    )
    parser.add_argument(
        "--required-inputs",
        action="extend",
        nargs="+",
        required=create,
        metavar="INPUT_DATA",
        help=f"glob patterns of the files the action needs {listed}",
    )
    parser.add_argument(
        "--additional-inputs",
        action="extend",
        nargs="+",
        metavar="INPUT_DATA",
        help=f"glob patterns of more files passed to the action when present {listed}",
    )
    parser.add_argument(
        "--parameter-value",
        action="extend",
        nargs="*",
        metavar="NAME=VALUE",
        help=f"action parameter values, as strings {listed}; on update they replace the "
        "current ones (the flag alone: none)",
    )
    parser.add_argument("--timeout", type=int, help="the invocation's timeout in minutes")
    parser.add_argument(
        "--vcpu",
        type=int,
        choices=sorted(VALID_MEMORY),
        help="compute override: vCPU units (on update the other compute overrides are kept)",
    )
    parser.add_argument("--memory", type=int, help="compute override: memory in MiB")
    parser.add_argument("--storage", type=int, help="compute override: ephemeral storage in GiB")
    parser.add_argument(
        "--gpu", action="store_true", default=None, help="compute override: run with a GPU"
    )
    cleared = f"`{CLEARED}` removes the override"
    parser.add_argument(
        "--entrypoint", help=f"container override: the entrypoint, one argument ({cleared})"
    )
    parser.add_argument(
        "--command",
        dest="command_override",
        metavar="COMMAND",
        help=f"container override: the command, split as --command-form says ({cleared})",
    )
    parser.add_argument(
        "--command-form",
        choices=["exec", "shell"],
        default="exec",
        help="exec: split --command into arguments as a shell would; shell: keep it one string "
        "(default: exec)",
    )
    parser.add_argument("--workdir", help=f"container override: the working directory ({cleared})")
    parser.add_argument(
        "--env",
        action="extend",
        nargs="+",
        metavar="KEY=VALUE",
        help=f"container override: environment variables {listed}; on update merged by name "
        "into the current ones",
    )
    parser.add_argument(
        "--for-each",
        choices=list(ForEach),
        help="invoke once per dataset, or once per matching file (dataset_file)",
    )
    parser.add_argument(
        "--causes",
        action="extend",
        nargs="+",
        choices=list(LISTENABLE_CAUSES),
        help=f"evaluation causes {listed} (default: file_upload dataset_metadata_update)",
    )
    sugar = parser.add_mutually_exclusive_group()
    sugar.add_argument(
        "--condition-json",
        help="the condition: inline JSON or a JSON file (replaces any tag/metadata condition)",
    )
    sugar.add_argument(
        "--required-tag",
        action="extend",
        nargs="*",
        metavar="TAG",
        help=f"dataset tags the condition requires {listed}",
    )
    parser.add_argument(
        "--required-metadata",
        action="extend",
        nargs="*",
        metavar="KEY=VALUE",
        help=f"dataset metadata the condition requires (values: JSON, else strings) {listed}",
    )


def _add_store_flags(parser: argparse.ArgumentParser, *, command: bool = False) -> None:
    """Where the triggers are; an operator `command` also writes to the events topic."""
    parser.add_argument(
        "--org",
        default=os.environ.get("ROBOTO_ORG_ID"),
        help="the trigger's org (env ROBOTO_ORG_ID); not needed when the trigger's name is in one "
        "org only of the file or topic (for create: when the file or topic has one org)",
    )
    parser.add_argument(
        "--triggers",
        type=Path,
        help="triggers file (JSON or YAML); it must exist, except for create",
    )
    if command:
        topics = ["--triggers-topic", "--events-topic", "--transactional-id-prefix"]
    else:
        parser.add_argument(
            "--actions", type=Path, help="actions file or directory to validate against"
        )
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
    p.add_argument("--name", required=True, help="the new trigger's name")
    _add_definition_flags(p, create=True)
    _add_state_flags(p)
    _add_store_flags(p)
    p.set_defaults(run=cmd_create)

    p = verbs.add_parser("update", help="update a trigger")
    p.add_argument("trigger_name", help="the trigger to update")
    _add_definition_flags(p, create=False)
    _add_state_flags(p)
    p.add_argument(
        "--clear-condition", action="store_true", help="remove the condition (always satisfied)"
    )
    _add_store_flags(p)
    p.set_defaults(run=cmd_update)

    for verb, run in (("get", cmd_get), ("delete", cmd_delete)):
        p = verbs.add_parser(verb, help=f"{verb} a trigger")
        p.add_argument("trigger_name", help=f"the trigger to {verb}")
        _add_store_flags(p)
        p.set_defaults(run=run)

    p = verbs.add_parser("search", help="search by exact name and/or action")
    p.add_argument("--name", help="the trigger's exact name")
    p.add_argument("--action", help="the action: [owner/]name[@digest] (owner: the trigger's org)")
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
    p.add_argument("trigger_name", help="the trigger to backfill")
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
    p.add_argument("trigger_name", help="the trigger whose action to invoke")
    p.add_argument("--dataset", required=True, help="dataset id")
    p.add_argument("--file", help="file id (dataset_file triggers only, and required for them)")
    p.add_argument("--idempotency-id", help="the invoke's id (default: a new one, printed)")
    _add_command_flags(p)
    p.set_defaults(run=cmd_invoke)

    triggers.set_defaults(func=run_triggers_command)


def run_triggers_command(args: argparse.Namespace) -> int:
    if args.triggers is not None and args.bootstrap_servers is None:
        store = FileTriggerStore(args.triggers, may_be_new=args.run is cmd_create)
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
