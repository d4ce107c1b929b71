"""Settings of the Kafka service, validated once at the edge (flags and `TRIGGER_ENGINE_*`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from engine.compiled import DEFAULT_TIMEOUT_MINUTES
from engine.errors import ConfigError
from engine.events import DEFAULT_MAX_EVENT_BYTES

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
SECURITY_PROTOCOLS: tuple[str, ...] = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS: tuple[str, ...] = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
Compression = Literal["none", "gzip", "snappy", "lz4", "zstd"]


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


M = TypeVar("M", bound=_Settings)


class KafkaSettings(_Settings):
    """How to reach the brokers: the same for the service, replay and the registry commands."""

    bootstrap_servers: str = Field(default="127.0.0.1:9092", min_length=1)
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: str | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        protocol = self.security_protocol
        sasl = (self.sasl_mechanism, self.sasl_username, self.sasl_password)
        if protocol.startswith("SASL_") and None in sasl:
            raise ValueError(
                f"--security-protocol {protocol} needs --sasl-mechanism, --sasl-username "
                "and --sasl-password"
            )
        if not protocol.startswith("SASL_") and any(v is not None for v in sasl):
            raise ValueError(f"SASL settings are given but --security-protocol is {protocol}")
        ssl_files = (self.ssl_cafile, self.ssl_certfile, self.ssl_keyfile)
        if not protocol.endswith("SSL") and any(f is not None for f in ssl_files):
            raise ValueError(f"SSL files are given but --security-protocol is {protocol}")
        if self.ssl_keyfile is not None and self.ssl_certfile is None:
            raise ValueError("--ssl-keyfile needs --ssl-certfile")
        return self

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments shared by every aiokafka client this process creates."""
        options: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol,
        }
        if self.security_protocol.endswith("SSL"):
            from aiokafka.helpers import create_ssl_context

            options["ssl_context"] = create_ssl_context(
                cafile=self.ssl_cafile, certfile=self.ssl_certfile, keyfile=self.ssl_keyfile
            )
        if self.sasl_mechanism is not None:
            options["sasl_mechanism"] = self.sasl_mechanism
            options["sasl_plain_username"] = self.sasl_username
            options["sasl_plain_password"] = self.sasl_password
        return options


