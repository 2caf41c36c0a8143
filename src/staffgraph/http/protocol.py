"""The HTTP protocol ``staffgraph serve`` runs: uvicorn's httptools protocol with
``MAX_HEADER_BYTES``, ``HEADER_TIMEOUT`` and a cheap ``MAX_CONCURRENCY`` refusal.

uvicorn's httptools parser buffers a header block of any size (a 32 MiB header was read and
answered), and no uvicorn protocol bounds the time a client takes to send its headers
(``timeout_keep_alive`` only runs between requests): a few thousand slow sockets hold the
process's memory and descriptors. This protocol counts the bytes of each request's header block
as they arrive, before the parser buffers more, and closes a connection whose headers are not
complete ``HEADER_TIMEOUT`` seconds after it opened (or after a kept-alive connection's next
request began). The h11 protocol's ``h11_max_incomplete_event_size`` bounds the size alone, at a
higher cost per request (bench/README.md, "Overload").

Beyond ``MAX_CONCURRENCY`` requests in progress it writes the 503 of
:mod:`staffgraph.http.concurrency` itself, without an ASGI task, and reads nothing more from
that connection until its ``Retry-After`` has passed: clients that retry at once would
otherwise spend the process's time on refusals (bench/README.md, "Overload"). The middleware
stays the rule; this is its fast path.

uvicorn writes a response's status line and headers to the socket at ``http.response.start``
and its body at the next message: two ``send`` calls and two TCP segments for every answer,
the first alone about a tenth of a cheap request's CPU on loopback. Each request cycle here
writes through a :class:`_Coalescing` transport, which holds the head until the body's write
and sends both at once; a head that no body follows in the same turn of the event loop (a
stream that waits for its first event) leaves at the end of that turn. ASGI lets a server
hold the head until the first body message; this holds it no longer than the loop's turn.
"""

from __future__ import annotations

import asyncio
import functools
import json
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from staffgraph.http.concurrency import (
    ADMITTED,
    EXEMPT_PATHS,
    IN_PROGRESS,
    RETRY_AFTER_SECONDS,
    refusal_bytes,
)
from staffgraph.settings import Settings

_BODY = json.dumps(
    {
        "data": None,
        "errors": [
            {
                "message": "The request headers are too large",
                "extensions": {"code": "BAD_USER_INPUT", "field": "headers"},
            }
        ],
    },
    separators=(",", ":"),
).encode()
_RESPONSE_431 = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: application/json\r\n"
    b"content-length: " + str(len(_BODY)).encode() + b"\r\n"
    b"x-content-type-options: nosniff\r\n"
    b"connection: close\r\n\r\n" + _BODY
)


@functools.cache
def connection_limits() -> tuple[int, float, int]:
    """(``MAX_HEADER_BYTES``, ``HEADER_TIMEOUT``, ``MAX_CONCURRENCY``) of this process, read once.

    From the environment like every setting: a worker process started by ``serve --workers N``
    reads the same variables as the command did.
    """
    settings = Settings()
    return settings.max_header_bytes, settings.header_timeout, settings.max_concurrency


class _NoEvent:
    def set(self) -> None:
        """Nothing waits for a refused request's body."""


class _Refused:
    """Stands for the request cycle of a refused request: answered, so uvicorn's parser
    callbacks drop its body."""

    response_complete = True
    disconnected = False
    message_event = _NoEvent()


class _HeadersTooLarge(Exception):
    """Raised from a parser callback to stop parsing the request."""


