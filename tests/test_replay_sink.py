"""The replay sink: JSON Lines out, written in chunks by size, nothing lost at the end."""

from __future__ import annotations

import io

import orjson

from engine.replay import Sink


class CountingStream(io.BytesIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[int] = []

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.writes.append(len(data))
        return super().write(data)


def test_sink_writes_once_the_buffer_reaches_its_size_and_the_rest_on_flush() -> None:
    stream = CountingStream()
    sink = Sink(stream, flush_bytes=100)
    records = [{"n": n, "pad": "x" * 20} for n in range(10)]
    line = len(orjson.dumps(records[0])) + 1  # 37 bytes each: 3 lines pass 100 bytes

    for record in records:
        sink.write([record])
    assert stream.writes == [3 * line] * 3  # the tenth line waits for the flush
    sink.flush()

    assert stream.writes == [3 * line] * 3 + [line]
    assert stream.getvalue() == b"".join(orjson.dumps(r) + b"\n" for r in records)


def test_a_sink_without_a_stream_takes_records_and_writes_nothing() -> None:
    sink = Sink(None)
    sink.write([{"n": 1}])
    sink.flush()
    assert not sink.enabled


def test_encoded_records_are_written_as_lines_too() -> None:
    stream = CountingStream()
    sink = Sink(stream, flush_bytes=1 << 16)
    sink.write([{"n": 1}])
    sink.write_json([b'{"n":2}', b'{"n":3}'])
    sink.flush()
    assert stream.getvalue() == b'{"n":1}\n{"n":2}\n{"n":3}\n'
