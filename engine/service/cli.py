"""`trigger-engine run`, `trigger-engine admin` and the Kafka side of `trigger-engine replay`.

Every flag can also be set by `TRIGGER_ENGINE_<FLAG>` (`--batch-max-records` ->
`TRIGGER_ENGINE_BATCH_MAX_RECORDS`); a flag beats its variable, and an empty variable counts as
unset, except `TRIGGER_ENGINE_EVALUATIONS_TOPIC` where empty disables evaluation records. A value
is converted by argparse and validated by the settings models whichever its source, so a bad one
fails the same way from either. Kafka clients are imported only when a command needs them.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Literal, get_args, get_origin

from engine.command_events import zoned_moment
from engine.errors import ConfigError
from engine.replay import read_events
from engine.service.logs import LOG_FORMATS, configure_logging, quiet_client_library
from engine.service.settings import (
    SASL_MECHANISMS,
    SECURITY_PROTOCOLS,
    KafkaSettings,
    ServiceSettings,
    validated,
)
from engine.sinks import Origin
from engine.stop_signals import STOP_SIGNALS, stop_noted

ENV_PREFIX = "TRIGGER_ENGINE_"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
_PLACE = "command-line flags and TRIGGER_ENGINE_* variables"

log = logging.getLogger("engine.service")

# flag -> help; the setting is the flag's name in snake case, its default the model's.
_CONNECTION_FLAGS = {
    "--bootstrap-servers": "Kafka brokers, comma-separated host:port",
    "--security-protocol": f"one of {', '.join(SECURITY_PROTOCOLS)}",
    "--sasl-mechanism": f"one of {', '.join(SASL_MECHANISMS)}",
    "--sasl-username": "SASL user",
    "--sasl-password": "SASL password (prefer the variable)",
    "--ssl-cafile": "CA bundle that verifies the brokers",
    "--ssl-certfile": "client certificate (mutual TLS)",
    "--ssl-keyfile": "client key (mutual TLS)",
}
_RUN_FLAGS = {
    "--group-id": "consumer group of the events topic",
    "--group-instance-id": "static group membership: this instance's id, unique in the group and "
    "the same across its restarts (e.g. the pod name); unset: a dynamic member",
    "--session-timeout-ms": "a member that sends no heartbeat for this long leaves the group",
    "--heartbeat-interval-ms": "time between heartbeats; below --session-timeout-ms",
    "--rebalance-timeout-ms": "longest a rebalance waits for a member to rejoin",
    "--max-poll-interval-ms": "a member that fetches nothing for this long leaves the group",
    "--events-topic": "input events",
    "--invocations-topic": "invocation requests (executor topic)",
    "--evaluations-topic": "evaluation records; empty disables them",
    "--dlq-topic": "dead letters",
    "--triggers-topic": "trigger registry (compacted)",
    "--state-topic": "state changelog (compacted, co-partitioned with the events topic)",
    "--actions-topic": "action registry (compacted), read when --actions is not given",
    "--state-dir": "keep each partition's state on disk under this directory (RocksDB, with a "
    "checkpoint: a restart reads only the changelog's tail); unset: in memory",
    "--state-cache-datasets": "with --state-dir: datasets kept in memory per partition",
    "--state-cache-files": "with --state-dir: files of the datasets kept in memory per partition, "
    "at most (their memory grows with their files)",
    "--actions": "action files (a file or a directory) instead of the actions topic",
    "--transactional-id-prefix": "prefix of the per-input-partition transactional ids",
    "--batch-max-records": "most events per transaction",
    "--batch-timeout-ms": "longest wait to fill a batch",
    "--producer-batch-bytes": "largest record batch of small records written to one output "
    "partition; capped by the topics' limits",
    "--producer-max-request-bytes": "largest record batch written, as sent; a topic's "
    "max.message.bytes caps it further",
    "--large-record-compression": "compression of a record too large for its topic uncompressed "
    "(snappy, lz4, zstd: with cramjam installed)",
    "--batch-attempts": "failures of a batch before its records go one per transaction, and of "
    "a record alone before it is set aside (dead-lettered)",
    "--batch-retry-backoff-ms": "wait before retrying a failed transaction, doubling per failure",
    "--batch-retry-backoff-max-ms": "longest wait before retrying a failed transaction",
    "--max-event-bytes": "larger events are dead-lettered",
    "--default-timeout": "invocation timeout (minutes) when neither trigger nor action sets one",
    "--http-host": "address of /healthz, /readyz and /metrics",
    "--http-port": "port of /healthz, /readyz and /metrics (0: any free port)",
    "--shutdown-timeout": "seconds from SIGTERM to exit",
    "--broker-unreachable-after": "seconds without an answer from the brokers before /readyz fails",
    "--stalled-after": "seconds a partition's records may wait without progress before /readyz "
    "fails",
    "--wedged-after": "seconds the main loop may go without turning before /healthz fails",
}
# What names a deployment's partitions, their changelog and their transactional ids: `admin`
# commands must be given the values the service runs with (the same variables do).
_DEPLOYMENT_FLAGS = {
    flag: _RUN_FLAGS[flag]
    for flag in ("--group-id", "--events-topic", "--state-topic", "--transactional-id-prefix")
}


def _setting(flag: str) -> str:
    return flag.removeprefix("--").replace("-", "_")


def _env_name(flag: str) -> str:
    return ENV_PREFIX + _setting(flag).upper()


def _env_value(flag: str) -> str | None:
    value = os.environ.get(_env_name(flag))
    if value == "" and flag != "--evaluations-topic":
        return None
    return value


def _add_env_flags(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    flags: dict[str, str],
    model: type[KafkaSettings | ServiceSettings],
) -> None:
    """Each flag typed and defaulted like its setting; its variable, when set, is the default."""
    for flag, text in flags.items():
        field = model.model_fields[_setting(flag)]
        kind, choices = _argument_type(field.annotation)
        shown = "" if field.default is None else f"; default: {field.default}"
        env = _env_value(flag)
        parser.add_argument(
            flag,
            default=field.default if env is None else env,
            type=kind,
            choices=choices,
            metavar=_setting(flag).upper(),
            help=f"{text} (env {_env_name(flag)}{shown})",
        )


def _argument_type(annotation: Any) -> tuple[Callable[[str], Any], tuple[str, ...] | None]:
    """The argparse type (and choices) of a setting annotated `T`, `T | None` or a Literal."""
    if get_origin(annotation) is not Literal:  # `T | None` -> T
        annotation = next((a for a in get_args(annotation) if a is not type(None)), annotation)
    if get_origin(annotation) is Literal:
        return str, get_args(annotation)
    return annotation, None


def _values(args: argparse.Namespace, flags: Iterable[str]) -> dict[str, Any]:
    """The settings of the flags that have a value; the models default the rest."""
    found = {_setting(flag): getattr(args, _setting(flag)) for flag in flags}
    return {name: value for name, value in found.items() if value is not None}


def kafka_settings(args: argparse.Namespace) -> KafkaSettings:
    return validated(KafkaSettings, _values(args, _CONNECTION_FLAGS), _PLACE)


def service_settings(args: argparse.Namespace) -> ServiceSettings:
    values = {**_values(args, _RUN_FLAGS), "kafka": kafka_settings(args)}
    return validated(ServiceSettings, {**values, "create_topics": args.create_topics}, _PLACE)


def add_run_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "run",
        help="run the Kafka service (exactly-once consumer group)",
        description="Consume events, evaluate triggers, produce invocation requests exactly once.",
    )
    _add_env_flags(parser, _RUN_FLAGS, ServiceSettings)
    parser.add_argument(
        "--create-topics",
        action="store_true",
        default=_env_value("--create-topics") or False,  # a set variable: validated as a bool
        help=f"create missing topics at start (env {_env_name('--create-topics')})",
    )
    _add_env_flags(parser.add_argument_group("Kafka connection"), _CONNECTION_FLAGS, KafkaSettings)
    parser.add_argument(
        "--log-level",
        default=_env_value("--log-level") or "INFO",
        type=str.upper,
        choices=LOG_LEVELS,
        help=f"(env {_env_name('--log-level')}; default: INFO)",
    )
    parser.add_argument(
        "--log-format",
        default=_env_value("--log-format") or "text",
        type=str.lower,
        choices=LOG_FORMATS,
        help="text: one line per record; json: one JSON object per record, with the record's "
        f"fields (env {_env_name('--log-format')}; default: text)",
    )
    parser.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    if args.log_level not in LOG_LEVELS:  # from the variable, which argparse does not check
        raise ConfigError("--log-level", _PLACE, f"{args.log_level!r} is not one of {LOG_LEVELS}")
    if args.log_format not in LOG_FORMATS:  # from the variable, which argparse does not check
        raise ConfigError(
            "--log-format", _PLACE, f"{args.log_format!r} is not one of {LOG_FORMATS}"
        )
    configure_logging(args.log_level, args.log_format)
    settings = service_settings(args)
    return asyncio.run(run_service(settings, stopped_before=stop_noted))


async def run_service(settings: ServiceSettings, stopped_before: Callable[[], bool]) -> int:
    """Run until SIGTERM/SIGINT or a failure; 0 after a clean shutdown within the deadline, and
    after a stop requested before (`stopped_before()`) or while the service was starting."""
    from aiokafka.errors import KafkaError

    from engine.service.service import StartError, TriggerService

    service = TriggerService(settings)
    loop = asyncio.get_running_loop()
    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, service.request_stop)
    if stopped_before():
        log.info("stopped before starting")
        return 0
    starting = asyncio.ensure_future(service.start())
    stopping = asyncio.ensure_future(service.wait())
    await asyncio.wait([starting, stopping], return_when=asyncio.FIRST_COMPLETED)
    if not starting.done():
        starting.cancel()  # start() closes what it opened
        await asyncio.wait([starting])
        log.info("stopped while starting")
        return 0
    stopping.cancel()
    try:
        starting.result()
    except StartError as exc:
        log.error("cannot start: %s", exc)
        return 1
    except (KafkaError, TimeoutError, ConnectionError) as exc:
        log.error("cannot start: %s", kafka_failure(settings.kafka.bootstrap_servers, exc))
        return 1
    port = service.http_port
    log.info("serving /healthz, /readyz and /metrics on port %d", port, extra={"http_port": port})
    try:
        await service.wait()
    finally:
        clean = await service.stop()
    return 0 if clean and service.failure is None else 1


def kafka_failure(bootstrap_servers: str, error: BaseException) -> str:
    """One line that says what went wrong talking to the brokers."""
    from aiokafka.errors import KafkaConnectionError

    if isinstance(error, KafkaConnectionError):
        return f"no Kafka broker answers at {bootstrap_servers}"
    return f"Kafka brokers at {bootstrap_servers}: {error!r}"


def against_kafka(command: Callable[[], int], bootstrap_servers: str) -> int:
    """`command()`, a one-shot command that talks to the brokers; when they fail it, one line on
    stderr and status 1. The client library's own log would repeat that failure: it is quiet."""
    from aiokafka.errors import KafkaError

    quiet_client_library()
    try:
        return command()
    except (KafkaError, TimeoutError, ConnectionError) as exc:
        sys.stderr.write(f"trigger-engine: error: {kafka_failure(bootstrap_servers, exc)}\n")
        return 1


