"""The output sinks: one interface, and interchangeable implementations of it. JSON Lines and
in-memory here; the Kafka transaction sink's behaviour is tested against a broker (tests/kafka)."""

from __future__ import annotations

import inspect
import io
from pathlib import Path

import orjson
import pytest

from engine.api import build_registry
from engine.decisions import EventResult
from engine.errors import EventError
from engine.evaluator import Evaluator
from engine.events import Event, parse_event
from engine.replay import read_events, replay
from engine.service.kafka_sink import KafkaTransactionSink
from engine.sinks import JsonlSink, MemorySink, Origin, Sink
from engine.state import StateStore

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
LINE = orjson.dumps(
    {
        "specversion": "1.0",
        "id": "ev-1",
        "type": "file.uploaded",
        "source": "test",
        "orgid": "og_1",
        "datasetid": "ds_1",
        "data": {"file": {"file_id": "fl_1", "relative_path": "a/b.jpg"}},
    }
)


class CountingStream(io.BytesIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[int] = []

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.writes.append(len(data))
        return super().write(data)


def _event() -> Event:
    return parse_event(LINE)


@pytest.mark.parametrize("sink", [JsonlSink, MemorySink, KafkaTransactionSink])
def test_every_sink_has_the_protocols_methods_with_its_signatures(sink: type) -> None:
    assert issubclass(sink, Sink)
    for name in ("emit", "reject", "flush"):
        assert inspect.signature(getattr(sink, name)) == inspect.signature(getattr(Sink, name))


def _replay_examples(sink: Sink) -> None:
    registry = build_registry(EXAMPLES / "triggers.yaml", EXAMPLES / "actions")
    summary = replay(
        read_events([str(EXAMPLES / "events.jsonl")]), Evaluator(registry, StateStore()), sink
    )
    assert (summary.lines, summary.rejected) == (47, 3)


def test_memory_and_jsonl_sinks_take_the_same_replay_of_the_examples() -> None:
    invocations, evaluations, rejects = io.BytesIO(), io.BytesIO(), io.BytesIO()
    _replay_examples(JsonlSink(invocations, evaluations=evaluations, rejects=rejects))
    memory = MemorySink()
    _replay_examples(memory)

    assert len(memory.invocations) == 22
    assert invocations.getvalue() == b"".join(i.to_json() + b"\n" for i in memory.invocations)
    assert evaluations.getvalue() == b"".join(orjson.dumps(e) + b"\n" for e in memory.evaluations)
    assert [orjson.loads(line) for line in rejects.getvalue().splitlines()] == [
        {
            "source": str(EXAMPLES / "events.jsonl"),
            "line": origin.position,
            "reason": str(error),
            "event": (origin.data or b"").decode(),
        }
        for origin, error in memory.rejects
    ]


def test_jsonl_sink_writes_once_its_buffer_reaches_its_size_and_the_rest_on_flush() -> None:
    stream = CountingStream()
    sink = JsonlSink(evaluations=stream, flush_bytes=100)
    records = [{"n": n, "pad": "x" * 20} for n in range(10)]
    line = len(orjson.dumps(records[0])) + 1  # 37 bytes each: 3 lines pass 100 bytes

    for n, record in enumerate(records, start=1):
        sink.emit(Origin("log", n, LINE), _event(), EventResult(evaluations=[record]))
    assert stream.writes == [3 * line] * 3  # the tenth line waits for the flush
    sink.flush()

    assert stream.writes == [3 * line] * 3 + [line]
    assert stream.getvalue() == b"".join(orjson.dumps(r) + b"\n" for r in records)


def test_jsonl_sink_writes_only_the_streams_it_was_given() -> None:
    rejects = io.BytesIO()
    sink = JsonlSink(rejects=rejects)
    sink.emit(Origin("log", 1, LINE), _event(), EventResult(evaluations=[{"n": 1}]))
    sink.reject(Origin("log", 2, b"{"), EventError("event", None, "not JSON"))
    sink.flush()
    assert orjson.loads(rejects.getvalue()) == {
        "source": "log",
        "line": 2,
        "reason": "event: not JSON",
        "event": "{",
    }
    JsonlSink().flush()  # wants nothing, writes nothing


def test_a_reject_of_a_kafka_record_names_its_topic_partition_and_offset() -> None:
    rejects = io.BytesIO()
    sink = JsonlSink(rejects=rejects)
    sink.reject(Origin("events", 41, None, partition=2), EventError("event", None, "no value"))
    sink.flush()
    assert orjson.loads(rejects.getvalue()) == {
        "source": "events/2",
        "line": 41,
        "reason": "event: no value",
        "event": "",
    }


def test_an_origin_parses_its_event_or_names_what_is_wrong() -> None:
    assert Origin("log", 1, LINE).parse(1 << 10).id == "ev-1"
    with pytest.raises(EventError, match="the record has no value"):
        Origin("events", 0, None, partition=0).parse(1 << 10)
    with pytest.raises(EventError, match="exceeds the limit of 8 bytes"):
        Origin("log", 1, LINE).parse(8)


def test_a_kafka_record_must_be_keyed_by_its_datasetid() -> None:
    assert Origin("events", 0, LINE, partition=0, key=b"ds_1").parse(1 << 10).dataset_id == "ds_1"
    with pytest.raises(EventError, match="record key: 'ds_2' is not its datasetid 'ds_1'"):
        Origin("events", 0, LINE, partition=0, key=b"ds_2").parse(1 << 10)
    with pytest.raises(EventError, match="the record has no key; it must be its datasetid 'ds_1'"):
        Origin("events", 0, LINE, partition=0).parse(1 << 10)
    assert Origin("log", 1, LINE).parse(1 << 10).dataset_id == "ds_1"  # a line has no key


def test_replay_rejects_a_wrongly_keyed_record_like_any_bad_event() -> None:
    rejects = io.BytesIO()
    origins = [
        Origin("events", 7, LINE, partition=2, key=b"ds_1"),
        Origin("events", 8, LINE.replace(b"ev-1", b"ev-2"), partition=2, key=b"other"),
    ]
    registry = build_registry(EXAMPLES / "triggers.yaml", EXAMPLES / "actions")
    summary = replay(origins, Evaluator(registry, StateStore()), JsonlSink(rejects=rejects))
    assert (summary.lines, summary.rejected) == (2, 1)
    reject = orjson.loads(rejects.getvalue())
    assert (reject["source"], reject["line"]) == ("events/2", 8)
    assert "'other' is not its datasetid 'ds_1'" in reject["reason"]
