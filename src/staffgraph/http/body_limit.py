"""413 for request bodies over the limit, declared or streamed."""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from staffgraph.http.headers import request_header
from staffgraph.http.responses import graphql_error_response

MAX_BODY_BYTES = 1024 * 1024


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
        declared = request_header(scope, b"content-length") or ""
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
