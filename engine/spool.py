"""Events read once and read again alike: a spool of the records as they were read.

Stdin cannot be read twice, and a Kafka range read twice could end at a later offset the second
time; a command that replays one history more than once (`whatif`) reads its source once into a
spool and reads the spool after that. Each record is kept whole (its bytes, place, partition and
key), so a second reading parses and rejects exactly as the first.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import IO

import msgspec

from engine.sinks import Origin

_LENGTH_BYTES = 8


@contextmanager
def spooled() -> Iterator[Spool]:
    """A spool in a temporary file, gone when the block ends."""
    with tempfile.TemporaryFile() as file:
        yield Spool(file)


class Spool:
    """Framed records in a file: an 8-byte length, then the record as msgpack."""

    def __init__(self, file: IO[bytes]) -> None:
        self._file = file
        self._encode = msgspec.msgpack.Encoder().encode
        self._decode = msgspec.msgpack.Decoder(Origin).decode

    def recording(self, origins: Iterable[Origin]) -> Iterator[Origin]:
        """`origins`, each kept in the spool as it passes."""
        write = self._file.write
        for origin in origins:
            frame = self._encode(origin)
            write(len(frame).to_bytes(_LENGTH_BYTES, "little"))
            write(frame)
            yield origin

    def replaying(self) -> Iterator[Origin]:
        """Every record recorded so far, in order."""
        read = self._file.read
        self._file.seek(0)
        while header := read(_LENGTH_BYTES):
            yield self._decode(read(int.from_bytes(header, "little")))
