"""A tiny HTTP/1.1 server for probes and metrics: GET/HEAD of fixed paths, one request per
connection. Probes and Prometheus need nothing more, and it adds no dependency."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus

log = logging.getLogger(__name__)

_REQUEST_TIMEOUT_S = 5.0
_MAX_HEADER_LINES = 100


@dataclass(frozen=True, slots=True)
class Response:
    status: HTTPStatus
    body: bytes
    content_type: str = "text/plain; charset=utf-8"


Route = Callable[[], Response]


class HttpServer:
    def __init__(self, host: str, port: int, routes: Mapping[str, Route]) -> None:
        self._host = host
        self._port = port
        self._routes = dict(routes)
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        """The bound port (useful when configured as 0)."""
        assert self._server is not None, "the server is not started"
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self._host, self._port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(_REQUEST_TIMEOUT_S):
                method, path = await _read_request(reader)
                response = self._respond(method, path)
                writer.write(_encode(response, head_only=method == "HEAD"))
                await writer.drain()
        except (
            TimeoutError,
            ConnectionError,
            ValueError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
        ) as exc:
            log.debug("HTTP request dropped: %s", exc)
        finally:
            writer.close()

    def _respond(self, method: str, path: str) -> Response:
        if method not in ("GET", "HEAD"):
            return Response(HTTPStatus.METHOD_NOT_ALLOWED, b"only GET and HEAD\n")
        route = self._routes.get(path.split("?", 1)[0])
        if route is None:
            return Response(HTTPStatus.NOT_FOUND, b"not found\n")
        try:
            return route()
        except Exception:  # a failing probe must answer, not drop the connection
            log.exception("HTTP %s failed", path)
            return Response(HTTPStatus.INTERNAL_SERVER_ERROR, b"internal error\n")


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str]:
    """The method and target of the request line; the headers are read and ignored."""
    parts = (await reader.readuntil(b"\r\n")).decode("latin-1").split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise ValueError(f"malformed request line {' '.join(parts)!r}")
    for _ in range(_MAX_HEADER_LINES):
        if await reader.readuntil(b"\r\n") == b"\r\n":
            return parts[0], parts[1]
    raise ValueError(f"more than {_MAX_HEADER_LINES} header lines")


def _encode(response: Response, *, head_only: bool) -> bytes:
    status = response.status
    head = (
        f"HTTP/1.1 {status.value} {status.phrase}\r\n"
        f"Content-Type: {response.content_type}\r\n"
        f"Content-Length: {len(response.body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode("latin-1")
    return head if head_only else head + response.body
