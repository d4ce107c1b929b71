"""The service's Prometheus metrics, in a registry of its own (several services in one process, as
in the tests, must not share their counts), with the client library's process, garbage-collector
and platform collectors beside them.

Counters that a batch moves are labelled by input topic and partition; each partition's children
are looked up once and kept, so counting a batch costs no label lookup.
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import aiokafka
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

import engine

# A `_created` sample per counter and histogram would double the exposition for a value that the
# process start time already tells.
disable_created_metrics()

Labels = tuple[tuple[str, str], ...]
CONTENT_TYPE = CONTENT_TYPE_LATEST
SECONDS_BUCKETS: tuple[float, ...] = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)
_BY_PARTITION = ("topic", "partition")


@dataclass(frozen=True, slots=True)
class ScrapedGauge:
    """A gauge read when scraped: `read` returns its samples, by their labels."""

    name: str
    help: str
    read: Callable[[], Mapping[Labels, float]]


class _ScrapedGauges(Collector):
    def __init__(self, gauges: Iterable[ScrapedGauge]) -> None:
        self._gauges = list(gauges)

    def collect(self) -> Iterable[Metric]:
        for gauge in self._gauges:
            family = Metric(gauge.name, gauge.help, "gauge")
            for labels, value in sorted(gauge.read().items()):
                family.add_sample(gauge.name, dict(labels), value)
            yield family


def single(value: float) -> dict[Labels, float]:
    """The samples of an unlabelled gauge."""
    return {(): value}


def by_partition(topic: str, values: Mapping[int, float]) -> dict[Labels, float]:
    """The samples of a gauge with one value per partition of `topic`."""
    return {
        (("partition", str(partition)), ("topic", topic)): value
        for partition, value in values.items()
    }


def total(metric: Counter, **labels: str) -> float:
    """The sum of `metric`'s samples whose labels include `labels`."""
    return sum(
        sample.value
        for family in metric.collect()
        for sample in family.samples
        if sample.name.endswith("_total") and labels.items() <= sample.labels.items()
    )


@dataclass(frozen=True, slots=True)
class PartitionCounters:
    """One input partition's children of the counters labelled by topic and partition."""

    events: Counter
    dead_letters: Counter
    invocations: Counter
    committed: Counter
    aborted: Counter


class ServiceMetrics:
    """Everything `/metrics` shows; the scraped gauges are read from the running service."""

    def __init__(self, gauges: Iterable[ScrapedGauge]) -> None:
        self.registry = registry = CollectorRegistry()
        for standard in (ProcessCollector, GCCollector, PlatformCollector):
            standard(registry=registry)
        build_info = Gauge(
            "trigger_engine_build_info",
            "1, labelled by the versions of the engine, Python and the Kafka client",
            ["version", "python", "aiokafka"],
            registry=registry,
        )
        versions = (engine.__version__, platform.python_version(), aiokafka.__version__)
        build_info.labels(*versions).set(1)
        self.events = Counter(
            "trigger_engine_events_total",
            "events processed and committed",
            _BY_PARTITION,
            registry=registry,
        )
        self.dead_letters = Counter(
            "trigger_engine_dead_letters_total",
            "events written to the dead-letter topic",
            _BY_PARTITION,
            registry=registry,
        )
        self.dead_letters_truncated = Counter(
            "trigger_engine_dead_letters_truncated_total",
            "dead letters cut to fit the dead-letter topic",
            registry=registry,
        )
        self.records_set_aside = Counter(
            "trigger_engine_records_set_aside_total",
            "events dead-lettered unprocessed because their transactions kept failing, by error",
            ["error"],
            registry=registry,
        )
        self.outputs_too_large = Counter(
            "trigger_engine_outputs_too_large_total",
            "invocation requests and evaluation records too large to write, by output",
            ["output"],
            registry=registry,
        )
        self.evaluations = Counter(
            "trigger_engine_evaluations_total",
            "evaluations by outcome and skip reason",
            ["outcome", "reason"],
            registry=registry,
        )
        self.invocations = Counter(
            "trigger_engine_invocations_total",
            "invocation requests written",
            _BY_PARTITION,
            registry=registry,
        )
        self.evaluation_failures = Counter(
            "trigger_engine_evaluation_failures_total",
            "evaluations whose action could not be resolved",
            registry=registry,
        )
        self.transactions = Counter(
            "trigger_engine_transactions_total",
            "transactions by result (committed, aborted)",
            ["result", *_BY_PARTITION],
            registry=registry,
        )
        self.rebalances = Counter(
            "trigger_engine_rebalances_total", "partition assignments received", registry=registry
        )
        self.registry_rejects = Counter(
            "trigger_engine_registry_rejected_total",
            "invalid trigger or action records, by topic and reason",
            ["topic", "reason"],
            registry=registry,
        )
        self.batch_duration = Histogram(
            "trigger_engine_batch_duration_seconds",
            "consume, evaluate, produce and commit one batch",
            buckets=SECONDS_BUCKETS,
            registry=registry,
        )
        self.commit_duration = Histogram(
            "trigger_engine_transaction_commit_seconds",
            "offsets plus commit of one transaction",
            buckets=SECONDS_BUCKETS,
            registry=registry,
        )
        self.producer_init = Histogram(
            "trigger_engine_producer_init_seconds",
            "start and init_transactions of one partition's transactional producer",
            buckets=SECONDS_BUCKETS,
            registry=registry,
        )
        self.state_restore = Histogram(
            "trigger_engine_state_restore_seconds",
            "restoring the assigned partitions' state",
            buckets=SECONDS_BUCKETS,
            registry=registry,
        )
        self.state_restored_records = Counter(
            "trigger_engine_state_restored_records_total",
            "changelog records read to restore state (with --state-dir: only the tail past the "
            "local checkpoint)",
            registry=registry,
        )
        registry.register(_ScrapedGauges(gauges))
        self._partitions: dict[tuple[str, int], PartitionCounters] = {}

    def partition(self, topic: str, partition: int) -> PartitionCounters:
        """The counters of input partition `partition` of `topic`."""
        counters = self._partitions.get((topic, partition))
        if counters is None:
            labels = (topic, str(partition))
            counters = self._partitions[(topic, partition)] = PartitionCounters(
                events=self.events.labels(*labels),
                dead_letters=self.dead_letters.labels(*labels),
                invocations=self.invocations.labels(*labels),
                committed=self.transactions.labels("committed", *labels),
                aborted=self.transactions.labels("aborted", *labels),
            )
        return counters

    def render(self) -> bytes:
        """The exposition `/metrics` answers with, of type `CONTENT_TYPE`."""
        return generate_latest(self.registry)
