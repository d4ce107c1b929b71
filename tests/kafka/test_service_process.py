"""`python -m engine run` as a real process: SIGKILL at several points loses and repeats nothing,
SIGTERM commits the work in flight and leaves the group within the deadline.

A killed member stays in the group until its session times out (10 s), so each restart after a
kill waits that long for the rebalance; these tests take tens of seconds for that reason alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

import orjson
from aiokafka.admin import AIOKafkaAdminClient

from tests.kafka.conftest import CreateTopics
from tests.kafka.helpers import (
    REPO,
    WAIT_S,
    Deployment,
    Produced,
    by_dataset,
    committed,
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
    """One `trigger-engine run` process; its log goes to `log`."""

    def __init__(self, process: asyncio.subprocess.Process, log: Path) -> None:
        self.process = process
        self.log = log

    @classmethod
    async def start(cls, dep: Deployment, log: Path) -> Engine:
        with log.open("ab") as stream:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "engine",
                "run",
                *dep.flags(),
                "--batch-max-records=5",
                f"--shutdown-timeout={SHUTDOWN_TIMEOUT_S}",
                cwd=REPO,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=stream,
            )
        return cls(process, log)

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


async def test_kill_9_at_several_points_loses_and_repeats_nothing(
    kafka_bootstrap: str,
    kafka_admin: AIOKafkaAdminClient,
    create_topics: CreateTopics,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    dep, triggers = await example_deployment(kafka_bootstrap, create_topics, unique_name)
    lines, log = workload(), tmp_path / "engine.log"
    produced: list[Produced] = []
    for start in range(0, 225, 75):
        done = sum((await committed(kafka_admin, dep.group, dep.events)).values())
        engine = await Engine.start(dep, log)
        # Events arrive while the engine runs; it is killed once it has committed some of them.
        producing = asyncio.ensure_future(
            produce_events(kafka_bootstrap, dep.events, lines[start : start + 75])
        )
        await _progress(kafka_admin, dep, done)
        await engine.kill()
        produced += await producing

    engine = await Engine.start(dep, log)
    produced += await produce_events(kafka_bootstrap, dep.events, lines[225:])
    await wait_committed(kafka_admin, dep.group, dep.events, ends_of(produced))
    engine.process.terminate()
    assert await engine.exit_code(SHUTDOWN_TIMEOUT_S + 5) == 0, engine.tail()

    want = expected(produced, triggers)
    invocations = values(await read_all(kafka_bootstrap, dep.invocations))
    assert Counter(invocations) == Counter(want.invocations), engine.tail()
    evaluations = values(await read_all(kafka_bootstrap, dep.evaluations))
    assert Counter(evaluations) == Counter(want.evaluations)


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
    engine.process.terminate()
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


async def test_sigterm_commits_the_batch_and_leaves_the_group_in_time(
    kafka_bootstrap: str,
    kafka_admin: AIOKafkaAdminClient,
    create_topics: CreateTopics,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    dep, triggers = await example_deployment(kafka_bootstrap, create_topics, unique_name)
    produced = await produce_events(kafka_bootstrap, dep.events, workload())
    engine = await Engine.start(dep, tmp_path / "engine.log")
    await _progress(kafka_admin, dep, 0)

    engine.process.terminate()
    assert await engine.exit_code(SHUTDOWN_TIMEOUT_S) == 0, engine.tail()

    [response] = await kafka_admin.describe_consumer_groups([dep.group])
    [group] = response.to_object()["groups"]
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
