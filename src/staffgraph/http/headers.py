"""``X-Request-ID`` and the security headers on every response."""

from __future__ import annotations

import re
import uuid
from ipaddress import IPv4Network, IPv6Network

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from staffgraph.http.client_address import is_trusted

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{8,128}$")
HSTS = "max-age=31536000; includeSubDomains"
#: JSON answers never need to load anything or be framed
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"


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
            tls = proto == "https" and is_trusted(scope["client"][0], self.trusted)

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
