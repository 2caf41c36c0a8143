"""HTTP hardening: request ids and security headers, body size, method and content-type checks,
GraphQL-shaped errors for everything refused before GraphQL runs, CORS, the GraphiQL page's
Content-Security-Policy, and the client address behind trusted proxies.
"""

from __future__ import annotations

import logging
import re
import secrets
import uuid
from ipaddress import IPv4Network, IPv6Network, ip_address
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("staffgraph.http")

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{8,128}$")
MAX_BODY_BYTES = 1024 * 1024
HSTS = "max-age=31536000; includeSubDomains"
#: JSON answers never need to load anything or be framed
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
#: GraphiQL: scripts and styles from unpkg (pinned with SRI in the page) and the page's own
#: inline ones by nonce; it talks only to this origin (HTTP and WebSocket)
GRAPHIQL_CSP = (
    "default-src 'none'; script-src 'nonce-{nonce}' https://unpkg.com; "
    "style-src 'nonce-{nonce}' https://unpkg.com; font-src https://unpkg.com data:; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
_NONCE_TAGS = re.compile(r"<(script|style|link)\b")


def graphql_error_response(
    status: int,
    code: str,
    message: str,
    *,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    """A GraphQL-shaped error for a request refused before execution."""
    return JSONResponse(
        {
            "data": None,
            "errors": [{"message": message, "extensions": {"code": code, **extensions}}],
        },
        status_code=status,
        headers=headers,
    )


class SecurityHeaders:
    """Adds ``X-Request-ID`` (keeping a well-formed inbound one) and the security headers.

    ``Strict-Transport-Security`` goes out under TLS: the socket's, or a trusted proxy's
    ``X-Forwarded-Proto: https``.
    """

    def __init__(self, app: ASGIApp, trusted: tuple[IPv4Network | IPv6Network, ...] = ()) -> None:
        self.app = app
        self.trusted = trusted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_headers = Headers(scope=scope)
        inbound = request_headers.get("x-request-id", "")
        request_id = inbound if _REQUEST_ID_RE.match(inbound) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        tls = scope.get("scheme") == "https"
        if not tls and self.trusted and scope.get("client"):
            proto = request_headers.get("x-forwarded-proto", "").split(",")[-1].strip()
            tls = proto == "https" and _is_trusted(scope["client"][0], self.trusted)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["X-Request-ID"] = request_id
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Referrer-Policy"] = "no-referrer"
                headers["X-Frame-Options"] = "DENY"
                headers.setdefault("Content-Security-Policy", API_CSP)
                headers.setdefault("Cache-Control", "no-store")
                if tls:
                    headers["Strict-Transport-Security"] = HSTS
            await send(message)

        await self.app(scope, receive, send_with_headers)


class _BodyTooLarge(Exception):
    """Raised from ``receive`` once a body passes the limit, to abandon the request."""


def _too_large(limit: int) -> JSONResponse:
    return graphql_error_response(
        413,
        "BAD_USER_INPUT",
        f"The request body is larger than {limit} bytes",
        field="body",
    )


class BodyLimit:
    """413 for bodies over ``max_bytes``: at once when ``Content-Length`` says so, else as soon
    as the streamed (chunked) body passes the limit, before anything parses it."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await _too_large(self.max_bytes)(scope, receive, send)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if started:
                raise
            await _too_large(self.max_bytes)(scope, receive, send)


class UnhandledErrors:
    """The last net: an exception no one handled becomes a GraphQL-shaped 500 with the request
    id; the traceback goes to the log only."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            request_id = scope.get("state", {}).get("request_id", "")
            log.exception("unhandled error (request %s)", request_id)
            if started:
                raise
            response = graphql_error_response(
                500, "INTERNAL_SERVER_ERROR", "Internal server error", requestId=request_id
            )
            await response(scope, receive, send)


async def http_exception_handler(request: Request, exc: Exception) -> Response:
    """Routing errors (404, 405 with ``Allow``) as GraphQL-shaped JSON."""
    assert isinstance(exc, HTTPException)
    code = "NOT_FOUND" if exc.status_code == 404 else "BAD_USER_INPUT"
    return graphql_error_response(
        exc.status_code, code, str(exc.detail), headers=dict(exc.headers or {})
    )


def refuse_graphql_request(request: Request, graphiql: bool) -> Response | None:
    """The refusal of a ``/graphql`` request that must not reach GraphQL, or None.

    Only ``POST`` with ``application/json`` runs operations; ``GET`` only shows GraphiQL (when
    enabled, to a client that accepts HTML), so no query or mutation rides on a link or a form.
    """
    allow = "GET, POST" if graphiql else "POST"
    if request.method == "POST":
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != "application/json":
            return graphql_error_response(
                415,
                "BAD_USER_INPUT",
                "Send operations as an application/json body",
                field="Content-Type",
            )
        return None
    if request.method == "GET" and graphiql and "query" not in request.query_params:
        accept = request.headers.get("accept", "")
        if "text/html" in accept or "*/*" in accept:
            return None
    message = (
        "GraphQL operations are accepted over POST only"
        if request.method == "GET"
        else f"Method {request.method} is not allowed"
    )
    return graphql_error_response(
        405, "BAD_USER_INPUT", message, headers={"Allow": allow}, field="method"
    )


def batch_problem(items: list[Any], max_operations: int) -> str | None:
    """Why a batched request body (a JSON list) cannot run, or None."""
    if not items:
        return "A batch must hold at least one operation"
    if len(items) > max_operations:
        return f"A batch may hold at most {max_operations} operations"
    for item in items:
        if not isinstance(item, dict):
            return "Each operation of a batch must be a JSON object"
        if not isinstance(item.get("query"), str):
            return "Each operation of a batch needs a `query` string"
        if not isinstance(item.get("variables"), dict | None):
            return "`variables` must be an object"
        if not isinstance(item.get("operationName"), str | None):
            return "`operationName` must be a string"
    return None


def graphiql_response(html: str) -> HTMLResponse:
    """The GraphiQL page with a fresh nonce on its tags and the matching CSP."""
    nonce = secrets.token_urlsafe(18)
    page = _NONCE_TAGS.sub(lambda m: f'<{m.group(1)} nonce="{nonce}"', html)
    return HTMLResponse(page, headers={"Content-Security-Policy": GRAPHIQL_CSP.format(nonce=nonce)})


def cors_middleware(origins: list[str]) -> list[Middleware]:
    """CORS for exactly ``CORS_ORIGINS`` (none: no cross-origin access at all).

    Credentials are not allowed: clients send the access token in ``Authorization``, never in a
    cookie, so a cross-origin page gains nothing it could not do with the token it holds.
    """
    if not origins:
        return []
    return [
        Middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Accept", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After"],
            allow_credentials=False,
            max_age=600,
        )
    ]


def client_address(
    peer: str | None,
    forwarded_for: str | None,
    trusted: tuple[IPv4Network | IPv6Network, ...],
) -> str | None:
    """The client's address: the socket peer, unless it is a trusted proxy, in which case the
    right-most ``X-Forwarded-For`` entry that is not itself a trusted proxy."""
    if peer is None or not trusted or not forwarded_for or not _is_trusted(peer, trusted):
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop, trusted):
            try:
                return str(ip_address(hop))
            except ValueError:
                return peer  # garbage in the header: fall back to what we know
    return hops[0] if hops else peer


def _is_trusted(address: str, trusted: tuple[IPv4Network | IPv6Network, ...]) -> bool:
    try:
        ip = ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)