class _Coalescing:
    """The transport a connection's request cycles write to: the first write of each cycle
    (the head) is held and sent with the write after it, or at the end of the loop's turn.

    Writes leave in the order they were made; ``close`` sends what is held first.
    """

    __slots__ = ("_flush", "_held", "_loop", "_transport", "expect_head")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None
        self._flush = self.flush
        #: the next write is a cycle's head
        self.expect_head = False

    def write(self, data: bytes) -> None:
        """Send ``data`` after what is held; hold it instead when it is a head."""
        held = self._held
        if held is not None:
            self._held = None
            data = held + data
        if self.expect_head:
            self.expect_head = False
            self._held = data
            self._loop.call_soon(self._flush)
            return
        self._transport.write(data)

    def flush(self) -> None:
        """Send what is held, if anything."""
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held)

    def close(self) -> None:
        """Send what is held, then close the connection."""
        self.flush()
        self._transport.close()

    def is_closing(self) -> bool:
        """Whether the connection is closing."""
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class StaffgraphHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol: a request line and headers over ``MAX_HEADER_BYTES`` get
    431 and the connection closed; headers not complete within ``HEADER_TIMEOUT`` seconds close
    the connection; beyond ``MAX_CONCURRENCY`` requests in progress, 503 at once."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_header_bytes, self.header_timeout, self.max_concurrency = connection_limits()
        self._reading_headers = True
        self._header_bytes = 0
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._coalescing = _Coalescing(transport, self.loop)
        self._arm_header_timer()  # a socket that never sends a byte is a slow client too

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # uvicorn's own data_received, with the header bytes counted and a 431 for a parser
        # error that a limit caused
        self._unset_keepalive_if_required()
        if self._reading_headers:
            self._header_bytes += len(data)
            if self._header_timer is None and (self.cycle is None or self.cycle.response_complete):
                self._arm_header_timer()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if isinstance(exc.__context__, _HeadersTooLarge):
                self._refuse()
                return
            msg = "Invalid HTTP request received."
            self.logger.warning(msg)
            self.send_400_response(msg)
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        # still inside the header block: everything counted since it began is header bytes
        if (
            self._reading_headers
            and self._header_bytes > self.max_header_bytes
            and not self.transport.is_closing()
        ):
            self._refuse()

    def on_headers_complete(self) -> None:
        self._reading_headers = False
        self._disarm_header_timer()
        size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if size > self.max_header_bytes:
            raise _HeadersTooLarge
        if self._admit():
            super().on_headers_complete()
            cycle = self.cycle
            if type(cycle) is RequestResponseCycle:
                cycle.transport = self._coalescing  # type: ignore[assignment]
                self._coalescing.expect_head = True

    def _admit(self) -> bool:
        """Count the request in progress, or answer 503 at once and return False.

        Counted here, when the request is admitted, not when its task first runs: requests that
        arrive in one read of the event loop would otherwise all see the same free slot.
        Pipelined requests, WebSockets and the probes are left to the middleware.
        """
        previous = self.cycle
        if previous is not None and not previous.response_complete:
            return True
        if self.parser.should_upgrade():
            return True
        if httptools.parse_url(self.url).path.decode("ascii", "replace") in EXEMPT_PATHS:
            return True
        if IN_PROGRESS.value < self.max_concurrency:
            IN_PROGRESS.value += 1
            self.scope[ADMITTED] = True  # type: ignore[literal-required]
            return True
        IN_PROGRESS.note_refusal(self.max_concurrency)
        self.cycle = _Refused()  # type: ignore[assignment]
        self.transport.write(refusal_bytes())
        if not self.parser.should_keep_alive():
            self.transport.close()
            return False
        self.on_response_complete()
        # a client that retries at once on the same connection would keep the process busy
        # refusing: its next request waits for the Retry-After it was told (bench/README.md)
        self.flow.pause_reading()
        self.loop.call_later(RETRY_AFTER_SECONDS, self._resume_after_refusal)
        return False

    def _resume_after_refusal(self) -> None:
        if not self.transport.is_closing():
            self.flow.resume_reading()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        # whatever comes next on this connection begins the next request's header block
        self._reading_headers = True
        self._header_bytes = 0

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._reading_headers and self._header_bytes and not self.transport.is_closing():
            self._arm_header_timer()  # a pipelined request started while this one ran

    def _arm_header_timer(self) -> None:
        self._disarm_header_timer()
        self._header_timer = self.loop.call_later(self.header_timeout, self._header_timed_out)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timed_out(self) -> None:
        self._header_timer = None
        if self._reading_headers and not self.transport.is_closing():
            self.transport.close()

    def _refuse(self) -> None:
        self._disarm_header_timer()
        if not self.transport.is_closing():
            self.transport.write(_RESPONSE_431)
            self.transport.close()
