"""The last net: an unhandled exception becomes a GraphQL-shaped 500, or a 503 when the
database is down or too slow; a client that left is no error of ours."""

from __future__ import annotations

import logging

from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from staffgraph.db_faults import is_database_unavailable
from staffgraph.errors import RETRY_AFTER_SECONDS, SERVICE_UNAVAILABLE
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
        except ClientDisconnect:
            # the client closed the connection before sending its whole request: nobody is
            # left to answer, and nothing is wrong with the server (no alert, no traceback)
            state = scope.setdefault("state", {})
            state["client_disconnected"] = True
            log.info(
                "client disconnected before the request was read (request %s)",
                state.get("request_id", ""),
            )
        except Exception as exc:
            request_id = scope.get("state", {}).get("request_id", "")
            if is_database_unavailable(exc):
                log.warning("database unavailable (request %s): %r", request_id, exc)
                if started:
                    raise
                response = unavailable_response()
            else:
                log.exception("unhandled error (request %s)", request_id)
                if started:
                    raise
                response = graphql_error_response(
                    500, "INTERNAL_SERVER_ERROR", "Internal server error", requestId=request_id
                )
            await response(scope, receive, send)


def unavailable_response() -> JSONResponse:
    """HTTP 503 with ``Retry-After`` and one ``SERVICE_UNAVAILABLE`` error."""
    return graphql_error_response(
        503,
        SERVICE_UNAVAILABLE,
        "The service is temporarily unavailable; try again later",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        retryAfter=RETRY_AFTER_SECONDS,
    )
