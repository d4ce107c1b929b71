"""The benchmark harness's pieces on tiny workloads: shapes and agreement, never speed."""

from __future__ import annotations

import platform
import socket
from pathlib import Path
from typing import Any

import orjson
import pytest

from benchmarks import calibrate, report
from benchmarks.__main__ import build_parser, main, state_settings
from benchmarks.hotpath import (
    Disagreement,
    baseline_stride,
    build_registry,
    nearest_rank,
    run_hot_path,
)
from benchmarks.interpreters import jsonlogic_holds, roboto_holds
from benchmarks.kafka_bench import BOOTSTRAP_ENV, prometheus_samples, resolve_bootstrap
from benchmarks.naive import Invocation, NaiveEngine
from benchmarks.replay_bench import run_replay
from benchmarks.runner import Settings, run
from benchmarks.state_bench import StateSettings, parse_store, run_state, store_label
from benchmarks.workload import WorkloadSpec, generate, skewed_counts
from engine.events import event_from_dict

TINY = WorkloadSpec(triggers=120, orgs=3, events=600, seed=11)
RESULT_KEYS = {
    "scenario",
    "triggers",
    "orgs",
    "engine_events_per_s",
    "baseline_events_per_s",
    "speedup",
    "p50_us",
    "p99_us",
}


def test_workloads_are_reproducible_valid_and_skewed() -> None:
    workload = generate(TINY)

    assert generate(TINY) == workload
    assert generate(WorkloadSpec(120, 3, 600, seed=12)) != workload
    assert len(workload.triggers) == 120 and len(workload.events) == 600
    assert sorted(workload.triggers_per_org.values(), reverse=True) == skewed_counts(120, 3)
    for event in workload.events:
        event_from_dict(event)  # raises on anything the engine would reject


def test_skewed_counts_split_the_total_zipf_like() -> None:
    counts = skewed_counts(100_000, 1_000)

    assert sum(counts) == 100_000 and min(counts) >= 1
    assert counts == sorted(counts, reverse=True)
    assert counts[0] > 10 * counts[99]
    with pytest.raises(ValueError, match="cannot spread"):
        skewed_counts(3, 4)


@pytest.mark.parametrize(
    ("condition", "metadata", "holds"),
    [
        (
            {"field": "metadata.speed", "comparator": "GREATER_THAN", "value": 2},
            {"speed": "3"},
            True,
        ),
        (
            {"field": "metadata.speed", "comparator": "GREATER_THAN", "value": 2},
            {"speed": "n/a"},
            False,
        ),
        ({"field": "metadata.w", "comparator": "NOT_EQUALS", "value": "rain"}, {}, False),
        ({"field": "metadata.gps", "comparator": "EQUALS", "value": True}, {"gps": "true"}, True),
        ({"field": "metadata.n", "comparator": "EQUALS", "value": 1}, {"n": True}, False),
        (
            {"field": "metadata.at", "comparator": "GREATER_THAN", "value": "2026-01-01T00:00:00Z"},
            {"at": "2026-01-01T01:30:00+02:00"},  # 23:30 the day before, as an instant
            False,
        ),
        ({"field": "metadata.op", "comparator": "LIKE", "value": "op\\_%"}, {"op": "op-x"}, False),
    ],
)
def test_roboto_interpreter_coercions(condition: Any, metadata: Any, holds: bool) -> None:
    dataset = {"dataset_id": "ds_1", "org_id": "og_1", "tags": [], "metadata": metadata}

    assert roboto_holds(condition, dataset, None) is holds


@pytest.mark.parametrize(
    ("rule", "holds"),
    [
        ({"==": ["3", 3]}, True),
        ({"==": [None, 0]}, True),
        ({"!": {"==": [1, "A"]}}, False),  # NaN is an error: the whole condition is false
        ({">": [{"var": "dataset.missing"}, -1]}, True),  # null orders as 0
        ({"in": ["prod", {"var": "dataset.tags"}]}, True),
        ({"missing": ["dataset.tags", "dataset.nope"]}, True),
    ],
)
def test_jsonlogic_interpreter_follows_the_suites(rule: Any, holds: bool) -> None:
    data = {"dataset": {"tags": ["prod"]}, "file": None, "event": {}}

    assert jsonlogic_holds(rule, data) is holds


def test_hot_path_runs_engine_and_whole_baseline_and_they_agree() -> None:
    workload = generate(TINY)
    registry, build = build_registry(workload)
    result = run_hot_path(workload, registry, NaiveEngine(workload.triggers), baseline_budget_s=60)

    assert result.engine.events == result.baseline.events == workload.evaluated_events
    assert workload.evaluated_events < len(workload.events)  # creations and deletions: untimed
    assert 0 < result.engine.p50_us <= result.engine.p99_us
    assert result.evaluations_per_event > 0 and result.invocations_per_event > 0
    assert result.speedup > 0
    assert build.registry_build_s > 0 and build.add_one_us > 0 and build.remove_one_us > 0
    assert len(registry) == len(workload.triggers)  # the incremental probes left nothing behind


