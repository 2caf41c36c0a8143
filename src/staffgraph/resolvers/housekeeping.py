"""Removing rows that can no longer matter: ended sessions and expired sign-in codes."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from staffgraph.models import OAuthLoginCode, Session

log = logging.getLogger("staffgraph")

#: how often each instance prunes (the deletes are idempotent, instances need not agree)
PRUNE_INTERVAL_SECONDS = 3600
BATCH_SIZE = 1000


@dataclass(frozen=True, slots=True)
class Pruned:
    """How many rows one pass removed."""

    sessions: int
    login_codes: int


async def prune_expired(access_token_ttl: int, now: datetime | None = None) -> Pruned:
    """Delete sessions (with their refresh tokens) and OAuth login codes nothing can use.

    A session past its absolute expiry can no longer be refreshed, and its last access token
    expires at most ``access_token_ttl`` later: only after that is it deleted, so the
    revocation store, which is rebuilt from the database at start-up, never forgets a
    revoked session whose tokens still live.
    """
    now = now or datetime.now(UTC)
    horizon = now - timedelta(seconds=access_token_ttl)
    sessions = await _delete_in_batches(Session, expires_at__lt=horizon)
    codes = await _delete_in_batches(OAuthLoginCode, expires_at__lt=now)
    return Pruned(sessions, codes)


async def _delete_in_batches(model: type[Session | OAuthLoginCode], **where: object) -> int:
    # by id, a batch at a time: each statement stays short, and the count is exact on every
    # backend (SQLite's would include the refresh tokens its foreign keys cascade to)
    deleted = 0
    while ids := [row.id for row in await model.filter(**where).only("id").limit(BATCH_SIZE)]:
        await model.filter(id__in=ids).delete()
        deleted += len(ids)
    return deleted


async def prune_periodically(access_token_ttl: int) -> None:
    """:func:`prune_expired` every :data:`PRUNE_INTERVAL_SECONDS`, until cancelled."""
    while True:
        await asyncio.sleep(PRUNE_INTERVAL_SECONDS)
        try:
            pruned = await prune_expired(access_token_ttl)
        except Exception:  # a failed pass is retried at the next; the reason goes to the log
            log.warning("pruning expired sessions failed", exc_info=True)
            continue
        if pruned.sessions or pruned.login_codes:
            log.info(
                "pruned %d expired sessions and %d expired sign-in codes",
                pruned.sessions,
                pruned.login_codes,
            )
