"""Sample producer for the compose demo: publishes the example triggers and events to Kafka.

    python produce_examples.py triggers examples/triggers.yaml
    python produce_examples.py events examples/events.jsonl --interval 0.5

`triggers` writes every trigger of a triggers file or directory to the registry topic (key
`org_id/name`, value the trigger's JSON). `events` writes every non-blank line of JSON Lines event
logs to the events topic as it is, keyed by its `datasetid`; a line that is not a JSON object with a
string `datasetid` is sent without a key, so the engine dead-letters it like any bad event.
The broker and topic names default to the engine's variables (TRIGGER_ENGINE_BOOTSTRAP_SERVERS,
TRIGGER_ENGINE_TRIGGERS_TOPIC, TRIGGER_ENGINE_EVENTS_TOPIC) and the engine's defaults.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator, Coroutine, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from engine.errors import EngineError
from engine.models import Trigger
from engine.replay import read_events
from engine.service.registry_topic import publish_trigger
from engine.trigger_files import load_triggers, trigger_to_dict


@dataclass(frozen=True, slots=True)
class Record:
    key: bytes | None
    value: bytes


def event_key(line: bytes) -> bytes | None:
    try:
        event = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    dataset_id = event.get("datasetid") if isinstance(event, dict) else None
    return dataset_id.encode() if isinstance(dataset_id, str) else None


def event_records(sources: Sequence[str]) -> Iterator[Record]:
    for raw in read_events(sources):
        yield Record(event_key(raw.data), raw.data)


@contextlib.asynccontextmanager
async def started_producer(bootstrap_servers: str) -> AsyncIterator[AIOKafkaProducer]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, acks="all")
    await producer.start()
    try:
        yield producer
    finally:
        await producer.stop()


async def publish_triggers(triggers: list[Trigger], *, bootstrap_servers: str, topic: str) -> int:
    """Through the registry topic's own writer, so the records are exactly what `run` reads."""
    async with started_producer(bootstrap_servers) as producer:
        for trigger in triggers:
            await publish_trigger(producer, topic, trigger.key, trigger_to_dict(trigger))
    return len(triggers)


async def publish_events(
    records: Iterable[Record], *, bootstrap_servers: str, topic: str, interval: float
) -> int:
    """Send in order, acknowledged by all in-sync replicas, `interval` seconds apart."""
    sent = 0
    async with started_producer(bootstrap_servers) as producer:
        for record in records:
            if sent and interval > 0:
                await asyncio.sleep(interval)
            await producer.send_and_wait(topic, record.value, key=record.key)
            sent += 1
    return sent


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Publish the example triggers and events to Kafka for the compose demo."
    )
    parser.add_argument(
        "--bootstrap-servers",
        default=os.environ.get("TRIGGER_ENGINE_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
    )
    sub = parser.add_subparsers(dest="what", required=True)
    triggers = sub.add_parser("triggers", help="publish a triggers file to the registry topic")
    triggers.add_argument("path", type=Path, help="triggers file or directory")
    triggers.add_argument(
        "--topic", default=os.environ.get("TRIGGER_ENGINE_TRIGGERS_TOPIC", "triggers")
    )
    events = sub.add_parser("events", help="publish JSON Lines event logs to the events topic")
    events.add_argument("sources", nargs="+", help="event logs (.jsonl, .jsonl.gz, - for stdin)")
    events.add_argument(
        "--topic", default=os.environ.get("TRIGGER_ENGINE_EVENTS_TOPIC", "dataset-events")
    )
    events.add_argument(
        "--interval", type=float, default=0.0, help="seconds between events (default: none)"
    )
    return parser


def sending(args: argparse.Namespace) -> Coroutine[Any, Any, int]:
    """What to publish; a triggers file is loaded, so validated, before anything connects."""
    if args.what == "triggers":
        triggers = load_triggers(args.path)
        return publish_triggers(
            triggers, bootstrap_servers=args.bootstrap_servers, topic=args.topic
        )
    return publish_events(
        event_records(args.sources),
        bootstrap_servers=args.bootstrap_servers,
        topic=args.topic,
        interval=args.interval,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        sent = asyncio.run(sending(args))
    except (EngineError, KafkaError) as exc:
        sys.stderr.write(f"produce_examples: error: {exc}\n")
        return 2
    except OSError as exc:
        sys.stderr.write(f"produce_examples: error: {exc.filename}: {exc.strerror}\n")
        return 2
    print(f"produce_examples: sent {sent} {args.what} to {args.topic} on {args.bootstrap_servers}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
