"""WebSocket connections whose subscriptions end the moment their session does.

Every signed-in connection is registered under its session. When the session is revoked, on
this instance or any other (the revocation store tells every instance), or when the access
token it authenticated with expires, each of its subscriptions gets ``sessionEnded`` (where
subscribed) and a last result with ``UNAUTHENTICATED`` and the reason, then the socket closes
with 4403. A client that reconnects with a refreshed token resumes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from staffgraph.models import Session
from staffgraph.realtime.broker import Ended, Subscriber
from staffgraph.realtime.events import SESSION_END_REASONS, SessionEndReason

if TYPE_CHECKING:
    from staffgraph.context import Context

log = logging.getLogger("staffgraph.realtime")

#: how long the subscriptions of an ending connection get to send their last results
FINAL_RESULTS_SECONDS = 0.5
CLOSE_CODE, CLOSE_REASON = 4403, "Forbidden"


@dataclass(eq=False)
class Socket:
    """One WebSocket connection's live state."""

    websocket: Any
    session_id: uuid.UUID | None = None
    subscribers: set[Subscriber] = field(default_factory=set)
    ended: Ended | None = None
    _expiry: asyncio.TimerHandle | None = None
    _closing: asyncio.Task[None] | None = None
    _drained: asyncio.Event = field(default_factory=asyncio.Event)

    def join(self, subscriber: Subscriber) -> None:
        """A subscription of this connection starts (ended at once if the session has)."""
        self.subscribers.add(subscriber)
        if self.ended is not None:
            subscriber.end(self.ended)

    def leave(self, subscriber: Subscriber) -> None:
        """A subscription of this connection is over (its last result is out)."""
        self.subscribers.discard(subscriber)
        if not self.subscribers:
            self._drained.set()

    def end(self, session_reason: SessionEndReason, auth_reason: str) -> None:
        """End every subscription with its last results, then close the socket (4403)."""
        if self.ended is not None:
            return
        self.ended = Ended(session_reason.value, auth_reason)
        for subscriber in list(self.subscribers):
            subscriber.end(self.ended)
        if self._expiry is not None:
            self._expiry.cancel()
        self._closing = asyncio.get_running_loop().create_task(self._close())

    async def _close(self) -> None:
        if self.subscribers:
            with contextlib.suppress(TimeoutError):  # asyncio.timeout: see RevocationStore
                async with asyncio.timeout(FINAL_RESULTS_SECONDS):
                    await self._drained.wait()
        with contextlib.suppress(Exception):  # the peer may be gone already
            await self.websocket.close(code=CLOSE_CODE, reason=CLOSE_REASON)


class SocketRegistry:
    """The signed-in connections of this instance, by session."""

    def __init__(self) -> None:
        self._by_session: dict[uuid.UUID, set[Socket]] = {}

    def open(self, ctx: Context) -> Socket:
        """Register the connection of ``ctx`` (its viewer just signed in on it)."""
        socket = Socket(ctx.request)
        viewer = ctx.viewer
        if viewer is not None:
            socket.session_id = viewer.session_id
            self._by_session.setdefault(viewer.session_id, set()).add(socket)
            delay = viewer.expires_at - time.time()
            if delay != float("inf"):
                socket._expiry = asyncio.get_running_loop().call_later(
                    max(0.0, delay), socket.end, SessionEndReason.EXPIRED, "token_expired"
                )
        return socket

    def close(self, socket: Socket) -> None:
        """Forget a connection that closed."""
        if socket._expiry is not None:
            socket._expiry.cancel()
        if socket.session_id is not None:
            sockets = self._by_session.get(socket.session_id)
            if sockets is not None:
                sockets.discard(socket)
                if not sockets:
                    del self._by_session[socket.session_id]

    def watches(self, session_id: uuid.UUID) -> bool:
        """Whether a connection of this session is open here."""
        return session_id in self._by_session

    def sessions_revoked(self, session_ids: list[uuid.UUID]) -> None:
        """Called by the revocation store for every newly revoked session."""
        watched = [sid for sid in session_ids if sid in self._by_session]
        if watched:
            asyncio.get_running_loop().create_task(self._end_sessions(watched))

    async def _end_sessions(self, session_ids: list[uuid.UUID]) -> None:
        reasons: dict[uuid.UUID, str | None] = {}
        try:
            rows = await Session.filter(id__in=session_ids).values_list("id", "revoke_reason")
            reasons = {sid: reason for sid, reason in rows}
        except Exception:  # the database is down: the sockets end all the same
            log.warning("could not read why sessions ended", exc_info=True)
        for sid in session_ids:
            reason = SESSION_END_REASONS.get(reasons.get(sid) or "", SessionEndReason.REVOKED)
            for socket in list(self._by_session.get(sid, ())):
                socket.end(reason, "token_revoked")