def test_hot_path_samples_the_baseline_and_it_follows_the_engine_in_between() -> None:
    workload = generate(TINY)
    registry, _ = build_registry(workload)
    naive = NaiveEngine(workload.triggers)
    stride = baseline_stride(workload, naive, budget_s=0)

    result = run_hot_path(workload, registry, naive, baseline_budget_s=0, rounds=2)

    assert stride > 1
    assert result.baseline.events == len(range(0, workload.evaluated_events, stride))
    assert result.engine.events == workload.evaluated_events


def test_a_naive_engine_that_adopts_an_event_applies_it_without_evaluating_it() -> None:
    naive = NaiveEngine(
        [
            {"org_id": "og_1", "name": name, "action": "detect", "required_inputs": inputs}
            for name, inputs in (("bags", ["*.bag"]), ("bags-2", ["*.bag"]))
        ]
    )

    def upload(n: int, path: str) -> dict[str, Any]:
        file = {"file_id": f"fl_{n}", "relative_path": path}
        return {
            "specversion": "1.0",
            "id": f"ev-{n}",
            "type": "file.uploaded",
            "orgid": "og_1",
            "datasetid": "ds_1",
            "data": {"file": file},
        }

    decided_elsewhere = Invocation("og_1", "bags", "ds_1", None, ("fl_1",), "file_upload", "ev-1")
    naive.adopt(upload(1, "a.bag"), [decided_elsewhere])

    # `bags` counts as fired; `bags-2` was not evaluated at ev-1, and is satisfied now.
    assert naive.process(upload(2, "notes.txt")) == [
        Invocation("og_1", "bags-2", "ds_1", None, ("fl_1",), "file_upload", "ev-2")
    ]


def test_hot_path_fails_when_the_baseline_disagrees() -> None:
    workload = generate(TINY)
    registry, _ = build_registry(workload)
    busiest = max(workload.triggers_per_org, key=workload.triggers_per_org.__getitem__)
    wrong = NaiveEngine([t for t in workload.triggers if t["org_id"] != busiest])

    with pytest.raises(Disagreement, match=r"engine .* != baseline"):
        run_hot_path(workload, registry, wrong, baseline_budget_s=60)


def test_replay_bench_writes_every_invocation(tmp_path: Path) -> None:
    workload = generate(TINY)
    registry, _ = build_registry(workload)

    result = run_replay(workload, registry, tmp_path)

    lines = (tmp_path / "invocations.jsonl").read_bytes().splitlines()
    assert result.events == len(workload.events) and result.rejected == 0
    assert result.invocations == len(lines) > 0
    assert {orjson.loads(line)["invocation_source"] for line in lines} == {"Trigger"}


def test_nearest_rank() -> None:
    assert nearest_rank([], 0.5) == 0.0
    assert nearest_rank([1, 2, 3, 4], 0.5) == 2
    assert nearest_rank(list(range(1, 101)), 0.99) == 99


def test_runner_report_and_plot(tmp_path: Path) -> None:
    settings = Settings(
        counts=(40, 80),
        events=300,
        seed=3,
        baseline_budget_s=60,
        rounds=2,
        flatness=(40, 80),
        flatness_pairs=3,
    )
    outcome = run(settings)
    judged = report.targets(outcome, {"status": "skipped"})
    calibration = {"start": {"memory_ns_per_random_read": 100.0}}
    doc = report.document(outcome, {"status": "skipped"}, settings, judged, calibration)
    report.plot(outcome, tmp_path / "plot.png")

    assert [(r.scenario, r.triggers) for r in outcome.results] == [
        ("one-org", 40),
        ("one-org", 80),
        ("many-orgs", 40),
        ("many-orgs", 80),
    ]
    assert outcome.replay is not None and outcome.replay_workload is not None
    assert all(row.keys() >= RESULT_KEYS for row in doc["results"])
    assert doc["replay_events_per_s"] > 0
    assert {"python", "cpu_count", "platform"} <= doc["machine"].keys()
    assert doc["machine"]["calibration"] == calibration
    assert doc["versions"]["pathspec"] is not None
    speedup, _, many_flat, one_flat, _, incremental, replay, kafka = judged
    assert (speedup.measured, speedup.passed) == ("not run", None)  # no 10,000-trigger run
    assert [(f.scenario, f.small, f.big, len(f.pairs)) for f in outcome.flatness] == [
        ("one-org", 40, 80, 3),
        ("many-orgs", 40, 80, 3),
    ]
    assert all(small > 0 and big > 0 for f in outcome.flatness for small, big in f.pairs)
    for target in (many_flat, one_flat):
        assert target.goal.endswith("at 80 triggers <= 1.5x that at 40")
        assert "median of 3 pairs timed in turn" in target.measured
        assert "between the separate runs" in target.measured and target.passed is not None
    assert [f["median_ratio"] for f in doc["flatness"]] == [
        round(f.ratio, 3) for f in outcome.flatness
    ]
    assert incremental.passed is not None and replay.passed is not None
    assert kafka.passed is None
    assert "one-org" in report.table(outcome)
    assert (tmp_path / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_command_line_writes_json_and_plot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_json, out_png = tmp_path / "bench.json", tmp_path / "bench.png"

    tiny = ["--quick", "--counts", "30,60", "--events", "200", "--no-kafka"]

    code = main([*tiny, "--json", str(out_json), "--plot", str(out_png)])

    doc = orjson.loads(out_json.read_bytes())
    assert code == 0
    assert len(doc["results"]) == 4 and doc["kafka"] == {"status": "skipped (--no-kafka)"}
    assert out_png.exists()
    assert "speedup" in capsys.readouterr().out


def test_unreachable_broker_is_reported_and_the_other_results_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as probe:  # a port nothing listens on once the probe closes
        probe.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{probe.getsockname()[1]}"
    out_json = tmp_path / "bench.json"

    tiny = ["--quick", "--counts", "30", "--events", "200", "--bootstrap-servers", closed]

    code = main([*tiny, "--json", str(out_json), "--plot", str(tmp_path / "bench.png")])

    doc = orjson.loads(out_json.read_bytes())
    assert code == 0
    assert len(doc["results"]) == 2
    assert doc["kafka"]["status"].startswith(f"failed: cannot reach the broker at {closed}")
    assert "speedup" in capsys.readouterr().out


def test_kafka_bootstrap_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BOOTSTRAP_ENV, "env-broker:9092")

    assert resolve_bootstrap("flag-broker:9092") == "flag-broker:9092"
    assert resolve_bootstrap(None) == "env-broker:9092"


