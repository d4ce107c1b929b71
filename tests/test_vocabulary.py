"""The vocabulary is complete: every event type has its row, and what derives from it agrees."""

from __future__ import annotations

from engine.models import Trigger
from engine.vocabulary import CAUSE_BITS, DEFAULT_CAUSES, EVENT_KINDS, Cause, EventType


def test_every_event_type_has_one_row() -> None:
    assert list(EVENT_KINDS) == list(EventType)


def test_every_cause_is_raised_by_some_event_type_and_has_its_own_bit() -> None:
    raised = {kind.cause for kind in EVENT_KINDS.values()} - {None}
    assert raised == set(Cause)
    bits = [CAUSE_BITS[cause] for cause in Cause]
    assert len(set(bits)) == len(bits) and all(bit & (bit - 1) == 0 for bit in bits)


def test_a_trigger_defaults_to_the_default_causes_as_plain_values() -> None:
    trigger = Trigger.model_validate(
        {"name": "t", "org_id": "og", "action": "a", "required_inputs": ["*"]}
    )
    assert trigger.causes == list(DEFAULT_CAUSES)
    dumped = trigger.model_dump(mode="json")
    assert dumped["causes"] == ["file_upload", "dataset_metadata_update"]
    assert dumped["for_each"] == "dataset"
