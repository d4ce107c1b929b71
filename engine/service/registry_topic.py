"""The registry as compacted topics: key `org_id/name`, value the JSON of a trigger (as
`trigger_to_dict`) or of an action (as in action files), no value = deleted.

The latest valid record of a key defines it, and a tombstone deletes it. A record that does not
load (bad JSON, unknown field, an action that does not resolve...) is logged with the reason and
counted by kind of problem, and changes nothing: the last valid version of that trigger or action,
if any, stays in effect. A trigger or action that failed only because of another action is tried
again whenever the actions change, so the order in which records arrive does not matter.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from enum import StrEnum
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from engine.collector import long_lived
from engine.documents import validate_item
from engine.errors import ConfigError
from engine.models import Action, Trigger
from engine.registry import TriggerRegistry
from engine.service.logs import partition_fields
from engine.service.settings import KafkaSettings
from engine.service.topic_reader import Record, read_batches
from engine.trigger_files import trigger_from_dict, trigger_to_dict

log = logging.getLogger(__name__)

_FOLLOW_TIMEOUT_MS = 1000


class RejectReason(StrEnum):
    """What is wrong with a registry record that does not load (a metric label)."""

    INVALID_KEY = "invalid_key"  # not `org_id/name`, or not the org and name of the value
    INVALID_JSON = "invalid_json"  # not JSON, or not a JSON object
    INVALID_DEFINITION = "invalid_definition"  # not a valid trigger or action
    COMPILE_ERROR = "compile_error"  # valid alone, but its condition or action does not resolve


class RegistryRecordError(ConfigError):
    """A registry record that does not load, and what kind of problem it has."""

    def __init__(self, kind: RejectReason, thing: str, place: str | None, reason: str) -> None:
        super().__init__(thing, place, reason)
        self.kind = kind


async def publish_trigger(
    target: AIOKafkaProducer | KafkaSettings, topic: str, key: str, trigger: dict[str, Any] | None
) -> None:
    """Write a trigger (`trigger_to_dict` form) under `key` = `org_id/name`; None deletes it."""
    await _publish(target, topic, key, trigger)


async def publish_action(
    target: AIOKafkaProducer | KafkaSettings, topic: str, key: str, action: dict[str, Any] | None
) -> None:
    """Write an action (action-file form) under `key` = `org_id/name`; None deletes it."""
    await _publish(target, topic, key, action)


async def _publish(
    target: AIOKafkaProducer | KafkaSettings, topic: str, key: str, value: dict[str, Any] | None
) -> None:
    payload = None if value is None else orjson.dumps(value)
    if isinstance(target, AIOKafkaProducer):
        await target.send_and_wait(topic, payload, key.encode())
        return
    producer = AIOKafkaProducer(**target.client_options(), acks="all", enable_idempotence=True)
    try:
        await producer.start()
        await producer.send_and_wait(topic, payload, key.encode())
    finally:
        await producer.stop()


def _registry_consumer(settings: KafkaSettings, *topics: str) -> AIOKafkaConsumer:
    """Assigned every partition of `topics` (no group), from the beginning."""
    return AIOKafkaConsumer(
        *topics,
        **settings.client_options(),
        group_id=None,
        isolation_level="read_committed",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )


async def _read_to_end(
    consumer: AIOKafkaConsumer, apply: Callable[[Record], None], topics: list[str]
) -> None:
    """Each topic in turn up to its end offsets, so actions load before the triggers using them."""
    for topic in topics:
        ends = await consumer.end_offsets([tp for tp in consumer.assignment() if tp.topic == topic])
        async for records in read_batches(consumer, ends):
            for record in records:
                apply(record)


def _place(record: Record) -> str:
    return f"{record.topic}/{record.partition}@{record.offset}"


def _split_key(record: Record) -> tuple[str, str]:
    key = record.key.decode("utf-8", errors="replace") if record.key is not None else ""
    org_id, slash, name = key.partition("/")
    if not slash or not org_id or not name:
        thing = f"registry key {key!r}"
        raise RegistryRecordError(
            RejectReason.INVALID_KEY, thing, _place(record), "expected org_id/name"
        )
    return org_id, name


def _invalid(kind: RejectReason, record: Record, reason: str) -> RegistryRecordError:
    return RegistryRecordError(kind, "registry record", _place(record), reason)


def _document(record: Record) -> dict[str, Any]:
    try:
        data = orjson.loads(record.value)
    except orjson.JSONDecodeError as exc:
        raise _invalid(RejectReason.INVALID_JSON, record, f"not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise _invalid(RejectReason.INVALID_JSON, record, "expected a JSON object")
    return data


def _check_key(found: tuple[str, str], key: tuple[str, str], record: Record) -> None:
    if found != key:
        reason = f"the record defines {'/'.join(found)!r}, not its key {'/'.join(key)!r}"
        raise _invalid(RejectReason.INVALID_KEY, record, reason)


def _invalid_definition(error: ConfigError) -> RegistryRecordError:
    return RegistryRecordError(
        RejectReason.INVALID_DEFINITION, error.thing, error.place, error.reason
    )


def decode_trigger(record: Record) -> Trigger:
    """The trigger of a (non-tombstone) triggers-topic record; `RegistryRecordError` if it is
    invalid."""
    document = _document(record)
    try:
        trigger = trigger_from_dict(document, _place(record))
    except ConfigError as exc:
        raise _invalid_definition(exc) from None
    _check_key((trigger.org_id, trigger.name), _split_key(record), record)
    return trigger


def decode_action(record: Record) -> Action:
    document = _document(record)
    try:
        action = validate_item(Action, document, _place(record))
    except ConfigError as exc:
        raise _invalid_definition(exc) from None
    _check_key((action.org_id, action.name), _split_key(record), record)
    return action


class RegistryFollower:
    """Keeps `registry` equal to the registry topics: load() reads them to their end offsets,
    follow() then applies every new record as it arrives."""

    def __init__(
        self,
        registry: TriggerRegistry,
        settings: KafkaSettings,
        triggers_topic: str,
        actions_topic: str | None,  # None: the actions come from files
        on_reject: Callable[[str, RejectReason], None],  # the topic, and what was wrong
    ) -> None:
        self.registry = registry
        self._settings = settings
        self._triggers_topic = triggers_topic
        self._actions_topic = actions_topic
        self._on_reject = on_reject
        self._consumer: AIOKafkaConsumer | None = None
        self._pending_triggers: dict[tuple[str, str], tuple[Trigger, str]] = {}
        self._pending_actions: dict[tuple[str, str], Action] = {}

    async def load(self) -> None:
        actions = [self._actions_topic] if self._actions_topic else []
        topics = [*actions, self._triggers_topic]
        self._consumer = _registry_consumer(self._settings, *topics)
        await self._consumer.start()
        # Frozen out of the collector's scans like any bulk load: unfrozen, a large registry makes
        # every full collection pause the service noticeably.
        with long_lived():
            await _read_to_end(self._consumer, self.apply, topics)

    async def follow(self) -> None:
        assert self._consumer is not None, "load() first"
        while True:
            batches = await self._consumer.getmany(timeout_ms=_FOLLOW_TIMEOUT_MS)
            for records in batches.values():
                for record in records:
                    self.apply(record)

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()

    def apply(self, record: Record) -> None:
        try:
            key = _split_key(record)
        except RegistryRecordError as exc:
            self._reject(record, exc, exc.kind)
            return
        if record.topic == self._triggers_topic:
            self._apply_trigger(key, record)
        else:
            self._apply_action(key, record)

    def _apply_trigger(self, key: tuple[str, str], record: Record) -> None:
        """A later record supersedes one waiting for its action, valid or not; only a valid one
        or a tombstone changes what the registry holds."""
        self._pending_triggers.pop(key, None)
        if record.value is None:
            self.registry.delete(*key)
            return
        try:
            trigger = decode_trigger(record)
        except RegistryRecordError as exc:
            self._reject(record, exc, exc.kind)
            return
        try:
            self.registry.put(trigger, place=_place(record))  # unchanged when it raises
        except ConfigError as exc:
            self._reject(record, exc, RejectReason.COMPILE_ERROR)
            self._pending_triggers[key] = (trigger, _place(record))

    def _apply_action(self, key: tuple[str, str], record: Record) -> None:
        self._pending_actions.pop(key, None)
        if record.value is None:
            self.registry.remove_action(*key)
        else:
            try:
                action = decode_action(record)
            except RegistryRecordError as exc:
                self._reject(record, exc, exc.kind)
            else:
                self._put_action(action, record)
        self._retry_pending()

    def _put_action(self, action: Action, record: Record) -> None:
        try:
            self.registry.put_action(action)  # the catalog is unchanged when it raises
        except ConfigError as exc:
            self._reject(record, exc, RejectReason.COMPILE_ERROR)
            self._pending_actions[(action.org_id, action.name)] = action

    def _retry_pending(self) -> None:
        """Put what failed for want of an action, until nothing more succeeds."""
        progress = True
        while progress:
            progress = False
            for key, action in list(self._pending_actions.items()):
                try:
                    self.registry.put_action(action)
                except ConfigError:
                    continue
                del self._pending_actions[key]
                progress = True
        for key, (trigger, place) in list(self._pending_triggers.items()):
            try:
                self.registry.put(trigger, place=place)
            except ConfigError:
                continue
            del self._pending_triggers[key]
            log.info("trigger %s loaded now that its action resolves", "/".join(key))

    def _reject(self, record: Record, error: ConfigError, kind: RejectReason) -> None:
        log.warning(
            "ignoring %s record (%s): %s; the key's last valid version, if any, stays in effect",
            record.topic,
            kind,
            error,
            extra=partition_fields(
                record.topic, record.partition, offset=record.offset, reason=str(kind)
            ),
        )
        self._on_reject(record.topic, kind)


class TopicTriggerStore:
    """The `triggers` commands' store when given `--bootstrap-servers`: the registry topic."""

    def __init__(self, kafka: KafkaSettings | str, topic: str) -> None:
        """`kafka`: the connection settings, or just the bootstrap servers."""
        self._settings = (
            kafka if isinstance(kafka, KafkaSettings) else KafkaSettings(bootstrap_servers=kafka)
        )
        self._topic = topic

    def load(self) -> list[Trigger]:
        """The current triggers; invalid records are logged and left out."""
        latest = asyncio.run(self._latest_records())
        triggers = []
        for record in latest.values():
            try:
                triggers.append(decode_trigger(record))
            except ConfigError as exc:
                log.warning("ignoring %s record: %s", self._topic, exc)
        return triggers

    def put(self, trigger: Trigger) -> None:
        asyncio.run(
            publish_trigger(self._settings, self._topic, trigger.key, trigger_to_dict(trigger))
        )

    def delete(self, trigger: Trigger) -> None:
        asyncio.run(publish_trigger(self._settings, self._topic, trigger.key, None))

    async def _latest_records(self) -> dict[bytes | None, Record]:
        latest: dict[bytes | None, Record] = {}

        def keep(record: Record) -> None:
            if record.value is None:
                latest.pop(record.key, None)
            else:
                latest[record.key] = record

        consumer = _registry_consumer(self._settings, self._topic)
        try:
            await consumer.start()
            await _read_to_end(consumer, keep, [self._topic])
        finally:
            await consumer.stop()
        return latest
