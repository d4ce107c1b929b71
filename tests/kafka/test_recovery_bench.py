"""The crash-recovery benchmark on two kills, against the real broker (never skipped)."""

from __future__ import annotations

from benchmarks.recovery import RECOVERY_TIMEOUT_S, RecoverySettings, run_recovery


def test_recovery_bench_times_each_kill_until_the_restarted_process_outputs(
    kafka_bootstrap: str,
) -> None:
    result = run_recovery(RecoverySettings(bootstrap=kafka_bootstrap, kills=2, uptime=(0.5, 1.0)))

    assert result["kills"] == len(result["recovery_s"]) == 2
    assert 0 < result["recovery_median_s"] <= result["recovery_max_s"] < RECOVERY_TIMEOUT_S
