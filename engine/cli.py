"""`trigger-engine` command line: replay, validate, explain, whatif, schema, evaluations, triggers,
run, admin."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import IO

import orjson

from engine.actions import ActionCatalog, checked_actions
from engine.api import build_registry
from engine.compiled import DEFAULT_TIMEOUT_MINUTES, CompiledTrigger
from engine.errors import ConfigError, EngineError
from engine.evaluation_history import add_evaluations_parser
from engine.evaluator import Evaluator
from engine.events import DEFAULT_MAX_EVENT_BYTES
from engine.explain import TriggerHistory, explain
from engine.progress import Progress
from engine.registry import TriggerRegistry
from engine.replay import committing, read_events, replay, temporary_disk_store
from engine.schemas import SchemaKind, schema_text
from engine.service.cli import (
    add_admin_parser,
    add_replay_kafka_options,
    add_run_parser,
    against_kafka,
    replay_events,
)
from engine.service.settings import ServiceSettings
from engine.sinks import JsonlSink
from engine.state import StateStore
from engine.trigger_commands import add_triggers_parser
from engine.trigger_files import checked_trigger_entries
from engine.vocabulary import Cause
from engine.whatif import what_if

EXIT_USAGE = 2

Command = Callable[[argparse.Namespace], int]


def validation_errors(triggers_path: Path, actions_path: Path) -> tuple[int, list[str]]:
    """(number of valid triggers, every error) — `validate` reports them all, not just the first:
    those of each action and trigger (its file and line), then the triggers' against the actions."""
    actions, action_errors = checked_actions(actions_path)
    errors = [str(error) for error in action_errors]
    registry = TriggerRegistry(ActionCatalog(actions))
    for entry in checked_trigger_entries(triggers_path):
        if isinstance(entry, ConfigError):
            errors.append(str(entry))
            continue
        try:
            registry.put(entry[0], place=entry[1])
        except ConfigError as exc:
            errors.append(str(exc))
    return len(registry), errors


