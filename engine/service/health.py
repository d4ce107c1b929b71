"""What the service says of its own health: whether its main loop turns, whether the brokers
answer, and whether each owned input partition makes progress while records wait in it.

The service reports what it sees, with the time of a monotonic clock, and asks for verdicts at a
time: a deadline counts from the last observation, so a probe sees a condition as soon as its
deadline has passed, not at the next observation. No clock is read here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class HealthLimits:
    """Seconds: brokers that have not answered for longer are unreachable, a partition whose
    records wait without progress for longer is stalled, a main loop that has not turned for
    longer is wedged."""

    broker_unreachable_after: float
    stalled_after: float
    wedged_after: float


@dataclass(slots=True)
class PartitionProgress:
    """What is known of one owned input partition (offsets: None until known)."""

    calm_since: float  # since then it progressed, or had nothing to process, at every look
    position: int | None = None  # the next offset to process: below it, processed and committed
    end: int | None = None  # its last stable offset: what read_committed consumers can read
    fetched_to: int = 0  # the offset after the last record fetched for it
    fetch_position: int | None = None  # the consumer's next offset to fetch

    @property
    def pending(self) -> bool:
        """Whether records wait: fetched and not committed, or below the end and not fetched.
        Offsets that hold no record (transaction markers, aborted records) stop counting once the
        consumer has fetched past them."""
        if self.position is None or self.end is None:
            return False
        fetched = self.position if self.fetch_position is None else self.fetch_position
        return self.fetched_to > self.position or max(fetched, self.position) < self.end

    @property
    def lag(self) -> int | None:
        """Offsets between the position and the end while records wait, else 0."""
        if self.position is None or self.end is None:
            return None
        return max(0, self.end - self.position) if self.pending else 0


class Health:
    """The health of one service instance, from what it reports: the verdicts of `/healthz`
    (`wedged`), of `/readyz` (`unready`), the health metrics, and log lines when they change."""

    def __init__(self, limits: HealthLimits, now: float) -> None:
        self.limits = limits
        self._turned_at = now  # the main loop's last turn
        self._excused_at = now  # the end of the last wait on the group or the brokers
        self._answered_at = now  # the brokers' last answer
        self._broker_error: str | None = None  # why they did not answer since
        self._assigned = False  # the group gave this member its partitions, none maybe
        self._partitions: dict[int, PartitionProgress] = {}
        self._stalled: set[int] = set()  # the partitions last reported stalled
        self._wedged = False  # as last reported

    # observations

    def loop_turned(self, now: float) -> None:
        self._turned_at = now

    def assigned(self, partitions: Iterable[int], now: float) -> None:
        """The group gave this member `partitions` (none, maybe). What is known of a partition
        it keeps stays; a partition it gains starts calm."""
        owned = set(partitions)
        kept = {p: progress for p, progress in self._partitions.items() if p in owned}
        self._partitions = {p: kept.get(p) or PartitionProgress(calm_since=now) for p in owned}
        self._stalled &= owned
        self._assigned = True
        self._excused_at = now

    def fetched(self, partition: int, fetched_to: int) -> None:
        progress = self._partitions.get(partition)
        if progress is not None:
            progress.fetched_to = max(progress.fetched_to, fetched_to)

    def observe(
        self,
        partition: int,
        now: float,
        *,
        position: int | None = None,
        end: int | None = None,
        fetch_position: int | None = None,
        restoring: bool = False,
    ) -> None:
        """What is seen of an owned partition now (None: not seen). A partition restoring its
        state, whose position moved, or with no record waiting, is calm."""
        progress = self._partitions.get(partition)
        if progress is None:
            return
        moved = position is not None and position != progress.position
        if position is not None:
            progress.position = position
        if end is not None:  # a last stable offset only grows; an older look may come later
            progress.end = end if progress.end is None else max(progress.end, end)
        if fetch_position is not None:
            progress.fetch_position = fetch_position
        if restoring or moved or not progress.pending:
            progress.calm_since = now

    def broker_answered(self, now: float) -> None:
        if not self.broker_reachable(now):
            self._excused_at = now
        if self._broker_error is not None:
            log.info(
                "the brokers answer again, after %.1f s without an answer",
                now - self._answered_at,
            )
            self._broker_error = None
        self._answered_at = now

    def broker_failed(self, error: str) -> None:
        if self._broker_error is None:
            log.warning(
                "the brokers do not answer (%s); /readyz fails once they are silent for %g s",
                error,
                self.limits.broker_unreachable_after,
            )
        self._broker_error = error

    def report(self, now: float) -> None:
        """Log a main loop that has just wedged or turns again, the partitions that have just
        stalled, and those that progress again."""
        wedged = self.wedged(now)
        if wedged is not None and not self._wedged:
            log.error("%s; /healthz fails", wedged)
        elif wedged is None and self._wedged:
            log.info("the main loop turns again")
        self._wedged = wedged is not None
        stalled = self.stalled(now)
        for partition in sorted(stalled.keys() - self._stalled):
            progress = self._partitions[partition]
            log.warning(
                "partition %d is stalled: no progress for %.0f s while records wait (offsets "
                "%s to %s)",
                partition,
                stalled[partition],
                progress.position,
                progress.end,
                extra={"partition": partition, "offset": progress.position},
            )
        for partition in sorted(self._stalled - stalled.keys()):
            log.info("partition %d makes progress again", partition, extra={"partition": partition})
        self._stalled = set(stalled)

    # verdicts

    @property
    def partitions(self) -> list[int]:
        """The partitions the group last gave this member."""
        return sorted(self._partitions)

    def broker_reachable(self, now: float) -> bool:
        """False from a look the brokers did not answer, or once they have been silent for
        longer than allowed, until they answer."""
        silent = now - self._answered_at
        return self._broker_error is None and silent <= self.limits.broker_unreachable_after

    def wedged(self, now: float) -> str | None:
        """Why the main loop counts as wedged, if it does: it has not turned for longer than
        allowed since it last waited for the group's assignment. Waiting for the first assignment
        or for brokers that do not answer is not wedged: readiness tells those."""
        if not self._assigned or not self.broker_reachable(now):
            return None
        still = now - max(self._turned_at, self._excused_at)
        if still <= self.limits.wedged_after:
            return None
        return f"wedged: the main loop has not turned for {still:.0f} s"

    def unready(self, now: float) -> str | None:
        """Why this member is not ready, if it is not: no assignment from the group yet, the
        brokers silent for too long, or a stalled partition."""
        if not self._assigned:
            return "waiting for the group to assign partitions"
        silent = now - self._answered_at
        if silent > self.limits.broker_unreachable_after:
            why = f" ({self._broker_error})" if self._broker_error else ""
            return f"brokers unreachable for {silent:.0f} s{why}"
        stalled = self.stalled(now)
        if stalled:
            listed = ", ".join(f"{p} ({s:.0f} s)" for p, s in sorted(stalled.items()))
            return f"stalled partitions, no progress while records wait: {listed}"
        return None

    def stalled(self, now: float) -> dict[int, float]:
        """The stalled partitions, with the seconds since they last made progress."""
        return {
            partition: seconds
            for partition, seconds in self.stalled_seconds(now).items()
            if seconds > self.limits.stalled_after
        }

    def stalled_seconds(self, now: float) -> dict[int, float]:
        """For each owned partition, the seconds it has gone without progress while records
        wait in it: 0 when none wait."""
        return {
            partition: now - progress.calm_since if progress.pending else 0.0
            for partition, progress in self._partitions.items()
        }

    def lags(self) -> dict[int, int]:
        """The lag of each owned partition whose position and end are known."""
        return {
            partition: lag
            for partition, progress in self._partitions.items()
            if (lag := progress.lag) is not None
        }
