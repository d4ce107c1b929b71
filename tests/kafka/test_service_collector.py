"""The service's collector policy against the real broker: after each round of transactions the
state it keeps leaves the collector's sight (full collections would walk all of it, a pause that
grows with the state), which is safe because processing events makes no cyclic garbage."""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Callable

from aiokafka.admin import AIOKafkaAdminClient

from engine.service.service import TriggerService
from engine.state import DatasetState
from tests.kafka.conftest import CreateTopics
from tests.kafka.helpers import (
    PARTITIONS,
    ends_of,
    example_deployment,
    produce_events,
    wait_committed,
    wait_for,
    workload,
)

WARM_UP = 200  # events that open the connections and producers the rest reuse


def _states_in_sight() -> int:
    return sum(isinstance(obj, DatasetState) for obj in gc.get_objects())


async def test_the_service_settles_its_state_and_makes_no_cyclic_garbage_per_event(
    kafka_bootstrap: str,
    kafka_admin: AIOKafkaAdminClient,
    create_topics: CreateTopics,
    unique_name: Callable[[str], str],
) -> None:
    dep, _ = await example_deployment(kafka_bootstrap, create_topics, unique_name)
    lines = workload(datasets=200)
    gc.unfreeze()  # earlier tests' frozen garbage goes now, not in the count below
    gc.collect()
    async with TriggerService(dep.settings()) as service:
        await wait_for(lambda: len(service.partitions) == PARTITIONS, "every partition restored")
        produced = await produce_events(kafka_bootstrap, dep.events, lines[:WARM_UP])
        await wait_committed(kafka_admin, dep.group, dep.events, ends_of(produced))
        gc.unfreeze()
        gc.collect()
        gc.set_debug(gc.DEBUG_SAVEALL)  # keep what a collection finds, to look at it
        gc.disable()  # only the service's own settling runs meanwhile
        try:
            produced += await produce_events(kafka_bootstrap, dep.events, lines[WARM_UP:])
            await wait_committed(kafka_admin, dep.group, dep.events, ends_of(produced))
            await wait_for(lambda: _states_in_sight() == 0, "the state settled out of sight")
            gc.unfreeze()
            gc.collect()
            garbage = Counter(type(obj).__module__ for obj in gc.garbage)
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
            gc.enable()
    events = len(lines) - WARM_UP
    assert events >= 2_000
    # Nothing of the engine's, and far fewer objects than events (a connection's, at most).
    assert not [module for module in garbage if module.startswith(("engine", "conditions"))]
    assert sum(garbage.values()) < events / 100
