"""The service's metrics as Prometheus reads them: the client library's parser finds the engine's
metrics under their documented names, the process, garbage-collector and build metrics beside
them, and per-partition counts labelled by topic and partition. No broker needed."""

from __future__ import annotations

import platform
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

import engine
from engine.service.metrics import ScrapedGauge, ServiceMetrics, by_partition, single, total
from engine.service.service import TriggerService
from engine.service.settings import ServiceSettings

EXAMPLE_ACTIONS = Path(__file__).resolve().parents[1] / "examples" / "actions"
# Every metric /metrics showed before it was served by the client library, with its type.
ENGINE_METRICS = {
    "trigger_engine_events_total": "counter",
    "trigger_engine_dead_letters_total": "counter",
    "trigger_engine_dead_letters_truncated_total": "counter",
    "trigger_engine_records_set_aside_total": "counter",
    "trigger_engine_outputs_too_large_total": "counter",
    "trigger_engine_evaluations_total": "counter",
    "trigger_engine_invocations_total": "counter",
    "trigger_engine_evaluation_failures_total": "counter",
    "trigger_engine_transactions_total": "counter",
    "trigger_engine_rebalances_total": "counter",
    "trigger_engine_registry_rejected_total": "counter",
    "trigger_engine_batch_duration_seconds": "histogram",
    "trigger_engine_transaction_commit_seconds": "histogram",
    "trigger_engine_producer_init_seconds": "histogram",
    "trigger_engine_state_restore_seconds": "histogram",
    "trigger_engine_state_restored_records_total": "counter",
    "trigger_engine_assigned_partitions": "gauge",
    "trigger_engine_consumer_lag": "gauge",
    "trigger_engine_stalled_seconds": "gauge",
    "trigger_engine_stalled_partitions": "gauge",
    "trigger_engine_broker_reachable": "gauge",
    "trigger_engine_datasets": "gauge",
    "trigger_engine_triggers": "gauge",
    "trigger_engine_ready": "gauge",
}


def _exposed_types(text: str) -> dict[str, str]:
    """Name -> type of each metric family, named as its `# TYPE` line names it."""
    return dict(line.split()[2:4] for line in text.splitlines() if line.startswith("# TYPE "))


def _samples(text: str) -> dict[str, list[Sample]]:
    samples: dict[str, list[Sample]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


def _lag_gauge() -> ScrapedGauge:
    return ScrapedGauge("t_lag", "lag", lambda: by_partition("events", {1: 4, 0: 0}))


def test_the_service_exposes_every_engine_metric_under_its_name_and_type() -> None:
    service = TriggerService(ServiceSettings(actions=EXAMPLE_ACTIONS))
    exposed = _exposed_types(service.metrics.render().decode())
    assert {name: exposed.get(name) for name in ENGINE_METRICS} == ENGINE_METRICS


def test_process_gc_and_build_metrics_are_exposed() -> None:
    samples = _samples(ServiceMetrics([]).render().decode())
    [resident] = samples["process_resident_memory_bytes"]
    assert resident.value > 0
    assert {s.labels["generation"] for s in samples["python_gc_collections_total"]} == {
        "0",
        "1",
        "2",
    }
    [build] = samples["trigger_engine_build_info"]
    assert build.value == 1
    assert build.labels["version"] == engine.__version__
    assert build.labels["python"] == platform.python_version()


def test_partition_counts_are_labelled_by_topic_and_partition() -> None:
    metrics = ServiceMetrics([_lag_gauge()])
    counters = metrics.partition("events", 1)
    assert metrics.partition("events", 1) is counters  # looked up once
    counters.events.inc(3)
    counters.aborted.inc()
    metrics.partition("events", 2).events.inc(2)
    samples = _samples(metrics.render().decode())
    events = {s.labels["partition"]: s.value for s in samples["trigger_engine_events_total"]}
    assert events == {"1": 3, "2": 2}
    assert {s.labels["topic"] for s in samples["trigger_engine_events_total"]} == {"events"}
    transactions = {
        (s.labels["partition"], s.labels["result"]): s.value
        for s in samples["trigger_engine_transactions_total"]
    }
    assert transactions == {
        ("1", "committed"): 0,
        ("1", "aborted"): 1,
        ("2", "committed"): 0,
        ("2", "aborted"): 0,
    }
    lag = {(s.labels["topic"], s.labels["partition"]): s.value for s in samples["t_lag"]}
    assert lag == {("events", "0"): 0, ("events", "1"): 4}
    assert total(metrics.events) == 5
    assert total(metrics.transactions, result="aborted") == 1
    assert total(metrics.transactions, result="aborted", partition="2") == 0


def test_unlabelled_and_labelled_counts_and_help_texts_survive_the_parser() -> None:
    metrics = ServiceMetrics([ScrapedGauge("t_ready", "1 when ready", lambda: single(1))])
    metrics.evaluations.labels(outcome="skipped", reason='say "hi"').inc(2)
    metrics.batch_duration.observe(0.5)
    families = {f.name: f for f in text_string_to_metric_families(metrics.render().decode())}
    [skipped] = families["trigger_engine_evaluations"].samples
    assert (skipped.labels, skipped.value) == ({"outcome": "skipped", "reason": 'say "hi"'}, 2)
    assert families["trigger_engine_evaluations"].documentation == (
        "evaluations by outcome and skip reason"
    )
    histogram = {
        (s.name, s.labels.get("le")): s.value
        for s in families["trigger_engine_batch_duration_seconds"].samples
    }
    assert histogram[("trigger_engine_batch_duration_seconds_bucket", "0.25")] == 0
    assert histogram[("trigger_engine_batch_duration_seconds_bucket", "0.5")] == 1
    assert histogram[("trigger_engine_batch_duration_seconds_count", None)] == 1
    assert families["t_ready"].samples[0].value == 1


def test_two_services_in_one_process_count_apart() -> None:
    first, second = ServiceMetrics([]), ServiceMetrics([])
    first.partition("events", 0).events.inc(4)
    assert (total(first.events), total(second.events)) == (4, 0)
