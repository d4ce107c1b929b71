"""Prometheus metrics in the text exposition format (0.0.4), without a client library.

Only what the service needs: counters and gauges with labels, gauges read at scrape time, and
histograms with fixed buckets.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

Labels = tuple[tuple[str, str], ...]
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
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


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _sample(name: str, labels: Labels, value: float) -> str:
    if labels:
        inner = ",".join(f'{key}="{_escape(text)}"' for key, text in labels)
        name = f"{name}{{{inner}}}"
    return f"{name} {_number(value)}"


def _labels(values: Mapping[str, str]) -> Labels:
    return tuple(sorted(values.items()))


@dataclass(slots=True)
class Counter:
    name: str
    help: str
    values: dict[Labels, float] = field(default_factory=dict)

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        key = _labels(labels)
        self.values[key] = self.values.get(key, 0.0) + amount

    def value(self, **labels: str) -> float:
        return self.values.get(_labels(labels), 0.0)

    def samples(self) -> Iterator[str]:
        for labels, value in sorted(self.values.items()):
            yield _sample(self.name, labels, value)


@dataclass(slots=True)
class Gauge:
    """A value read when scraped: `read` returns the samples, by their labels."""

    name: str
    help: str
    read: Callable[[], Mapping[Labels, float]]

    def samples(self) -> Iterator[str]:
        for labels, value in sorted(self.read().items()):
            yield _sample(self.name, labels, value)


@dataclass(slots=True)
class Histogram:
    name: str
    help: str
    buckets: tuple[float, ...] = SECONDS_BUCKETS
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    observations: int = 0

    def __post_init__(self) -> None:
        self.counts = [0] * len(self.buckets)

    def observe(self, value: float) -> None:
        self.total += value
        self.observations += 1
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                self.counts[i] += 1

    def samples(self) -> Iterator[str]:
        for bound, count in zip(self.buckets, self.counts, strict=True):
            yield _sample(f"{self.name}_bucket", (("le", _number(bound)),), count)
        yield _sample(f"{self.name}_bucket", (("le", "+Inf"),), self.observations)
        yield _sample(f"{self.name}_sum", (), self.total)
        yield _sample(f"{self.name}_count", (), self.observations)


Metric = Counter | Gauge | Histogram
_TYPES: dict[type, str] = {Counter: "counter", Gauge: "gauge", Histogram: "histogram"}


def render(metrics: Iterable[Metric]) -> str:
    lines: list[str] = []
    for metric in metrics:
        lines.append(f"# HELP {metric.name} {metric.help}")
        lines.append(f"# TYPE {metric.name} {_TYPES[type(metric)]}")
        lines.extend(metric.samples())
    return "\n".join(lines) + "\n"


def single(value: float) -> dict[Labels, float]:
    """The samples of an unlabelled gauge."""
    return {(): value}


class ServiceMetrics:
    """Everything `/metrics` shows; gauges are read from the running service when scraped."""

    def __init__(self, gauges: Iterable[Gauge]) -> None:
        self.events = Counter("trigger_engine_events_total", "events processed and committed")
        self.dead_letters = Counter(
            "trigger_engine_dead_letters_total", "events written to the dead-letter topic"
        )
        self.dead_letters_truncated = Counter(
            "trigger_engine_dead_letters_truncated_total",
            "dead letters cut to fit the dead-letter topic",
        )
        self.records_set_aside = Counter(
            "trigger_engine_records_set_aside_total",
            "events dead-lettered unprocessed because their transactions kept failing, by error",
        )
        self.outputs_too_large = Counter(
            "trigger_engine_outputs_too_large_total",
            "invocation requests and evaluation records too large to write, by output",
        )
        self.evaluations = Counter(
            "trigger_engine_evaluations_total", "evaluations by outcome and skip reason"
        )
        self.invocations = Counter(
            "trigger_engine_invocations_total", "invocation requests written"
        )
        self.evaluation_failures = Counter(
            "trigger_engine_evaluation_failures_total",
            "evaluations whose action could not be resolved",
        )
        self.transactions = Counter(
            "trigger_engine_transactions_total", "transactions by result (committed, aborted)"
        )
        self.rebalances = Counter(
            "trigger_engine_rebalances_total", "partition assignments received"
        )
        self.registry_rejects = Counter(
            "trigger_engine_registry_rejected_total",
            "invalid trigger or action records, by topic and reason",
        )
        self.batch_duration = Histogram(
            "trigger_engine_batch_duration_seconds",
            "consume, evaluate, produce and commit one batch",
        )
        self.commit_duration = Histogram(
            "trigger_engine_transaction_commit_seconds", "offsets plus commit of one transaction"
        )
        self.producer_init = Histogram(
            "trigger_engine_producer_init_seconds",
            "start and init_transactions of one partition's transactional producer",
        )
        self.state_restore = Histogram(
            "trigger_engine_state_restore_seconds", "restoring the assigned partitions' state"
        )
        self.state_restored_records = Counter(
            "trigger_engine_state_restored_records_total",
            "changelog records read to restore state (with --state-dir: only the tail past the "
            "local checkpoint)",
        )
        self._gauges = list(gauges)

    def render(self) -> str:
        return render(
            [
                self.events,
                self.dead_letters,
                self.dead_letters_truncated,
                self.records_set_aside,
                self.outputs_too_large,
                self.evaluations,
                self.invocations,
                self.evaluation_failures,
                self.transactions,
                self.rebalances,
                self.registry_rejects,
                self.batch_duration,
                self.commit_duration,
                self.producer_init,
                self.state_restore,
                self.state_restored_records,
                *self._gauges,
            ]
        )
