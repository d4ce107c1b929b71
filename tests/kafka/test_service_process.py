"""`python -m engine run` as a real process: SIGKILL at several points loses and repeats nothing,
and a static member killed and restarted takes its partitions back at once; SIGTERM commits the
work in flight and leaves the group within the deadline, and at any moment after the process
starts it ends it with status 0.

A killed dynamic member stays in the group until its session times out (10 s), so each restart
after a kill waits that long for the rebalance; the tests that kill one take tens of seconds for
that reason alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import signal
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from engine.models import Trigger
from tests.kafka.conftest import CreateTopics
from tests.kafka.helpers import (
    POLL_S,
    REPO,
    WAIT_S,
    Deployment,
    Expected,
    Produced,
    by_dataset,
    committed,
    dataset_key,
    ends_of,
    example_deployment,
    expected,
    interleaved,
    produce_events,
    read_all,
    upload,
    values,
    wait_committed,
    wait_for,
    workload,
)

SHUTDOWN_TIMEOUT_S = 15


class Engine:
    """One `trigger-engine run` process; its log is appended to `log`."""

    def __init__(self, process: asyncio.subprocess.Process, log: Path) -> None:
        self.process = process
        self.log = log

    @classmethod
    async def start(cls, dep: Deployment, log: Path, *flags: str) -> Engine:
        """The engine of `dep` with the tests' batch size and deadline, and `flags`."""
        with log.open("ab") as stream:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "engine",
                "run",
                *dep.flags(),
                "--batch-max-records=5",
                f"--shutdown-timeout={SHUTDOWN_TIMEOUT_S}",
                *flags,
                cwd=REPO,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=stream,
            )
        return cls(process, log)

    def logged(self) -> str:
        """What its log file holds (with the lines of earlier processes that shared it)."""
        return self.log.read_text(errors="replace")

    async def wait_logged(self, text: str) -> None:
        await wait_for(lambda: text in self.logged(), f"the engine to log {text!r}")

    def handles_sigterm(self) -> bool:
        """Whether the process has installed its SIGTERM handler (Linux: its status's SigCgt
        mask). Before that, during the interpreter's own start, SIGTERM would end it by the
        signal, as it would any program."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        caught = re.search(r"^SigCgt:\s*([0-9a-f]+)$", status, re.MULTILINE)
        assert caught, status
        return bool(int(caught.group(1), 16) >> (signal.SIGTERM - 1) & 1)

    async def terminate(self) -> None:
        """SIGTERM, once the process handles it."""
        await wait_for(self.handles_sigterm, "the engine to handle SIGTERM")
        self.process.terminate()

    async def kill(self) -> None:
        """SIGKILL: the process ends at once, in the middle of whatever it was doing."""
        self.process.kill()
        assert await self.exit_code(WAIT_S) == -9

    async def exit_code(self, within: float) -> int:
        try:
            async with asyncio.timeout(within):
                return await self.process.wait()
        except TimeoutError:
            self.process.kill()
            raise AssertionError(f"still running after {within:g} s:\n{self.tail()}") from None

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-40:])


async def _progress(admin: AIOKafkaAdminClient, dep: Deployment, beyond: int) -> None:
    async def moved() -> bool:
        return sum((await committed(admin, dep.group, dep.events)).values()) > beyond

    await wait_for(moved, f"{dep.group} to commit more than {beyond} events")


async def through_kills(
    kafka_bootstrap: str,
    kafka_admin: AIOKafkaAdminClient,
    dep: Deployment,
    triggers: list[Trigger],
    log: Path,
    *flags: str,
) -> tuple[list[Produced], Expected, Engine]:
    """The example workload through an engine (run with `flags`) killed at three points and
    started again, checked against replay: every invocation and evaluation exactly once. The
    events, what replay gives for them, and the last engine, stopped."""
    lines = workload()
    produced: list[Produced] = []
    for start in range(0, 225, 75):
        done = sum((await committed(kafka_admin, dep.group, dep.events)).values())
        engine = await Engine.start(dep, log, *flags)
        # Events arrive while the engine runs; it is killed once it has committed some of them.
        producing = asyncio.ensure_future(
            produce_events(kafka_bootstrap, dep.events, lines[start : start + 75])
        )
        await _progress(kafka_admin, dep, done)
        await engine.kill()
        produced += await producing

    engine = await Engine.start(dep, log, *flags)
    produced += await produce_events(kafka_bootstrap, dep.events, lines[225:])
    await wait_committed(kafka_admin, dep.group, dep.events, ends_of(produced))
    await engine.terminate()
    assert await engine.exit_code(SHUTDOWN_TIMEOUT_S + 5) == 0, engine.tail()

    want = expected(produced, triggers)
    invocations = values(await read_all(kafka_bootstrap, dep.invocations))
    assert Counter(invocations) == Counter(want.invocations), engine.tail()
    evaluations = values(await read_all(kafka_bootstrap, dep.evaluations))
    assert Counter(evaluations) == Counter(want.evaluations)
    return produced, want, engine


async def test_kill_9_at_several_points_loses_and_repeats_nothing(
    kafka_bootstrap: str,
    kafka_admin: AIOKafkaAdminClient,
    create_topics: CreateTopics,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    dep, triggers = await example_deployment(kafka_bootstrap, create_topics, unique_name)
    await through_kills(kafka_bootstrap, kafka_admin, dep, triggers, tmp_path / "engine.log")


async def test_kill_9_while_uploads_are_open_fires_each_dataset_trigger_once_at_its_completion(
    kafka_bootstrap: str,
    kafka_admin: AIOKafkaAdminClient,
    create_topics: CreateTopics,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    """Uploads of a dozen datasets (half of them in two overlapping transactions) are open while
    the service is killed: among their file events, then once it has committed all of them, so
    that the open uploads and the causes they remember live only in the changelog. Their
    completions go to the restarted service, killed once more among them. Each dataset trigger
    fires exactly once per dataset, at the completion of its last transaction, with every file of
    the upload; and all the output is what replay gives for the same events."""
    dep, triggers = await example_deployment(kafka_bootstrap, create_topics, unique_name)
    uploads = [
        upload(f"ds_u{i:02d}", overlapping=i % 2 == 0, snapshot=i % 3 == 0) for i in range(12)
    ]
    during = interleaved([u.during for u in uploads], seed=11)
    after = interleaved([u.after for u in uploads], seed=13)
    log, half = tmp_path / "engine.log", len(during) // 2

    engine = await Engine.start(dep, log)
    producing = asyncio.ensure_future(produce_events(kafka_bootstrap, dep.events, during[:half]))
    await _progress(kafka_admin, dep, 0)
    await engine.kill()
    produced = await producing

    engine = await Engine.start(dep, log)
    produced += await produce_events(kafka_bootstrap, dep.events, during[half:])
    await wait_committed(kafka_admin, dep.group, dep.events, ends_of(produced))
    await engine.kill()

    engine = await Engine.start(dep, log)
    producing = asyncio.ensure_future(produce_events(kafka_bootstrap, dep.events, after))
    await _progress(kafka_admin, dep, len(during))
    await engine.kill()
    produced += await producing

    engine = await Engine.start(dep, log)
    await wait_committed(kafka_admin, dep.group, dep.events, ends_of(produced))
    await engine.terminate()
    assert await engine.exit_code(SHUTDOWN_TIMEOUT_S + 5) == 0, engine.tail()

    invocations = values(await read_all(kafka_bootstrap, dep.invocations))
    fired: dict[str, list[tuple[str, str, list[str]]]] = defaultdict(list)
    for payload in invocations:
        request = orjson.loads(payload)
        if request["for_each"] == "dataset":
            files = [f["relative_path"] for f in request["input_data"]["files"]]
            dataset = request["data_source"]["data_source_id"]
            fired[dataset].append((request["trigger"]["name"], request["event_id"], files))
    assert fired == {
        u.dataset: [
            ("run-summary", u.completed_by, u.frames_and_bags),
            ("run-summary-gpu", u.completed_by, u.bags),
        ]
        for u in uploads
    }, engine.tail()
    want = expected(produced, triggers)
    assert by_dataset(invocations) == by_dataset(want.invocations)
    evaluations = values(await read_all(kafka_bootstrap, dep.evaluations))
    assert by_dataset(evaluations) == by_dataset(want.evaluations)


@pytest.mark.parametrize(
    "membership", [[], ["--group-instance-id=engine-1"]], ids=["dynamic", "static"]
)
async def test_sigterm_commits_the_batch_and_leaves_the_group_in_time(
    kafka_bootstrap: str,
    kafka_admin: AIOKafkaAdminClient,
    create_topics: CreateTopics,
    unique_name: Callable[[str], str],
    tmp_path: Path,
    membership: list[str],
) -> None:
    """A static member leaves too: aiokafka would keep it in the group, its partitions idle
    until its session times out, and the engine removes it by its instance id."""
    dep, triggers = await example_deployment(kafka_bootstrap, create_topics, unique_name)
    produced = await produce_events(kafka_bootstrap, dep.events, workload())
    engine = await Engine.start(dep, tmp_path / "engine.log", *membership)
    await _progress(kafka_admin, dep, 0)

    await engine.terminate()
    assert await engine.exit_code(SHUTDOWN_TIMEOUT_S) == 0, engine.tail()

    group = await _group(kafka_admin, dep)
    assert (group["state"], group["members"]) == ("Empty", [])
    # Whatever was committed is exactly the output of the events below the committed offsets.
    # The outputs are read once their transactions are decided; the group's offsets, committed in
    # the same transactions, become visible when the coordinator has written its own markers,
    # which may come a moment later: wait for them, and no further.
    invocations = Counter(values(await read_all(kafka_bootstrap, dep.invocations)))

    async def below_committed() -> list[Produced]:
        done = await committed(kafka_admin, dep.group, dep.events)
        return [p for p in produced if p.offset < done.get(p.partition, 0)]

    async def accounted_for() -> bool:
        processed = await below_committed()
        return Counter(expected(processed, triggers).invocations) == invocations

    with contextlib.suppress(AssertionError):  # the assertion below says what differs
        await wait_for(accounted_for, "the committed offsets to account for every invocation")
    processed = await below_committed()
    assert processed
    assert invocations == Counter(expected(processed, triggers).invocations)


async def _group(admin: AIOKafkaAdminClient, dep: Deployment) -> dict[str, Any]:
    [response] = await admin.describe_consumer_groups([dep.group])
    [group] = response.to_object()["groups"]
    return dict(group)


@pytest.mark.parametrize(
    ("moment", "said"),
    [
        ("handles the signal", "stopped before starting"),
        ("registry loaded", ""),
        ("ready at offset", "left group"),
    ],
)
async def test_sigterm_at_any_moment_after_start_ends_the_process_with_status_0(
    kafka_bootstrap: str,
    kafka_admin: AIOKafkaAdminClient,
    create_topics: CreateTopics,
    unique_name: Callable[[str], str],
    tmp_path: Path,
    moment: str,
    said: str,
) -> None:
    """SIGTERM as soon as the process handles it (in the middle of its imports, before anything
    is started), once it has loaded the registry (a static member, it joined the group first),
    once it owns its partitions: each time status 0, no traceback, and no member left in the
    group."""
    dep, _ = await example_deployment(kafka_bootstrap, create_topics, unique_name)
    await produce_events(kafka_bootstrap, dep.events, workload(datasets=2))
    engine = await Engine.start(dep, tmp_path / "engine.log", "--group-instance-id=engine-1")
    if moment != "handles the signal":
        await engine.wait_logged(moment)
    await engine.terminate()
    assert await engine.exit_code(SHUTDOWN_TIMEOUT_S) == 0, engine.tail()

    assert "Traceback" not in engine.logged(), engine.tail()
    assert said in engine.logged(), engine.tail()
    assert (await _group(kafka_admin, dep))["members"] == []


# The documented bound (docs/operations.md, "On crash"): a partition whose static member was killed
# and restarted at once makes progress again within the session timeout (10 s by default) of its
# last progress; it takes about the restart time. A dynamic member's restart takes longer: its
# partitions wait for the dead member's session to time out, and for the rebalance after that.
STALL_BOUND_S = 10.0
KILLS = 10
ASSIGNED = "engine.service.service: assigned "  # the service's log line for each assignment
READY = "ready at offset"
FEED_CHUNK = 10


class _Feed:
    """Events produced in chunks of `FEED_CHUNK` while the group keeps up: the next chunk goes out
    once at most one chunk is left unprocessed, so events are always waiting, and a partition
    whose owner is down holds the feed back instead of piling events up."""

    def __init__(self, bootstrap: str, admin: AIOKafkaAdminClient, dep: Deployment) -> None:
        self._bootstrap = bootstrap
        self._admin = admin
        self._dep = dep
        self._stopping = asyncio.Event()
        self.produced: list[Produced] = []

    def stop(self) -> None:
        """Finish the chunk being produced, then produce no more."""
        self._stopping.set()

    async def run(self, lines: list[bytes]) -> None:
        async with AIOKafkaProducer(bootstrap_servers=self._bootstrap, acks="all") as producer:
            for start in range(0, len(lines), FEED_CHUNK):
                await wait_for(self._caught_up, "the group to keep up with the feed")
                if self._stopping.is_set():
                    return
                chunk = lines[start : start + FEED_CHUNK]
                sent = [await producer.send(self._dep.events, x, dataset_key(x)) for x in chunk]
                for meta, line in zip(await asyncio.gather(*sent), chunk, strict=True):
                    self.produced.append(Produced(meta.partition, meta.offset, line))
        raise AssertionError("the feed ran out of events")

    async def _caught_up(self) -> bool:
        if self._stopping.is_set():
            return True
        done = await committed(self._admin, self._dep.group, self._dep.events)
        return sum(done.values()) >= len(self.produced) - FEED_CHUNK


class _Stalls:
    """The longest time each input partition went without its committed offset moving while it
    had events to process, sampled every `POLL_S`."""

    def __init__(self, admin: AIOKafkaAdminClient, dep: Deployment, feed: _Feed) -> None:
        self._admin = admin
        self._dep = dep
        self._feed = feed
        self.longest: dict[int, float] = {}

    async def watch(self) -> None:
        seen: dict[int, tuple[int, float]] = {}  # partition -> (committed offset, since when)
        while True:
            done = await committed(self._admin, self._dep.group, self._dep.events)
            now = time.monotonic()
            for partition, end in ends_of(self._feed.produced).items():
                offset = done.get(partition, 0)
                if offset >= end or seen.get(partition, (None, now))[0] != offset:
                    seen[partition] = (offset, now)
                stalled = now - seen[partition][1]
                self.longest[partition] = max(self.longest.get(partition, 0.0), stalled)
            await asyncio.sleep(POLL_S)


async def test_ten_kill_9_in_a_row_lose_and_repeat_nothing_and_stall_no_partition_for_long(
    kafka_bootstrap: str,
    kafka_admin: AIOKafkaAdminClient,
    create_topics: CreateTopics,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    """Two static members share the group while events keep arriving. Ten times in a row one of
    them, chosen at random (seeded), is killed at a random moment (once it is up again, when the
    group has committed a random number of further events) and started again at once under its
    instance id, as an orchestrator restarts a crashed container. Every event's output appears
    exactly once; no partition with events waiting goes longer than the documented bound without
    progress; and no kill causes a rebalance: each restarted process gets its partitions back in
    one assignment, and the other member is never assigned anything again."""
    dep, triggers = await example_deployment(kafka_bootstrap, create_topics, unique_name)
    rng = random.Random(2026)
    names = ["engine-a", "engine-b"]

    lives = Counter[str]()

    async def start(name: str) -> Engine:
        lives[name] += 1
        log = tmp_path / f"{name}-{lives[name]}.log"
        return await Engine.start(dep, log, f"--group-instance-id={name}")

    engines = {"engine-a": await start("engine-a")}
    await engines["engine-a"].wait_logged(READY)
    engines["engine-b"] = await start("engine-b")
    await engines["engine-b"].wait_logged(READY)
    # engine-b's joining rebalanced the group: engine-a was assigned its share again.
    await wait_for(lambda: engines["engine-a"].logged().count(ASSIGNED) == 2, "the rebalance")
    first = dict(engines)
    restarted: list[Engine] = []
    feed = _Feed(kafka_bootstrap, kafka_admin, dep)
    stalls = _Stalls(kafka_admin, dep, feed)
    feeding = asyncio.ensure_future(feed.run(workload(datasets=400, seed=17)))
    watching = asyncio.ensure_future(stalls.watch())
    try:
        for _ in range(KILLS):
            victim = rng.choice(names)
            await engines[victim].wait_logged(READY)
            done = sum((await committed(kafka_admin, dep.group, dep.events)).values())
            await _progress(kafka_admin, dep, done + rng.randint(1, 40))
            await engines[victim].kill()
            engines[victim] = await start(victim)
            restarted.append(engines[victim])
        feed.stop()
        await feeding
        await wait_committed(kafka_admin, dep.group, dep.events, ends_of(feed.produced))
    finally:
        for task in (watching, feeding):
            task.cancel()
        await asyncio.wait([watching, feeding])
    for engine in engines.values():
        await engine.wait_logged(READY)  # the last one restarted is up again too
        await engine.terminate()
    for engine in engines.values():
        assert await engine.exit_code(SHUTDOWN_TIMEOUT_S + 5) == 0, engine.tail()

    assert max(stalls.longest.values()) <= STALL_BOUND_S, f"stalled: {stalls.longest} s"
    assert [engine.logged().count(ASSIGNED) for engine in restarted] == [1] * KILLS
    assert {name: first[name].logged().count(ASSIGNED) for name in names} == {
        "engine-a": 2,
        "engine-b": 1,
    }
    want = expected(feed.produced, triggers)
    invocations = values(await read_all(kafka_bootstrap, dep.invocations))
    assert Counter(invocations) == Counter(want.invocations)
    evaluations = values(await read_all(kafka_bootstrap, dep.evaluations))
    assert Counter(evaluations) == Counter(want.evaluations)
