"""Requests to ``/graphql`` that must not reach GraphQL: wrong methods, media types, batches."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from staffgraph.http.responses import graphql_error_response


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
