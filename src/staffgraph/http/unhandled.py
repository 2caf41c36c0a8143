"""The last net: an unhandled exception becomes a GraphQL-shaped 500."""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from staffgraph.http.responses import graphql_error_response

log = logging.getLogger("staffgraph.http")


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