def test_prometheus_samples_reads_unlabelled_gauges() -> None:
    text = (
        "# HELP trigger_engine_triggers triggers in the registry\n"
        "# TYPE trigger_engine_triggers gauge\n"
        "trigger_engine_triggers 120\n"
        'trigger_engine_consumer_lag{partition="0"} 5\n'
        "trigger_engine_assigned_partitions 4\n"
    )

    assert prometheus_samples(text) == {
        "trigger_engine_triggers": 120.0,
        "trigger_engine_assigned_partitions": 4.0,
    }
    assert prometheus_samples(None) == {}


def test_interpreter_build_is_reported() -> None:
    build = report.interpreter()
    assert Path(build["executable"]).is_file()
    assert set(build["configure_options"]) <= {"--enable-optimizations", "--with-lto"}
    # This process runs in CPython, so its libpython is in one place or the other (Linux CI).
    assert build["libpython"] in ("a shared library", "in the executable")
    assert report.interpreter_line().startswith(f"python {platform.python_version()} (")


def test_calibration_measures_the_interpreter_and_memory() -> None:
    measured = calibrate.measure()
    assert measured.keys() == {"interpreter_ns_per_step", "memory_ns_per_random_read"}
    assert all(value > 0 for value in measured.values())


def test_the_state_benchmark_reports_memory_disk_and_replay_of_each_store() -> None:
    settings = StateSettings(
        files=(2_000, 3_000),
        caches=(100, 1),
        repetitions=1,
        replay_events=400,
        replay_triggers=100,
        kafka=False,
    )
    measured = run_state(settings)

    rows = {(row["store"], row["files"]): row for row in measured["memory"]}
    assert set(rows) == {(s, n) for s in ("memory", "disk:100", "disk:1") for n in (2_000, 3_000)}
    for (store, files), row in rows.items():
        assert row["invocations"] == files  # the per-file trigger fired for every file
        assert row["events_per_s"] > 0 and row["runs"] == 1
        assert 0 < row["rss_before_bytes"] <= row["rss_final_bytes"] <= row["rss_peak_bytes"]
        assert (row["disk_bytes"] > 0) == (store != "memory")
    for part in ("hot_path", "replay"):
        pair = measured[part]
        assert pair["events"] == 400
        assert pair["memory_events_per_s"] > 0 and pair["disk_events_per_s"] > 0
        assert len(pair["memory_s"]) == len(pair["disk_s"]) == 1
    judged = {target.goal: target for target in report.state_targets(measured)}
    for goal in ("hot path with the disk store", "replay --state-dir"):
        assert judged[f"{goal} within 1.5x of in-memory"].passed is not None
    assert "disk:1" in report.state_lines(measured)


def test_the_state_benchmark_takes_its_defaults_where_the_command_line_is_silent() -> None:
    settings = state_settings(build_parser().parse_args(["--state"]))
    defaults = StateSettings()
    assert (settings.repetitions, settings.replay_events) == (3, 100_000)
    assert settings.files == defaults.files and settings.caches == defaults.caches
    assert (settings.restore_records, settings.restart_files) == ((1_000_000,), 1_000_000)
    given = build_parser().parse_args(["--state", "--repetitions", "2", "--events", "500"])
    assert (state_settings(given).repetitions, state_settings(given).replay_events) == (2, 500)


def test_a_state_store_is_named_memory_or_disk_with_its_cache() -> None:
    assert parse_store(store_label(None)) is None
    assert parse_store(store_label(100_000)) == 100_000
    with pytest.raises(ValueError, match="'disk:0'"):
        parse_store("disk:0")
