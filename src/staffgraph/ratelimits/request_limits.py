"""Request rate limits (``RATE_LIMIT``): per signed-in user, else per client IP.

An ASGI middleware resolves who is asking once per request (the access token is verified
here, and only here: the GraphQL view reads the result from the scope state), then counts the
request in a moving window. Over the limit: HTTP 429, ``Retry-After`` and a ``RATE_LIMITED``
GraphQL error, before the body is read.

Counters live in process memory, or in Redis when ``REDIS_URL`` is set so that every instance
spends one budget: the app passes the storage of the sign-in failure counters
(:func:`staffgraph.ratelimits.storage.limits_storage`), one Redis connection pool for
both, closed with the services. If the counter store does not answer, the request is let
through and a warning logged: a Redis outage must not take the API down.
"""

from __future__ import annotations

import inspect
import logging
import math
import time
from collections.abc import Callable
from ipaddress import IPv4Network, IPv6Network
from typing import Any

from limits import RateLimitItem
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from staffgraph.http.client_address import client_address
from staffgraph.http.responses import graphql_error_response
from staffgraph.observability import metrics

log = logging.getLogger("staffgraph.ratelimits.request_limits")

NAMESPACE = "requests"
#: probes must answer even when a client has spent its budget
EXEMPT_PATHS = frozenset({"/healthz", "/readyz"})

#: ``authenticate(authorization header) -> (viewer, reason refused)``, sync or async
Authenticate = Callable[[str | None], Any]


class RequestRateLimiter:
    """Counts requests per key in a moving window of ``item`` (e.g. 300 per minute)."""

    def __init__(self, item: RateLimitItem, storage: Storage) -> None:
        self.item = item
        self.storage = storage
        self._strategy = MovingWindowRateLimiter(storage)
        self._warned_at = 0.0

    async def hit(self, key: str) -> int | None:
        """Count one request for ``key``: None when allowed, else the seconds to wait."""
        try:
            if await self._strategy.hit(self.item, NAMESPACE, key):
                return None
            reset_at, _ = await self._strategy.get_window_stats(self.item, NAMESPACE, key)
        except Exception:  # the counter store is down: serve rather than refuse everyone
            now = time.monotonic()
            if now - self._warned_at > 60:
                self._warned_at = now
                log.warning(
                    "rate limit counters unavailable; requests are not limited", exc_info=True
                )
            return None
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
        headers = Headers(scope=scope)
        state = scope.setdefault("state", {})
        peer = scope["client"][0] if scope.get("client") else None
        client_ip = client_address(peer, headers.get("x-forwarded-for"), self.trusted)
        state["client_ip"] = client_ip
        viewer = None
        if scope["type"] == "http":
            outcome = self.authenticate(headers.get("authorization"))
            if inspect.isawaitable(outcome):
                outcome = await outcome
            viewer, state["auth_error"] = outcome
            state["viewer"] = viewer
        if scope["path"] in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        key = f"user:{viewer.user_id}" if viewer is not None else f"ip:{client_ip or 'unknown'}"
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
