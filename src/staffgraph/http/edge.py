"""``Edge``: what every HTTP request gets on its way in and out, in one ASGI layer.

In order, outermost first, as separate middleware would stack them:

- the request id (``X-Request-ID``) and the security headers (:mod:`staffgraph.http.headers`);
- the trace context: ``traceparent`` in and out, the trace id in every log line
  (:mod:`staffgraph.observability.tracing`);
- the access line (:func:`staffgraph.logging_setup.log_access`);
- the request metrics, and ``GET /metrics`` when ``METRICS_TOKEN`` is set
  (:mod:`staffgraph.observability.response_metrics`);
- the last net: an exception no one handled becomes a GraphQL-shaped 500 or 503
  (:mod:`staffgraph.http.unhandled`); a client that left is no error of ours.

One layer instead of five: each layer was a coroutine frame per request and a wrapper every
response message passed through, together about 6% of ``me``'s CPU (bench/README.md,
"Paired runs"). WebSocket connections get the trace context only.
"""

from __future__ import annotations

import logging
import time
from ipaddress import IPv4Network, IPv6Network

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from staffgraph.http.headers import request_id_for, secured, served_over_tls
from staffgraph.http.unhandled import log_unhandled, unhandled_response
from staffgraph.logging_setup import log_access, request_id_var
from staffgraph.observability import exposition
from staffgraph.observability.response_metrics import ResponseWatch
from staffgraph.observability.tracing import trace_id_var, trace_parent_for

log = logging.getLogger("staffgraph.http")

_TRACEPARENT = b"traceparent"


class Edge:
    """Request id and security headers, trace context, access line, metrics and the last net
    for every HTTP request (see the module's docstring); the trace context for WebSockets.

    ``trusted``: the proxies whose ``X-Forwarded-Proto: https`` counts as TLS (for
    ``Strict-Transport-Security``); ``metrics_token``: the bearer token of ``GET /metrics``,
    which is not served without one.
    """

    def __init__(
        self,
        app: ASGIApp,
        trusted: tuple[IPv4Network | IPv6Network, ...] = (),
        metrics_token: str | None = None,
    ) -> None:
        self.app = app
        self.trusted = trusted
        self.metrics_token = metrics_token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http":
            if kind == "websocket":
                await self._websocket(scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        request_id = request_id_for(scope)
        state["request_id"] = request_id
        tls = served_over_tls(scope, self.trusted)
        own = trace_parent_for(scope)
        state["trace_id"] = own.trace_id
        traceparent = (_TRACEPARENT, own.header.encode())
        trace_token = trace_id_var.set(own.trace_id)
        request_token = request_id_var.set(request_id)
        started = time.perf_counter()
        watch = ResponseWatch()
        counted = True

        async def edge_send(message: Message) -> None:
            kind = message["type"]
            if kind == "http.response.start":
                watch.start(message)  # the application's own headers
                headers = [h for h in message.get("headers", ()) if h[0] != _TRACEPARENT]
                headers.append(traceparent)
                message["headers"] = secured(headers, request_id, tls)
            elif kind == "http.response.body":
                watch.body(message)
            await send(message)

        try:
            if (
                self.metrics_token
                and scope["path"] == exposition.PATH
                and await exposition.answer(scope, receive, edge_send, self.metrics_token)
            ):
                counted = False  # the metrics' own reads are not counted in them
            else:
                await self.app(scope, receive, edge_send)
        except ClientDisconnect:
            # the client closed the connection before sending its whole request: nobody is
            # left to answer, and nothing is wrong with the server (no alert, no traceback)
            state["client_disconnected"] = True
            log.info("client disconnected before the request was read (request %s)", request_id)
        except Exception as exc:
            if watch.status is not None:  # the answer is under way: too late for another
                log_unhandled(exc, request_id)
                raise
            await unhandled_response(exc, request_id)(scope, receive, edge_send)
        finally:
            elapsed = time.perf_counter() - started
            try:
                if counted:
                    watch.record(
                        state.get("graphql_operation"),
                        state.get("graphql_operation_type"),
                        elapsed,
                    )
            finally:
                log_access(scope, watch.answered_status, elapsed)
                request_id_var.reset(request_token)
                trace_id_var.reset(trace_token)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        own = trace_parent_for(scope)
        scope.setdefault("state", {})["trace_id"] = own.trace_id
        token = trace_id_var.set(own.trace_id)
        try:
            await self.app(scope, receive, send)
        finally:
            trace_id_var.reset(token)
