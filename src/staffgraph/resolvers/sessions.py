"""Signing in and out: login, token refresh, sessions and passwords."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from staffgraph.models import Session

if TYPE_CHECKING:
    from staffgraph.context import Context
    from staffgraph.services import Services


async def end_sessions(
    services: Services,
    user_id: uuid.UUID,
    reason: str,
    *,
    keep: uuid.UUID | None = None,
) -> int:
    """Revoke every open session of ``user_id`` (but ``keep``), returning how many.

    The rows are marked first (the source of truth), then the revocation store refuses their
    access tokens from the very next request, on every instance.
    """
    query = Session.filter(user_id=user_id, revoked_at__isnull=True)
    if keep is not None:
        query = query.exclude(id=keep)
    session_ids = [s.id for s in await query.only("id")]
    if not session_ids:
        return 0
    await Session.filter(id__in=session_ids).update(
        revoked_at=datetime.now(UTC), revoke_reason=reason
    )
    await services.revocations.revoke(session_ids)
    return len(session_ids)


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