def add_admin_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("admin", help="operator commands on a deployment's Kafka state")
    commands = parser.add_subparsers(dest="admin_command", required=True, metavar="COMMAND")
    seek = commands.add_parser(
        "seek",
        help="move an input partition's position (e.g. past a record that blocks it)",
        description="Make the engine resume input partition PARTITION at OFFSET: the records "
        "before OFFSET that were not processed yet never will be. Fences the partition's running "
        "owner, which reopens it at OFFSET; a stopped engine starts there.",
    )
    seek.add_argument("--partition", type=int, required=True, help="input partition")
    seek.add_argument("--offset", type=int, required=True, help="next offset to process")
    _add_env_flags(seek, _DEPLOYMENT_FLAGS, ServiceSettings)
    _add_env_flags(seek.add_argument_group("Kafka connection"), _CONNECTION_FLAGS, KafkaSettings)
    seek.set_defaults(func=cmd_seek)


def cmd_seek(args: argparse.Namespace) -> int:
    from engine.service.admin import seek

    values = {**_values(args, _DEPLOYMENT_FLAGS), "kafka": kafka_settings(args)}
    settings = validated(ServiceSettings, values, _PLACE)

    def seek_and_report() -> int:
        done = asyncio.run(seek(settings, args.partition, args.offset))
        was = "had no committed offset" if done.previous is None else f"was at {done.previous}"
        print(
            f"{done.tp.topic}/{done.tp.partition} resumes at offset {done.offset} (the group {was})"
        )
        return 0

    return against_kafka(seek_and_report, settings.kafka.bootstrap_servers)


