"""The engine's vocabulary, each word defined once: event types and what each does to state,
evaluation causes, trigger granularities, and the outcomes, reasons and statuses of decisions.

Everything else derives from these: the event schema's literals, the trigger model's choices, the
CLI's choices, the evaluator's dispatch. A new event type is one `EventType` member, one row of
`EVENT_KINDS`, and the handling of its `StateEffect` (if it is a new one) in `engine.state`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum, StrEnum
from types import MappingProxyType
from typing import Final


class Cause(StrEnum):
    """Why triggers are evaluated: a trigger lists the causes it listens to."""

    FILE_UPLOAD = "file_upload"
    FILE_INGEST = "file_ingest"
    FILE_METADATA_UPDATE = "file_metadata_update"
    DATASET_METADATA_UPDATE = "dataset_metadata_update"
    BACKFILL = "backfill"  # an operator's backfill command (SPEC §4.4)
    MANUAL = "manual"  # an operator's invoke command


DEFAULT_CAUSES: Final = (Cause.FILE_UPLOAD, Cause.DATASET_METADATA_UPDATE)
# Raised by operator commands, whatever a trigger's causes: a trigger cannot list them.
COMMAND_CAUSES: Final = frozenset({Cause.BACKFILL, Cause.MANUAL})
LISTENABLE_CAUSES: Final = tuple(c for c in Cause if c not in COMMAND_CAUSES)

# One bit per cause: a trigger's causes as a small int, tested without touching a set object.
CAUSE_BITS: Final[Mapping[str, int]] = MappingProxyType(
    {cause: 1 << n for n, cause in enumerate(Cause)}
)


class ForEach(StrEnum):
    """A trigger's unit: it fires at most once per dataset, or once per file of a dataset."""

    DATASET = "dataset"
    DATASET_FILE = "dataset_file"


class StateEffect(Enum):
    """What an event does to its dataset's state (`engine.state.StateStore.apply`)."""

    CREATE_DATASET = "create the dataset"
    REPLACE_RECORD = "replace the dataset's tags and metadata"
    DELETE_DATASET = "drop the dataset and its files (fired keys are kept)"
    PUT_FILE = "add or replace the file"
    INGEST_FILE = "update the file and mark it ingested"
    UPDATE_FILE = "update the file's fields"
    DELETE_FILE = "remove the file"
    CLOSE_UPLOAD = "close the upload named by the event's transactionid"
    NONE = "nothing: an operator command (SPEC §4.4) acts on triggers"


class EventType(StrEnum):
    DATASET_CREATED = "dataset.created"
    DATASET_METADATA_UPDATED = "dataset.metadata_updated"
    DATASET_DELETED = "dataset.deleted"
    FILE_UPLOADED = "file.uploaded"
    FILE_INGESTED = "file.ingested"
    FILE_METADATA_UPDATED = "file.metadata_updated"
    FILE_DELETED = "file.deleted"
    DATASET_UPLOAD_COMPLETED = "dataset.upload_completed"
    TRIGGER_BACKFILL_REQUESTED = "trigger.backfill_requested"
    TRIGGER_INVOKE_REQUESTED = "trigger.invoke_requested"


@dataclass(frozen=True, slots=True)
class EventKind:
    """What one event type carries, what it does to state, and the cause it raises (None: the
    event changes state but evaluates nothing)."""

    effect: StateEffect
    cause: Cause | None
    needs_dataset: bool  # `data.dataset` is required (any event may carry one)
    carries_file: bool  # `data.file` is required
    has_datasetid: bool = True  # the envelope names a dataset (a backfill spans an org)

    @property
    def new_file(self) -> bool:
        """The event describes the whole file (it needs its path), not a change to a known one."""
        return self.effect is StateEffect.PUT_FILE

    @property
    def in_upload(self) -> bool:
        """The event may name an upload transaction (`transactionid`): file events and the
        upload's completion, which must name one."""
        return self.carries_file or self.effect is StateEffect.CLOSE_UPLOAD

    @property
    def command(self) -> bool:
        """An operator command: `data.trigger` names the trigger it acts on."""
        return self.effect is StateEffect.NONE


_E, _C = StateEffect, Cause
EVENT_KINDS: Final[Mapping[EventType, EventKind]] = MappingProxyType(
    {
        EventType.DATASET_CREATED: EventKind(_E.CREATE_DATASET, None, True, False),
        EventType.DATASET_METADATA_UPDATED: EventKind(
            _E.REPLACE_RECORD, _C.DATASET_METADATA_UPDATE, True, False
        ),
        EventType.DATASET_DELETED: EventKind(_E.DELETE_DATASET, None, False, False),
        EventType.FILE_UPLOADED: EventKind(_E.PUT_FILE, _C.FILE_UPLOAD, False, True),
        EventType.FILE_INGESTED: EventKind(_E.INGEST_FILE, _C.FILE_INGEST, False, True),
        EventType.FILE_METADATA_UPDATED: EventKind(
            _E.UPDATE_FILE, _C.FILE_METADATA_UPDATE, False, True
        ),
        EventType.FILE_DELETED: EventKind(_E.DELETE_FILE, None, False, True),
        # No cause of its own: closing a dataset's last open upload is the evaluation point of
        # the causes remembered while it was open (`engine.state.Uploads`).
        EventType.DATASET_UPLOAD_COMPLETED: EventKind(_E.CLOSE_UPLOAD, None, False, False),
        EventType.TRIGGER_BACKFILL_REQUESTED: EventKind(
            _E.NONE, _C.BACKFILL, False, False, has_datasetid=False
        ),
        EventType.TRIGGER_INVOKE_REQUESTED: EventKind(_E.NONE, _C.MANUAL, False, False),
    }
)


class InvocationSource(StrEnum):
    """Who asked for an invocation: a trigger's rule (or a backfill of it), or an operator."""

    TRIGGER = "Trigger"
    MANUAL = "Manual"


class Outcome(StrEnum):
    INVOKED = "invoked_action"
    SKIPPED = "skipped"


class Reason(StrEnum):
    """Why a trigger was skipped."""

    ALREADY_RUN = "already_run"
    CONDITION_NOT_MET = "condition_not_met"
    NO_MATCHING_FILES = "no_matching_files"
    TRIGGER_DISABLED = "trigger_disabled"
    UPLOAD_IN_PROGRESS = "upload_in_progress"  # a dataset trigger waits for the dataset's uploads


class Status(StrEnum):
    EVALUATED = "evaluated"
    FAILED = "failed"  # the decision could not be made (e.g. an unresolvable action)
