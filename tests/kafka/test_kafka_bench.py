"""The end-to-end benchmark on a tiny workload, against the real broker (never skipped)."""

from __future__ import annotations

from benchmarks.kafka_bench import KafkaSettings, run_kafka
from benchmarks.workload import WorkloadSpec, generate


def test_kafka_bench_measures_the_service_and_checks_exactly_once(kafka_bootstrap: str) -> None:
    workload = generate(WorkloadSpec(triggers=200, orgs=2, events=1_500, seed=5))

    result = run_kafka(workload, KafkaSettings(bootstrap=kafka_bootstrap, latency_rate=2_000))

    once = result["exactly_once"]
    assert result["status"] == "ok"
    assert once["received"] == once["expected_invocations"] > 0
    assert once["duplicates"] == once["missing"] == once["unexpected"] == 0
    assert result["events_per_s"] > 0 and result["latency_samples"] > 0
    assert 0 < result["latency_p50_ms"] <= result["latency_p99_ms"]
