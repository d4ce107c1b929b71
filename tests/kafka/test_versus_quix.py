"""The engine beside the quix-streams passthrough on a tiny workload, against the real broker
(never skipped)."""

from __future__ import annotations

from benchmarks.kafka_bench import KafkaSettings
from benchmarks.versus_quix import SIDES, VersusSettings, run_versus_quix

EVENTS = 300


def test_both_sides_deliver_one_record_per_event_exactly_once(kafka_bootstrap: str) -> None:
    settings = VersusSettings(
        KafkaSettings(bootstrap=kafka_bootstrap, latency_rate=2_000), events=EVENTS, repetitions=1
    )

    compared = run_versus_quix(settings)

    assert compared["status"] == "ok"
    assert compared["order"] == list(SIDES)
    for side in SIDES:
        (run,) = compared[side]["runs"]
        once = run["exactly_once"]
        assert once["expected_invocations"] == once["received"] == EVENTS, side
        assert once["duplicates"] == once["missing"] == once["unexpected"] == 0, side
        assert run["latency_samples"] == EVENTS - run["throughput_events"] > 0, side
    assert compared["engine_over_quix"] > 0
