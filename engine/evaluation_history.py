"""`trigger-engine evaluations`: the evaluation history, filtered.

It reads evaluation records (one per decision, as `replay --evaluations` writes them: files,
`.gz`, `-` for stdin) or a range of the evaluations topic, and shows those that pass every filter
given; a filter given several times passes any of its values. `--trigger` takes a trigger's name
or its `trigger_id` (records carry no org; the id tells apart triggers of one name in several
orgs). Records carry no time of their own: `--since/--until` bound the Kafka records by their
timestamp (when the engine wrote them), as for `replay --from-kafka`, and apply only there.

Output: a table, or with `--json` each matching record as it was read, one per line. A record
that is not an evaluation record is reported on stderr with its place, and the rest is read.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from itertools import islice

import msgspec

from engine.service.cli import add_replay_kafka_options, replay_events
from engine.sinks import Origin
from engine.vocabulary import Outcome, Reason, Status

# The table's column widths are set by its first rows, so it is written as it is read.
TABLE_SAMPLE_ROWS = 1000
_COLUMNS = ("EVENT", "TRIGGER", "DATASET", "FILE", "CAUSE", "OUTCOME", "DETAIL")


class EvaluationRecord(msgspec.Struct, frozen=True):
    """The fields of an evaluation record; fields this version does not know are ignored."""

    trigger_id: str
    trigger_name: str
    dataset_id: str
    file_id: str | None
    cause: str
    event_id: str
    outcome: Outcome
    reason: Reason | None
    status: Status
    detail: str | None


_decode_record = msgspec.json.Decoder(EvaluationRecord).decode


@dataclass(frozen=True, slots=True)
class EvaluationFilter:
    """The values each field may have; an empty set lets any value pass."""

    triggers: frozenset[str] = frozenset()  # names or trigger ids
    datasets: frozenset[str] = frozenset()
    files: frozenset[str] = frozenset()
    outcomes: frozenset[Outcome] = frozenset()
    reasons: frozenset[Reason] = frozenset()
    statuses: frozenset[Status] = frozenset()

    def passes(self, record: EvaluationRecord) -> bool:
        return (
            _any_or(self.triggers, record.trigger_name, record.trigger_id)
            and _any_or(self.datasets, record.dataset_id)
            and _any_or(self.files, record.file_id)
            and _any_or(self.outcomes, record.outcome)
            and _any_or(self.reasons, record.reason)
            and _any_or(self.statuses, record.status)
        )


def _any_or(wanted: frozenset[str], *values: str | None) -> bool:
    return not wanted or any(value in wanted for value in values)


@dataclass(slots=True)
class HistoryCounts:
    read: int = 0
    matched: int = 0
    unreadable: int = 0


def matching_records(
    origins: Iterable[Origin], wanted: EvaluationFilter, counts: HistoryCounts
) -> Iterator[tuple[Origin, EvaluationRecord]]:
    """The records of `origins` that pass `wanted`; each unreadable one is reported on stderr."""
    for origin in origins:
        counts.read += 1
        try:
            record = _decode_record(origin.data or b"")
        except msgspec.DecodeError as exc:
            counts.unreadable += 1
            sys.stderr.write(
                f"trigger-engine: warning: {origin.stream}:{origin.position}: "
                f"not an evaluation record: {exc}\n"
            )
            continue
        if wanted.passes(record):
            counts.matched += 1
            yield origin, record


def _row(record: EvaluationRecord) -> tuple[str, ...]:
    if record.status is Status.FAILED:
        outcome = Status.FAILED.value
    elif record.reason is None:
        outcome = record.outcome.value
    else:
        outcome = f"{record.outcome.value}: {record.reason.value}"
    return (
        record.event_id,
        record.trigger_name,
        record.dataset_id,
        record.file_id or "-",
        record.cause,
        outcome,
        record.detail or "",
    )


def table_lines(records: Iterable[EvaluationRecord]) -> Iterator[str]:
    """A header and one line per record, in columns as wide as the first rows need."""
    rows = map(_row, records)
    sample = list(islice(rows, TABLE_SAMPLE_ROWS))
    widths = [max(len(cell) for cell in column) for column in zip(_COLUMNS, *sample, strict=False)]
    for row in (_COLUMNS, *sample):
        yield _aligned(row, widths)
    for row in rows:
        yield _aligned(row, widths)


def _aligned(row: tuple[str, ...], widths: list[int]) -> str:
    *padded, last = row
    cells = [*(cell.ljust(width) for cell, width in zip(padded, widths, strict=False)), last]
    return "  ".join(cells).rstrip()


def _values(vocabulary: type[StrEnum]) -> list[str]:
    return [word.value for word in vocabulary]


def add_evaluations_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "evaluations",
        help="the evaluation history: filter evaluation records of a file or the topic",
        description="Show the evaluation records that pass every filter given (a filter given "
        "several times passes any of its values). --since/--until bound the Kafka records by "
        "their timestamp, when the engine wrote them: records carry no time of their own.",
    )
    parser.add_argument(
        "events",
        nargs="*",
        metavar="FILE",
        help="evaluation records as `replay --evaluations` writes them (.jsonl, .gz, - for stdin)",
    )
    parser.add_argument("--trigger", action="append", default=[], help="trigger name or id")
    parser.add_argument("--dataset", action="append", default=[], help="dataset id")
    parser.add_argument("--file", action="append", default=[], help="file id")
    parser.add_argument("--outcome", action="append", default=[], choices=_values(Outcome))
    parser.add_argument("--reason", action="append", default=[], choices=_values(Reason))
    parser.add_argument("--status", action="append", default=[], choices=_values(Status))
    parser.add_argument("--json", action="store_true", help="JSON lines: the records as read")
    add_replay_kafka_options(parser, topic_flag="--evaluations-topic")
    parser.set_defaults(func=cmd_evaluations)


def cmd_evaluations(args: argparse.Namespace) -> int:
    wanted = EvaluationFilter(
        triggers=frozenset(args.trigger),
        datasets=frozenset(args.dataset),
        files=frozenset(args.file),
        outcomes=frozenset(map(Outcome, args.outcome)),
        reasons=frozenset(map(Reason, args.reason)),
        statuses=frozenset(map(Status, args.status)),
    )
    counts = HistoryCounts()
    found = matching_records(replay_events(args), wanted, counts)
    out = sys.stdout
    if args.json:
        for origin, _ in found:
            out.write((origin.data or b"").decode() + "\n")
    else:
        for line in table_lines(record for _, record in found):
            out.write(line + "\n")
    sys.stderr.write(f"evaluations: {counts.matched} of {counts.read} records match\n")
    if counts.unreadable:
        sys.stderr.write(
            f"warning: {counts.unreadable} records were not evaluation records (see above)\n"
        )
    return 0