class ServiceSettings(_Settings):
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    group_id: str = Field(default="trigger-engine", min_length=1)
    # Static membership (KIP-345): an instance that comes back under the same id within the
    # session timeout gets its partitions back without a rebalance. None: a dynamic member.
    group_instance_id: str | None = Field(default=None, min_length=1)
    # How soon the group notices a member that went away without leaving (a crash), and how soon
    # the other members hear of a rebalance (with their next heartbeat).
    session_timeout_ms: int = Field(default=10_000, ge=1000)
    heartbeat_interval_ms: int = Field(default=1000, ge=100)
    # How long a rebalance waits for a member to finish its batch and rejoin.
    rebalance_timeout_ms: int = Field(default=30_000, ge=1000)
    # A member that fetches nothing for this long (its loop is stuck) leaves the group.
    max_poll_interval_ms: int = Field(default=300_000, ge=1000)
    events_topic: str = Field(default="dataset-events", min_length=1)
    invocations_topic: str = Field(default="invocation-requests", min_length=1)
    evaluations_topic: str = "trigger-evaluations"  # empty: no evaluation records
    dlq_topic: str = Field(default="dataset-events-dlq", min_length=1)
    triggers_topic: str = Field(default="triggers", min_length=1)
    state_topic: str = Field(default="trigger-engine-state", min_length=1)
    actions_topic: str = Field(default="actions", min_length=1)
    actions: Path | None = None  # action files; None: the actions topic
    transactional_id_prefix: str = Field(default="trigger-engine", min_length=1)
    batch_max_records: int = Field(default=500, ge=1)
    batch_timeout_ms: int = Field(default=100, ge=0)
    # One record batch per output partition and produce request: a transaction's outputs in a
    # request or two. Brokers refuse batches above message.max.bytes (1 MiB by default).
    producer_batch_bytes: int = Field(default=512 * 1024, ge=1024)
    # The largest record batch written (as sent); a topic's max.message.bytes caps it further.
    producer_max_request_bytes: int = Field(default=8 * 1024 * 1024, ge=8192)
    # Batches go uncompressed, and a record too large for its topic as it is goes compressed:
    # aiokafka compresses gzip at its highest level, on the event loop, which every batch would
    # pay. gzip needs no extra package, and a large invocation's file list shrinks well under it.
    large_record_compression: Compression = "gzip"
    # A batch that fails for its records (not for the broker's availability) is retried this many
    # times, then its records one per transaction, and one that still fails is set aside.
    batch_attempts: int = Field(default=3, ge=1)
    batch_retry_backoff_ms: int = Field(default=200, ge=0)
    batch_retry_backoff_max_ms: int = Field(default=10_000, ge=0)
    max_event_bytes: int = Field(default=DEFAULT_MAX_EVENT_BYTES, ge=1)
    default_timeout: int = Field(default=DEFAULT_TIMEOUT_MINUTES, ge=1)
    http_host: str = "0.0.0.0"
    http_port: int = Field(default=8080, ge=0, le=65535)  # 0: any free port
    shutdown_timeout: float = Field(default=30.0, gt=0)
    # Health: /readyz fails while the brokers have not answered for longer than this, or while a
    # partition's records wait without progress for longer than that; /healthz fails when the
    # main loop has not turned for longer than the last (then Kubernetes restarts the process).
    broker_unreachable_after: float = Field(default=15.0, gt=0)
    stalled_after: float = Field(default=60.0, gt=0)
    wedged_after: float = Field(default=120.0, gt=0)
    # Where each input partition's state lives on disk (RocksDB, with a local checkpoint), the
    # datasets used last cached in memory; None: all state in memory.
    state_dir: Path | None = None
    state_cache_datasets: int = Field(default=100_000, ge=1)
    state_cache_files: int = Field(default=1_000_000, ge=1)
    create_topics: bool = False

    @model_validator(mode="after")
    def _heartbeats_within_the_session(self) -> Self:
        if self.heartbeat_interval_ms >= self.session_timeout_ms:
            raise ValueError(
                f"--heartbeat-interval-ms {self.heartbeat_interval_ms} must be below "
                f"--session-timeout-ms {self.session_timeout_ms} (a third of it at most is usual)"
            )
        return self

    @model_validator(mode="after")
    def _distinct_topics(self) -> Self:
        topics = {
            "--events-topic": self.events_topic,
            "--invocations-topic": self.invocations_topic,
            "--evaluations-topic": self.evaluations_topic,
            "--dlq-topic": self.dlq_topic,
            "--triggers-topic": self.triggers_topic,
            "--state-topic": self.state_topic,
        }
        if self.actions is None:
            topics["--actions-topic"] = self.actions_topic
        seen: dict[str, str] = {}
        for flag, topic in topics.items():
            if topic and topic in seen:
                raise ValueError(f"{flag} and {seen[topic]} name the same topic {topic!r}")
            seen[topic] = flag
        return self

    @model_validator(mode="after")
    def _codec_installed(self) -> Self:
        from aiokafka import codec  # no Kafka client: only which compression libraries import

        installed = {"snappy": codec.has_snappy, "lz4": codec.has_lz4, "zstd": codec.has_zstd}
        check = installed.get(self.large_record_compression)
        if check is not None and not check():
            raise ValueError(
                f"--large-record-compression {self.large_record_compression} needs the cramjam "
                "package"
            )
        return self

    def transactional_id(self, partition: int) -> str:
        """One transactional id per input partition: its init fences the partition's last owner."""
        return f"{self.transactional_id_prefix}-{self.events_topic}-{partition}"


def validated(model: type[M], values: dict[str, Any], place: str) -> M:
    """Build settings; an invalid value raises `ConfigError` naming its flag and the reason."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise ConfigError("settings", place, _by_flag(exc)) from None


def _by_flag(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        message = item["msg"].removeprefix("Value error, ")
        fields = [str(p) for p in item["loc"] if p != "kafka"]
        parts.append(f"--{fields[-1].replace('_', '-')}: {message}" if fields else message)
    return "; ".join(parts)
