"""GraphQL-shaped error responses for requests refused before GraphQL runs."""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response


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


async def http_exception_handler(request: Request, exc: Exception) -> Response:
    """Routing errors (404, 405 with ``Allow``) as GraphQL-shaped JSON."""
    assert isinstance(exc, HTTPException)
    code = "NOT_FOUND" if exc.status_code == 404 else "BAD_USER_INPUT"
    return graphql_error_response(
        exc.status_code, code, str(exc.detail), headers=dict(exc.headers or {})
    )
