"""The last net (:class:`staffgraph.http.edge.Edge` answers with it): an unhandled exception
becomes a GraphQL-shaped 500, or a 503 when the database is down or too slow."""

from __future__ import annotations

import logging

from starlette.responses import JSONResponse

from staffgraph.db_faults import is_database_unavailable
from staffgraph.errors import RETRY_AFTER_SECONDS, SERVICE_UNAVAILABLE
from staffgraph.http.responses import graphql_error_response

log = logging.getLogger("staffgraph.http")


def log_unhandled(exc: Exception, request_id: str) -> None:
    """Log an exception no one handled: a warning when the database is down or too slow, else
    an error with its traceback."""
    if is_database_unavailable(exc):
        log.warning("database unavailable (request %s): %r", request_id, exc)
    else:
        log.exception("unhandled error (request %s)", request_id, exc_info=exc)


def unhandled_response(exc: Exception, request_id: str) -> JSONResponse:
    """The answer to an exception no one handled, logged (:func:`log_unhandled`): a
    GraphQL-shaped 503 when the database is down or too slow, else a 500 with the request id
    (the traceback goes to the log only)."""
    log_unhandled(exc, request_id)
    if is_database_unavailable(exc):
        return unavailable_response()
    return graphql_error_response(
        500, "INTERNAL_SERVER_ERROR", "Internal server error", requestId=request_id
    )


def unavailable_response() -> JSONResponse:
    """HTTP 503 with ``Retry-After`` and one ``SERVICE_UNAVAILABLE`` error."""
    return graphql_error_response(
        503,
        SERVICE_UNAVAILABLE,
        "The service is temporarily unavailable; try again later",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        retryAfter=RETRY_AFTER_SECONDS,
    )
