"""The HTTP protocol ``staffgraph serve`` runs, served for real by uvicorn in this process: a
response's head and body leave in one write; a head no body follows at once still leaves at
once; pipelined and HEAD requests keep their order and their heads."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn

from staffgraph.http.protocol import StaffgraphHttpProtocol, connection_limits
from tests.live_server import free_port

#: every write that reached a connection's socket transport, by connection
WRITES: list[list[bytes]] = []


class _Recorder:
    """The socket's transport, with the writes made to it recorded."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self.writes: list[bytes] = []
        WRITES.append(self.writes)

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))
        self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class RecordedProtocol(StaffgraphHttpProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_Recorder(transport))  # type: ignore[arg-type]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    path = scope["path"]
    if path == "/stream":
        # a stream that waits before its first event (as a subscription does)
        headers = [(b"content-type", b"text/event-stream")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await asyncio.sleep(1.0)
        await send({"type": "http.response.body", "body": b"data: 1\n\n", "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    body = b'{"path":"' + path.encode() + b'"}'
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture
async def server(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[int]:
    # the protocol reads its limits from the settings, once
    monkeypatch.setenv("STAFFGRAPH_JWT_SECRET", "protocol-test-secret-0123456789abcdef0123")
    connection_limits.cache_clear()
    WRITES.clear()
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, http=RecordedProtocol, log_level="warning"
    )
    served = uvicorn.Server(config)
    task = asyncio.create_task(served.serve())
    for _ in range(500):  # uvicorn's Server says it started with a flag, not an event
        if served.started:
            break
        await asyncio.sleep(0.01)
    assert served.started
    yield port
    served.should_exit = True
    await task
    connection_limits.cache_clear()


async def _read_response(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    return head, await reader.readexactly(length)


async def test_a_response_leaves_in_one_write(server: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server)
    for path in ("/one", "/two", "/three"):
        writer.write(f"GET {path} HTTP/1.1\r\nhost: test\r\n\r\n".encode())
        head, body = await _read_response(reader)
        assert head.startswith(b"HTTP/1.1 200 OK\r\n")
        assert body == b'{"path":"' + path.encode() + b'"}'
    writer.close()
    [writes] = WRITES
    assert len(writes) == 3, writes  # head and body together, once per response
    assert all(w.startswith(b"HTTP/1.1 200 OK\r\n") and w.endswith(b'"}') for w in writes)


async def test_a_head_without_a_body_yet_leaves_at_once(server: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server)
    started = time.monotonic()
    writer.write(b"GET /stream HTTP/1.1\r\nhost: test\r\n\r\n")
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 0.5)
    assert time.monotonic() - started < 0.5
    assert b"text/event-stream" in head
    chunk = await asyncio.wait_for(reader.readuntil(b"\n\n"), 3)
    assert chunk.endswith(b"data: 1\n\n")
    writer.close()


async def test_pipelined_and_head_requests_keep_their_order(server: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server)
    writer.write(
        b"GET /a HTTP/1.1\r\nhost: test\r\n\r\n"
        b"HEAD /b HTTP/1.1\r\nhost: test\r\n\r\n"
        b"GET /c HTTP/1.1\r\nhost: test\r\n\r\n"
    )
    assert (await _read_response(reader))[1] == b'{"path":"/a"}'
    head_only = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2)
    assert head_only.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"content-length: 13" in head_only  # a HEAD answer's head, no body
    assert (await _read_response(reader))[1] == b'{"path":"/c"}'
    writer.close()


async def test_a_closing_connection_sends_what_is_held_first(server: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server)
    writer.write(b"GET /last HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n")
    head, body = await _read_response(reader)
    assert b"connection: close" in head
    assert body == b'{"path":"/last"}'
    assert await reader.read() == b""  # then closed
    writer.close()
