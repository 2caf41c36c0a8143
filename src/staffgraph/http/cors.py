"""CORS for exactly the configured origins, with the request headers real clients send."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response

from staffgraph.http.responses import graphql_error_response

#: what common client setups send: tracing (W3C, Sentry), Apollo's client awareness, ours
DEFAULT_ALLOW_HEADERS = (
    "authorization",
    "content-type",
    "accept",
    "traceparent",
    "tracestate",
    "baggage",
    "sentry-trace",
    "apollographql-client-name",
    "apollographql-client-version",
    "x-request-id",
)


class JsonCORSMiddleware(CORSMiddleware):
    """Starlette's CORS, whose refused preflights answer GraphQL-shaped JSON, not plain text."""

    def preflight_response(self, request_headers: Headers) -> Response:
        """The preflight answer; a refusal keeps its status and CORS headers, with a JSON body."""
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        refused = bytes(response.body).decode().removeprefix("Disallowed CORS ")
        headers = {k: v for k, v in response.headers.items() if k.startswith("access-control-")}
        return graphql_error_response(
            response.status_code,
            "BAD_USER_INPUT",
            f"CORS preflight refused: this {refused} is not allowed",
            headers=headers,
            field="Origin" if "origin" in refused else "Access-Control-Request-Headers",
        )


def cors_middleware(origins: list[str], extra_headers: list[str] | None = None) -> list[Middleware]:
    """CORS for exactly ``CORS_ORIGINS`` (none: no cross-origin access at all).

    ``extra_headers`` (``CORS_ALLOW_HEADERS``) are allowed besides :data:`DEFAULT_ALLOW_HEADERS`.
    Credentials are not allowed: clients send the access token in ``Authorization``, never in a
    cookie, so a cross-origin page gains nothing it could not do with the token it holds.
    """
    if not origins:
        return []
    allowed = dict.fromkeys([*DEFAULT_ALLOW_HEADERS, *(h.lower() for h in extra_headers or [])])
    return [
        Middleware(
            JsonCORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST"],
            allow_headers=list(allowed),
            expose_headers=["X-Request-ID", "Retry-After", "traceparent"],
            allow_credentials=False,
            max_age=600,
        )
    ]
