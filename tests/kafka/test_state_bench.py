"""The state benchmark's broker parts on a tiny state, against the real broker (never skipped)."""

from __future__ import annotations

import asyncio

from benchmarks import report
from benchmarks.state_bench import StateSettings, run_restart, run_restore
from benchmarks.workload import many_uploads_datasets

TINY = StateSettings(files=(2_000,), caches=(100,), restart_files=2_000, kills=1)


def test_restoring_a_changelog_reads_every_record_into_both_stores(kafka_bootstrap: str) -> None:
    restored = run_restore(kafka_bootstrap, 2_000, TINY)

    # Each file's record, its dataset's, an offset record every 1,000 files and a closing one.
    datasets = many_uploads_datasets(2_000, TINY.files_per_dataset)
    assert restored["records"] == 2_000 + datasets + 2 + 1
    assert [side["store"] for side in restored["sides"]] == ["memory", "disk:100"]
    for side in restored["sides"]:
        assert side["records"] == restored["records"]
        assert side["entries_per_s"] > 0 and side["rss_peak_bytes"] > 0
    assert restored["sides"][1]["disk_bytes"] > 0


def test_a_restart_with_the_local_store_reads_less_of_the_changelog_than_one_without(
    kafka_bootstrap: str,
) -> None:
    restart = asyncio.run(run_restart(kafka_bootstrap, TINY))

    assert restart["first_start_restored_records"] == restart["changelog_records"]
    kept = restart["restarts"]["local store"]["runs"]
    alone = restart["restarts"]["changelog alone"]["runs"]
    in_memory = restart["restarts"]["in memory"]["runs"]
    assert len(kept) == len(alone) == len(in_memory) == 1
    assert kept[0]["seconds"] > 0 and alone[0]["seconds"] > 0 and in_memory[0]["seconds"] > 0
    assert alone[0]["restored_records"] >= restart["changelog_records"]
    assert in_memory[0]["restored_records"] >= alone[0]["restored_records"]
    assert kept[0]["restored_records"] < alone[0]["restored_records"]
    target = report.state_targets(
        {"memory": [], "hot_path": _PAIR, "replay": _PAIR, "restore": [], "restart": restart}
    )[-1]
    assert target.passed is not None


_PAIR = {
    "workload": "tiny",
    "disk_over_memory_time": 1.0,
    "disk_events_per_s": 1.0,
    "memory_events_per_s": 1.0,
    "disk_s": [1.0],
}