def _add_engine_inputs(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--triggers", type=Path, required=True, help="triggers file or directory")
    parser.add_argument("--actions", type=Path, required=True, help="actions file or directory")
    parser.add_argument(
        "--default-timeout",
        type=int,
        default=DEFAULT_TIMEOUT_MINUTES,
        help="invocation timeout (minutes) when neither trigger nor action sets one",
    )


def _open_output(stack: ExitStack, path: str | None, default: IO[bytes] | None) -> IO[bytes] | None:
    if path is None:
        return default
    if path == "-":
        return sys.stdout.buffer
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    return stack.enter_context(target.open("wb"))


def cmd_replay(args: argparse.Namespace) -> int:
    registry = build_registry(args.triggers, args.actions, default_timeout=args.default_timeout)
    events = replay_events(args)
    progress = None if args.no_progress else Progress.for_terminal("replay", source=events)
    with ExitStack() as stack:
        if args.state_dir is None:
            state: StateStore = StateStore()
        else:
            state = stack.enter_context(
                temporary_disk_store(
                    args.state_dir, args.state_cache_datasets, args.state_cache_files
                )
            )
            events = committing(events, state)
        evaluator = Evaluator(
            registry,
            state,
            record_evaluations=args.evaluations is not None,
        )
        sink = JsonlSink(
            _open_output(stack, args.out, sys.stdout.buffer),
            evaluations=_open_output(stack, args.evaluations, None),
            rejects=_open_output(stack, args.rejects, None),
        )
        summary = replay(
            events,
            evaluator,
            sink,
            progress=progress,
            max_event_bytes=args.max_event_bytes,
        )
    report = summary.as_dict(evaluator)
    sys.stderr.write(f"replay summary: {orjson.dumps(report).decode()}\n")
    if summary.rejected and args.rejects is None:
        sys.stderr.write(
            f"warning: {summary.rejected} rejected events were counted but not kept; "
            "pass --rejects FILE to keep them\n"
        )
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    valid, errors = validation_errors(args.triggers, args.actions)
    for error in errors:
        sys.stderr.write(f"error: {error}\n")
    print(f"{valid} valid triggers, {len(errors)} errors")
    return 1 if errors else 0


def cmd_explain(args: argparse.Namespace) -> int:
    registry = build_registry(args.triggers, args.actions, default_timeout=args.default_timeout)
    trigger = _find_trigger(registry, args.trigger, args.org)
    state = StateStore()
    evaluator = Evaluator(registry, state, record_evaluations=False)
    history = TriggerHistory(trigger, args.dataset)
    for raw in read_events(args.events):
        try:
            event = raw.parse(args.max_event_bytes)
            result = evaluator.process(event)
        except EngineError:
            continue  # explain looks at the state valid events built; replay reports rejects
        ds = state.get(event.dataset_id)
        if ds is not None:
            history.observe(event, ds, evaluator.memos.get(ds), result)
    ds = state.get(args.dataset)
    if ds is None:
        raise ConfigError(f"dataset {args.dataset!r}", "the event log", "no event mentions it")
    default_cause = Cause.FILE_UPLOAD if args.file else Cause.DATASET_METADATA_UPDATE
    cause = Cause(args.cause) if args.cause else default_cause
    try:
        lines = explain(trigger, ds, cause, args.file, history)
    except KeyError as exc:
        raise ConfigError("explain", None, str(exc.args[0])) from None
    print("\n".join(lines))
    return 0


def cmd_whatif(args: argparse.Namespace) -> int:
    timeout = args.default_timeout
    current = build_registry(args.triggers, args.actions, default_timeout=timeout)
    candidate = build_registry(args.candidate, args.actions, default_timeout=timeout)
    report = what_if(
        replay_events(args),
        current,
        candidate,
        max_event_bytes=args.max_event_bytes,
        show_progress=not args.no_progress,
    )
    if args.json == "-":
        sys.stdout.buffer.write(report.to_json())
        return 0
    sys.stdout.write(report.table())
    if args.json is not None:
        Path(args.json).write_bytes(report.to_json())
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    sys.stdout.write(schema_text(SchemaKind(args.kind)))
    return 0


def _find_trigger(registry: TriggerRegistry, name: str, org: str | None) -> CompiledTrigger:
    found = [t for t in registry if t.name == name and (org is None or t.spec.org_id == org)]
    if not found:
        raise ConfigError(f"trigger {name!r}", None, "no such trigger in the triggers file")
    if len(found) > 1:
        orgs = ", ".join(sorted(t.spec.org_id for t in found))
        raise ConfigError(f"trigger {name!r}", None, f"exists in several orgs ({orgs}): pass --org")
    return found[0]


class _PrintVersion(argparse.Action):
    """`--version`: the version is read from the package metadata only when asked for."""

    def __init__(self, option_strings: Sequence[str], dest: str, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, *_args: object) -> None:
        from engine import __version__

        sys.stdout.write(f"{parser.prog} {__version__}\n")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trigger-engine",
        description="Evaluate dataset/file events against triggers and emit invocation requests.",
    )
    parser.add_argument("--version", action=_PrintVersion, help="print the version and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("replay", help="replay JSON Lines event logs (no broker needed)")
    p.add_argument("events", nargs="*", help="event log files (.jsonl, .jsonl.gz, or - for stdin)")
    _add_engine_inputs(p)
    p.add_argument("--out", help="invocation requests JSONL (default: stdout)")
    p.add_argument("--evaluations", help="write one evaluation record per evaluation here")
    p.add_argument("--rejects", help="write rejected events (with source, line, reason) here")
    p.add_argument("--max-event-bytes", type=int, default=DEFAULT_MAX_EVENT_BYTES)
    p.add_argument("--no-progress", action="store_true", help="never draw the progress bar")
    p.add_argument(
        "--state-dir",
        type=Path,
        help="keep the state on disk (a temporary database under this directory) for histories "
        "larger than memory",
    )
    p.add_argument(
        "--state-cache-datasets",
        type=int,
        default=ServiceSettings.model_fields["state_cache_datasets"].default,
        help="with --state-dir: datasets kept in memory (default: %(default)s)",
    )
    p.add_argument(
        "--state-cache-files",
        type=int,
        default=ServiceSettings.model_fields["state_cache_files"].default,
        help="with --state-dir: files of the datasets kept in memory, at most "
        "(default: %(default)s)",
    )
    add_replay_kafka_options(p)
    p.set_defaults(func=cmd_replay)

    p = sub.add_parser("validate", help="check trigger and action files")
    p.add_argument("--triggers", type=Path, required=True)
    p.add_argument("--actions", type=Path, required=True)
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("explain", help="why a trigger did or did not fire for a dataset/file")
    p.add_argument("events", nargs="+", help="event logs that build the dataset's state")
    _add_engine_inputs(p)
    p.add_argument("--trigger", required=True, help="trigger name")
    p.add_argument("--org", help="org of the trigger (needed when the name exists in several)")
    p.add_argument("--dataset", required=True, help="dataset id")
    p.add_argument("--file", help="file id (for dataset_file triggers)")
    p.add_argument(
        "--cause",
        choices=list(Cause),
        help="evaluation cause (default: file_upload with --file, else dataset_metadata_update)",
    )
    p.add_argument("--max-event-bytes", type=int, default=DEFAULT_MAX_EVENT_BYTES)
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser(
        "whatif",
        help="the invocations a candidate triggers file would add, remove or change",
        description="Replay the events under the current triggers and under the candidate, and "
        "report per trigger the invocations added, removed and changed (same invocation id, "
        "different request). Triggers are keyed by name, or org_id/name when the name belongs "
        "to several orgs.",
    )
    p.add_argument("events", nargs="*", help="event log files (.jsonl, .jsonl.gz, or - for stdin)")
    _add_engine_inputs(p)
    p.add_argument(
        "--candidate", type=Path, required=True, help="the edited triggers file or directory"
    )
    p.add_argument(
        "--json", metavar="FILE", help="also write the report as JSON here (- : stdout only)"
    )
    p.add_argument("--max-event-bytes", type=int, default=DEFAULT_MAX_EVENT_BYTES)
    p.add_argument("--no-progress", action="store_true", help="never draw the progress bar")
    add_replay_kafka_options(p)
    p.set_defaults(func=cmd_whatif)

    p = sub.add_parser(
        "schema",
        help="print the JSON Schema of a triggers file, an actions file or an input event",
    )
    p.add_argument("kind", choices=[kind.value for kind in SchemaKind])
    p.set_defaults(func=cmd_schema)

    add_evaluations_parser(sub)
    add_triggers_parser(sub)
    add_run_parser(sub)
    add_admin_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if getattr(args, "from_kafka", False):  # a topic range: broker failures in one line
            return against_kafka(lambda: int(args.func(args)), args.bootstrap_servers)
        return int(args.func(args))
    except EngineError as exc:
        sys.stderr.write(f"trigger-engine: error: {exc}\n")
        return EXIT_USAGE
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        sys.stderr.write(f"trigger-engine: error: {exc.filename}: {exc.strerror}\n")
        return EXIT_USAGE
    except BrokenPipeError:
        return 0
