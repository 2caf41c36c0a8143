"""Request rate limits (``RATE_LIMIT``): per signed-in user, else per client IP.

An ASGI middleware resolves who is asking once per request (the access token is verified
here, and only here: the GraphQL view reads the result from the scope state), then counts the
request in a moving window. Over the limit: HTTP 429, ``Retry-After`` and a ``RATE_LIMITED``
GraphQL error, before the body is read. Every operation counts, not only every request: the
GraphQL view counts the other operations of a batch, and each operation sent over a WebSocket,
against the same budget (:func:`limit_key`).

Counters live in process memory, or in Redis when ``REDIS_URL`` is set so that every instance
spends one budget, through the :class:`~staffgraph.ratelimits.storage.CounterStore` the sign-in
limits use (one Redis connection pool and one circuit breaker for both). A Redis command of
this hot path that takes more than :data:`REDIS_TIMEOUT_SECONDS` has failed: the breaker opens
and, until Redis answers again, each instance limits in its own memory.
"""

from __future__ import annotations

import inspect
import math
import time
from collections.abc import Callable
from ipaddress import IPv4Network, IPv6Network
from typing import Any

from limits import RateLimitItem
from limits.aio.strategies import MovingWindowRateLimiter
from starlette.types import ASGIApp, Receive, Scope, Send

from staffgraph.http.client_address import client_address
from staffgraph.http.headers import request_header
from staffgraph.http.responses import graphql_error_response
from staffgraph.observability import metrics
from staffgraph.ratelimits.storage import CounterStore

NAMESPACE = "requests"
#: probes must answer even when a client has spent its budget
EXEMPT_PATHS = frozenset({"/healthz", "/readyz"})
#: a Redis command of the request limits taking longer than this has failed
REDIS_TIMEOUT_SECONDS = 0.25

#: ``authenticate(authorization header) -> (viewer, reason refused)``, sync or async
Authenticate = Callable[[str | None], Any]


def limit_key(viewer: Any, client_ip: str | None) -> str:
    """Whose budget a request or operation spends: the signed-in user's, else the address's."""
    return f"user:{viewer.user_id}" if viewer is not None else f"ip:{client_ip or 'unknown'}"


class RequestRateLimiter:
    """Counts requests per key in a moving window of ``item`` (e.g. 300 per minute)."""

    def __init__(self, item: RateLimitItem, store: CounterStore) -> None:
        self.item = item
        self.store = store
        self._shared = MovingWindowRateLimiter(store.shared)
        self._local = MovingWindowRateLimiter(store.local)

    async def hit(self, key: str, cost: int = 1) -> int | None:
        """Count ``cost`` operations for ``key``: None when allowed, else the seconds to wait."""
        if self.store.redis is None:
            return await self._hit(self._shared, key, cost)
        return await self.store.breaker.call(
            lambda: self._hit(self._shared, key, cost),
            lambda: self._hit(self._local, key, cost),
            seconds=REDIS_TIMEOUT_SECONDS,
            what="request limits",
        )

    async def _hit(self, strategy: MovingWindowRateLimiter, key: str, cost: int) -> int | None:
        if await strategy.hit(self.item, NAMESPACE, key, cost=cost):
            return None
        reset_at, _ = await strategy.get_window_stats(self.item, NAMESPACE, key)
        return max(1, math.ceil(reset_at - time.time()))


class RateLimit:
    """ASGI middleware: identify the client once, store it in the scope state, limit it.

    Sets ``state["viewer"]``, ``state["auth_error"]`` (HTTP only; a WebSocket's token arrives
    in ``connection_init``) and ``state["client_ip"]``. WebSocket handshakes count per IP.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        limiter: RequestRateLimiter,
        authenticate: Authenticate,
        trusted: tuple[IPv4Network | IPv6Network, ...] = (),
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.authenticate = authenticate
        self.trusted = trusted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        peer = scope["client"][0] if scope.get("client") else None
        client_ip = client_address(peer, request_header(scope, b"x-forwarded-for"), self.trusted)
        state["client_ip"] = client_ip
        viewer = None
        if scope["type"] == "http":
            outcome = self.authenticate(request_header(scope, b"authorization"))
            if inspect.isawaitable(outcome):
                outcome = await outcome
            viewer, state["auth_error"] = outcome
            state["viewer"] = viewer
        if scope["path"] in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        key = limit_key(viewer, client_ip)
        state["rate_limit_key"] = key
        retry_after = await self.limiter.hit(key)
        if retry_after is None:
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": "rate limited"})
        else:
            metrics.request_refused()
            response = graphql_error_response(
                429,
                "RATE_LIMITED",
                "Too many requests; try again later",
                headers={"Retry-After": str(retry_after)},
                retryAfter=retry_after,
            )
            await response(scope, receive, send)
