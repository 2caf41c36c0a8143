"""ASGI middleware: time and count every HTTP request, and answer ``GET /metrics``.

Placed just inside the access log, it sees every answer, the rate limit's 429s and the body
limit's 413s included. The operation name and type come from the request guard's scope state
(``graphql_operation``, ``graphql_operation_type``); error codes from the JSON body's
``errors``, read only when the body holds that key and is small enough to parse.
"""

from __future__ import annotations

import json
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from staffgraph.observability import exposition, metrics

#: bodies larger than this are not parsed for error codes (counted as ``unread``)
MAX_PARSED_BODY_BYTES = 1 << 20
_JSON_TYPES = (b"application/json", b"application/graphql-response+json")


class Metrics:
    """Record ``staffgraph_request_duration_seconds`` and ``staffgraph_responses_total``;
    serve ``/metrics`` when ``token`` (``METRICS_TOKEN``) is set."""

    def __init__(self, app: ASGIApp, token: str | None = None) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if (
            scope["path"] == exposition.PATH
            and self.token
            and await exposition.answer(scope, receive, send, self.token)
        ):
            return
        started = time.perf_counter()
        status = 500
        is_json = False
        chunks: list[bytes] = []  # kept, not copied: joined only when errors may be inside
        size = 0
        too_large = False

        async def observe(message: Message) -> None:
            nonlocal status, is_json, size, too_large
            if message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message.get("headers", ()):
                    if name.lower() == b"content-type":
                        is_json = value.split(b";")[0].strip().lower() in _JSON_TYPES
            elif message["type"] == "http.response.body" and is_json and not too_large:
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > MAX_PARSED_BODY_BYTES:
                    too_large = True
                    chunks.clear()
                else:
                    chunks.append(chunk)
            await send(message)

        try:
            await self.app(scope, receive, observe)
        finally:
            state = scope.get("state", {})
            body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            codes = {"UNREAD"} if too_large else error_codes(body)
            metrics.response(status, codes)
            metrics.request_duration(
                state.get("graphql_operation"),
                state.get("graphql_operation_type"),
                time.perf_counter() - started,
            )


def error_codes(body: bytes) -> set[str]:
    """The distinct ``extensions.code`` values of a GraphQL-shaped JSON body's errors."""
    if b'"errors"' not in body:
        return set()
    try:
        decoded = json.loads(body)
    except ValueError:
        return set()
    found: set[str] = set()
    for answer in decoded if isinstance(decoded, list) else [decoded]:
        errors = answer.get("errors") if isinstance(answer, dict) else None
        for error in errors if isinstance(errors, list) else ():
            extensions = error.get("extensions") if isinstance(error, dict) else None
            code = extensions.get("code") if isinstance(extensions, dict) else None
            found.add(code if isinstance(code, str) else "NO_CODE")
    return found