def add_replay_kafka_options(
    parser: argparse.ArgumentParser, *, topic_flag: str = "--events-topic"
) -> None:
    """`--from-kafka`, `--topic` (by default the deployment's topic `topic_flag` names: its
    variable, else its default), the time range and the connection flags."""
    group = parser.add_argument_group("read from Kafka (instead of files)")
    group.add_argument("--from-kafka", action="store_true", help="read the records of a topic")
    default = ServiceSettings.model_fields[_setting(topic_flag)].default
    group.add_argument(
        "--topic",
        default=_env_value(topic_flag) or default,
        help=f"topic to read (env {_env_name(topic_flag)}; default: {default})",
    )
    group.add_argument("--since", help="first record time, ISO 8601 with a zone (inclusive)")
    group.add_argument("--until", help="record time to stop at, ISO 8601 with a zone (exclusive)")
    _add_env_flags(group, _CONNECTION_FLAGS, KafkaSettings)


def add_command_kafka_options(parser: argparse.ArgumentParser, topic_flags: Iterable[str]) -> None:
    """The flags of a command that talks to Kafka only when given `--bootstrap-servers` (or its
    variable): that flag has no other default; the topic flags of `run` named by `topic_flags`,
    and the rest of the connection flags, are defaulted as for `run`."""
    group = parser.add_argument_group("Kafka (with --bootstrap-servers)")
    group.add_argument(
        "--bootstrap-servers",
        default=_env_value("--bootstrap-servers"),
        metavar="BOOTSTRAP_SERVERS",
        help=f"{_CONNECTION_FLAGS['--bootstrap-servers']} (env {_env_name('--bootstrap-servers')})",
    )
    _add_env_flags(group, {flag: _RUN_FLAGS[flag] for flag in topic_flags}, ServiceSettings)
    others = {f: text for f, text in _CONNECTION_FLAGS.items() if f != "--bootstrap-servers"}
    _add_env_flags(group, others, KafkaSettings)


def replay_events(args: argparse.Namespace) -> Iterable[Origin]:
    """The records a command reads (`replay`'s events): the lines of its files, or with
    --from-kafka a topic range."""
    if not args.from_kafka:
        if args.since is not None or args.until is not None:
            raise ConfigError("--since/--until", None, "only apply with --from-kafka")
        if not args.events:
            raise ConfigError(args.command, None, "give files to read, or --from-kafka")
        return read_events(args.events)
    if args.events:
        raise ConfigError(args.command, None, "give files to read or --from-kafka, not both")
    since, until = _moment(args.since, "--since"), _moment(args.until, "--until")
    if since is not None and until is not None and until <= since:
        raise ConfigError("--until", None, f"{args.until} is not after --since {args.since}")
    from engine.service.kafka_replay import kafka_range_events

    return kafka_range_events(kafka_settings(args), args.topic, since, until)


def _moment(text: str | None, flag: str) -> datetime | None:
    return None if text is None else zoned_moment(text, flag)
