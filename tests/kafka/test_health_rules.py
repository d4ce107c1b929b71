"""The rules of the service's health, on made-up times (seconds of a monotonic clock): when the
brokers count as unreachable, a partition as stalled, the main loop as wedged, a member as ready,
and what the lag of a partition is. No broker."""

from __future__ import annotations

import logging

import pytest

from engine.service.health import Health, HealthLimits, PartitionProgress

LIMITS = HealthLimits(broker_unreachable_after=15.0, stalled_after=60.0, wedged_after=120.0)


def _assigned(*partitions: int) -> Health:
    health = Health(LIMITS, now=0.0)
    health.assigned(partitions, now=0.0)
    return health


def test_a_member_is_not_ready_until_the_group_assigns_it_partitions_even_none() -> None:
    health = Health(LIMITS, now=0.0)
    assert health.unready(1.0) == "waiting for the group to assign partitions"
    assert health.wedged(500.0) is None  # the main loop waits for the group, not wedged
    health.assigned([], now=2.0)
    health.broker_answered(499.0)
    assert health.unready(500.0) is None  # an idle member of a group larger than the partitions
    assert health.partitions == []


def test_records_that_wait_without_progress_stall_the_partition_until_it_moves() -> None:
    health = _assigned(0, 1)
    health.observe(0, 0.0, position=10, end=15)
    health.observe(1, 0.0, position=7, end=7)
    health.observe(0, 60.0, position=10, end=15)
    health.observe(1, 60.0, position=7, end=7)
    assert health.stalled(60.0) == {}  # not longer than the limit
    assert health.stalled_seconds(61.0) == {0: 61.0, 1: 0.0}
    assert health.stalled(61.0) == {0: 61.0}
    health.broker_answered(61.0)
    assert health.unready(61.0) == ("stalled partitions, no progress while records wait: 0 (61 s)")
    assert health.lags() == {0: 5, 1: 0}

    health.observe(0, 62.0, position=11)
    assert health.stalled(62.0 + 60.0) == {}
    health.broker_answered(62.0 + 60.0)
    assert health.unready(62.0 + 60.0) is None
    assert health.stalled(62.0 + 61.0) == {0: 61.0}  # still 4 records behind, no progress since


def test_a_partition_restoring_its_state_is_not_stalled() -> None:
    health = _assigned(3)
    health.observe(3, 0.0, position=0, end=500)
    health.observe(3, 100.0, restoring=True)
    assert health.stalled(150.0) == {}
    assert health.lags() == {3: 500}


def test_offsets_without_records_past_the_position_are_not_lag_once_fetched_past() -> None:
    """A transactional producer's commit marker, or an aborted transaction, at the end of the
    partition: nothing to process, however long it stays."""
    health = _assigned(0)
    health.fetched(0, fetched_to=9)
    health.observe(0, 0.0, position=9, end=12, fetch_position=9)
    assert health.lags() == {0: 3}  # not fetched past yet: they may be records
    health.observe(0, 1.0, fetch_position=12)
    assert health.lags() == {0: 0}
    assert health.stalled(1000.0) == {}


def test_records_fetched_and_not_committed_wait_even_when_the_consumer_is_at_the_end() -> None:
    progress = PartitionProgress(calm_since=0.0, position=4, end=9, fetched_to=9, fetch_position=9)
    assert progress.pending
    assert progress.lag == 5


def test_an_older_look_at_the_end_does_not_move_it_back() -> None:
    health = _assigned(0)
    health.observe(0, 0.0, position=0, end=20)
    health.observe(0, 1.0, end=12)
    assert health.lags() == {0: 20}


def test_partitions_the_group_takes_away_are_forgotten_and_those_kept_stay_known() -> None:
    health = _assigned(0, 1)
    health.observe(0, 0.0, position=3, end=8)
    health.observe(1, 0.0, position=2, end=2)
    health.assigned([0, 2], now=30.0)
    assert health.partitions == [0, 2]
    assert health.lags() == {0: 5}
    assert health.stalled(61.0) == {0: 61.0}  # its wait goes on across the rebalance


def test_brokers_silent_longer_than_the_limit_make_the_member_unready(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="engine.service.health")
    health = _assigned()
    health.broker_answered(10.0)
    assert health.unready(25.0) is None
    assert health.broker_reachable(25.0)
    assert health.unready(25.5) == "brokers unreachable for 16 s"  # a look may still be waiting
    assert not health.broker_reachable(25.5)
    for _ in range(3):
        health.broker_failed("KafkaConnectionError('refused')")
    assert not health.broker_reachable(14.0)  # at once, though still ready
    assert health.unready(14.0) is None
    assert health.unready(30.0) == (
        "brokers unreachable for 20 s (KafkaConnectionError('refused'))"
    )
    health.broker_answered(40.0)
    assert health.broker_reachable(40.5)
    assert health.unready(40.5) is None
    messages = [record.getMessage() for record in caplog.records]
    assert messages == [
        "the brokers do not answer (KafkaConnectionError('refused')); /readyz fails once they "
        "are silent for 15 s",
        "the brokers answer again, after 30.0 s without an answer",
    ]


def _brokers_answer(health: Health, start: float, end: float) -> None:
    """The brokers answer a look every second from `start` to `end`."""
    for second in range(int(start), int(end) + 1):
        health.broker_answered(float(second))


def test_a_main_loop_that_does_not_turn_is_wedged_unless_it_waits_for_the_brokers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="engine.service.health")
    health = _assigned()
    health.loop_turned(5.0)
    _brokers_answer(health, 0.0, 126.0)
    assert health.wedged(125.0) is None
    assert health.wedged(126.0) == "wedged: the main loop has not turned for 121 s"
    for now in (126.0, 127.0):
        health.report(now)
    health.loop_turned(128.0)
    health.report(128.0)
    assert [record.getMessage() for record in caplog.records] == [
        "wedged: the main loop has not turned for 121 s; /healthz fails",
        "the main loop turns again",
    ]

    health.broker_failed("KafkaTimeoutError()")
    assert health.wedged(300.0) is None  # readiness tells that the brokers do not answer
    _brokers_answer(health, 300.0, 421.0)
    assert health.wedged(420.0) is None  # the deadline counts from the brokers' return
    assert health.wedged(421.0) == "wedged: the main loop has not turned for 121 s"

    health.assigned([1], now=421.0)  # the loop waited for the group's assignment
    _brokers_answer(health, 422.0, 542.0)
    assert health.wedged(541.0) is None
    assert health.wedged(542.0) == "wedged: the main loop has not turned for 121 s"


def test_brokers_silent_for_longer_than_allowed_excuse_the_main_loop_too() -> None:
    """A look that waits long for its answer, and gets one: no failure, a long silence."""
    health = _assigned()
    _brokers_answer(health, 0.0, 10.0)
    assert health.wedged(200.0) is None  # silent since 10 s
    _brokers_answer(health, 200.0, 321.0)
    assert health.wedged(320.0) is None
    assert health.wedged(321.0) == "wedged: the main loop has not turned for 121 s"


def test_stalls_are_logged_when_they_begin_and_when_they_end(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="engine.service.health")
    health = _assigned(2)
    health.observe(2, 0.0, position=40, end=45)
    for now in (30.0, 61.0, 62.0, 90.0):
        health.observe(2, now, position=40)
        health.report(now)
    health.observe(2, 91.0, position=45)
    health.report(91.0)
    health.report(92.0)
    assert [record.getMessage() for record in caplog.records] == [
        "partition 2 is stalled: no progress for 61 s while records wait (offsets 40 to 45)",
        "partition 2 makes progress again",
    ]
