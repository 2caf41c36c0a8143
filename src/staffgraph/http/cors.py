"""CORS for exactly the configured origins."""

from __future__ import annotations

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware


def cors_middleware(origins: list[str]) -> list[Middleware]:
    """CORS for exactly ``CORS_ORIGINS`` (none: no cross-origin access at all).

    Credentials are not allowed: clients send the access token in ``Authorization``, never in a
    cookie, so a cross-origin page gains nothing it could not do with the token it holds.
    """
    if not origins:
        return []
    return [
        Middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Accept", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After"],
            allow_credentials=False,
            max_age=600,
        )
    ]
