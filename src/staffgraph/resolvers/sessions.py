"""Signing in and out: login, token refresh, sessions and passwords."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from staffgraph.context import Context


async def login(ctx: Context, email: str, password: str) -> Any:
    """Verify the credentials and open a session."""
    raise NotImplementedError


async def refresh(ctx: Context, refresh_token: str) -> Any:
    """Rotate a refresh token."""
    raise NotImplementedError


async def exchange_oauth_code(ctx: Context, code: str) -> Any:
    """Open a session from an OAuth sign-in's one-time code."""
    raise NotImplementedError


async def logout(ctx: Context) -> bool:
    """End the current session."""
    raise NotImplementedError


async def logout_all(ctx: Context) -> int:
    """End every session of the viewer."""
    raise NotImplementedError


async def revoke_session(ctx: Context, session_id: uuid.UUID) -> bool:
    """End one session of the viewer's, or anyone's for ADMIN."""
    raise NotImplementedError


async def change_password(ctx: Context, current_password: str, new_password: str) -> bool:
    """Change the viewer's password and end their other sessions."""
    raise NotImplementedError
