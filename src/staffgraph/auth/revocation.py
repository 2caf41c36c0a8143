"""Revoked sessions, checked on every request without touching the database."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

from staffgraph.models import Session


class RevocationStore:
    """Session ids whose access tokens are refused, kept until those tokens expire anyway.

    In process memory; the database stays the source of truth and :meth:`load` rebuilds the
    set at start-up, so a restart does not revive revoked tokens.
    """

    def __init__(self, access_token_ttl: int) -> None:
        self._ttl = access_token_ttl
        self._revoked: dict[uuid.UUID, float] = {}

    def is_revoked(self, session_id: uuid.UUID) -> bool:
        """Whether tokens of ``session_id`` must be refused."""
        return session_id in self._revoked

    async def revoke(self, session_ids: list[uuid.UUID]) -> None:
        """Refuse every access token of these sessions from now on."""
        keep_until = time.time() + self._ttl
        for sid in session_ids:
            self._revoked[sid] = keep_until
        self._prune()

    async def load(self) -> None:
        """Rebuild from sessions revoked recently enough for their access tokens to live."""
        since = datetime.now(UTC) - timedelta(seconds=self._ttl)
        rows = await Session.filter(revoked_at__gte=since).values_list("id", "revoked_at")
        for sid, revoked_at in rows:
            self._revoked[sid] = revoked_at.timestamp() + self._ttl

    async def start(self) -> None:
        """Connect to shared state, if any."""

    async def stop(self) -> None:
        """Release shared-state connections, if any."""

    def _prune(self) -> None:
        now = time.time()
        if len(self._revoked) > 1024:
            self._revoked = {k: v for k, v in self._revoked.items() if v > now}
