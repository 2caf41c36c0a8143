"""GraphQL over HTTP's response media type: ``application/graphql-response+json`` when the
client asks for it, with the spec's status codes (400 and no ``data`` for a request that never
reached execution); ``application/json`` otherwise, as it always was (200 for any GraphQL
result)."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
APPLICATION_JSON = "application/json"


def _quality(accept: str, media_type: str) -> float:
    """The ``q`` the ``Accept`` header gives ``media_type`` (0 when absent)."""
    best = 0.0
    for part in accept.split(","):
        name, *params = (p.strip() for p in part.split(";"))
        if name.lower() != media_type:
            continue
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        best = max(best, q)
    return best


def wants_graphql_response(accept: str | None) -> bool:
    """Whether the client prefers ``application/graphql-response+json`` to plain JSON."""
    if not accept:
        return False
    wanted = _quality(accept, GRAPHQL_RESPONSE_JSON)
    return wanted > 0 and wanted >= _quality(accept, APPLICATION_JSON)


def is_request_error(result: Any) -> bool:
    """A result that never reached execution: no data, and no error at a field's path (parse,
    validation, limits, variable coercion)."""
    errors = getattr(result, "errors", None) or ()
    return bool(errors) and result.data is None and all(e.path is None for e in errors)


def as_graphql_response(response: Response, request_error: bool) -> Response:
    """``response`` (a JSON GraphQL response) re-labelled ``application/graphql-response+json``.

    A request error (``request_error``, or a refusal already answered with a 4xx) loses its
    ``data`` entry and answers 400 unless it has a more precise 4xx of its own.
    """
    status = response.status_code
    body = bytes(response.body)
    if request_error or status >= 400:
        decoded = json.loads(body)
        if isinstance(decoded, dict):
            decoded.pop("data", None)
            body = json.dumps(decoded).encode()
        if status < 400:
            status = 400
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    headers["content-type"] = f"{GRAPHQL_RESPONSE_JSON}; charset=utf-8"
    return Response(body, status_code=status, headers=headers, background=response.background)
