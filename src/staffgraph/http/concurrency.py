"""503 at once beyond ``MAX_CONCURRENCY`` requests in progress, instead of queuing.

A process that takes every request shares one core between all of them: past a few dozen,
each waits behind the others until clients time out and the work done for them is lost
(bench/README.md, "Overload"). Refusing the excess straight away keeps the latency of the
requests that are served, and tells the clients (or the load balancer) to come back.
"""

from __future__ import annotations

import json
import logging
import time

from starlette.types import ASGIApp, Receive, Scope, Send

from staffgraph.http.headers import new_request_id

log = logging.getLogger("staffgraph.http")

#: probes must answer even when the process is saturated: a load balancer reads them
EXEMPT_PATHS = frozenset({"/healthz", "/readyz"})
RETRY_AFTER_SECONDS = 1
#: scope key of a request that the server's protocol counted in progress when it admitted it
ADMITTED = "staffgraph.admitted"
#: how often, at most, a saturated process says how many requests it refused
REPORT_INTERVAL_SECONDS = 10.0

_BODY = json.dumps(
    {
        "data": None,
        "errors": [
            {
                "message": "The server is overloaded, retry later",
                "extensions": {"code": "SERVICE_UNAVAILABLE", "retryAfter": RETRY_AFTER_SECONDS},
            }
        ],
    },
    separators=(",", ":"),
).encode()
# built once: under overload the refusal itself must cost next to nothing; these are the
# headers every response carries (staffgraph.http.headers), which this one bypasses
_HEADERS = [
    (b"content-type", b"application/json"),
    (b"content-length", str(len(_BODY)).encode()),
    (b"retry-after", str(RETRY_AFTER_SECONDS).encode()),
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'; base-uri 'none'"),
]


class RequestGauge:
    """Requests in progress in this process, shared by the middleware and the server's protocol
    (:mod:`staffgraph.http.protocol`), which refuses before a request becomes an ASGI task."""

    def __init__(self) -> None:
        self.value = 0
        self._refused = 0
        self._reported_at = 0.0

    def note_refusal(self, limit: int) -> None:
        """Count a refusal; say how many at most every ``REPORT_INTERVAL_SECONDS``."""
        self._refused += 1
        now = time.monotonic()
        if now - self._reported_at >= REPORT_INTERVAL_SECONDS:
            log.warning(
                "overloaded: refused %d request(s) beyond %d in progress",
                self._refused,
                limit,
                extra={"refused": self._refused, "max_concurrency": limit},
            )
            self._refused, self._reported_at = 0, now


#: the process's requests in progress
IN_PROGRESS = RequestGauge()


def refusal_bytes() -> bytes:
    """The whole HTTP/1.1 503 response, for a protocol that writes it without ASGI."""
    lines = [b"HTTP/1.1 503 Service Unavailable"]
    lines += [name + b": " + value for name, value in _HEADERS]
    lines.append(b"x-request-id: " + new_request_id().encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + _BODY


class ConcurrencyLimit:
    """Outermost middleware: HTTP requests beyond ``limit`` in progress get 503
    ``SERVICE_UNAVAILABLE`` with ``Retry-After``; health probes and WebSockets are not counted."""

    def __init__(self, app: ASGIApp, limit: int, gauge: RequestGauge = IN_PROGRESS) -> None:
        self.app = app
        self.limit = limit
        self.gauge = gauge

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        gauge = self.gauge
        if scope.get(ADMITTED):  # counted by staffgraph.http.protocol already
            try:
                await self.app(scope, receive, send)
            finally:
                gauge.value -= 1
            return
        if gauge.value >= self.limit:
            gauge.note_refusal(self.limit)
            headers = [*_HEADERS, (b"x-request-id", new_request_id().encode())]
            await send({"type": "http.response.start", "status": 503, "headers": headers})
            await send({"type": "http.response.body", "body": _BODY})
            return
        gauge.value += 1
        try:
            await self.app(scope, receive, send)
        finally:
            gauge.value -= 1
