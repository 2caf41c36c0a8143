"""Revoked sessions, checked on every request without touching the database or the network.

Every instance keeps the revoked session ids in a dict in memory; a request's check is one dict
lookup. The database stays the source of truth (``sessions.revoked_at``) and rebuilds the dict at
start-up, so a restart does not revive revoked tokens.

With Redis, the revoking instance also adds the ids to a sorted set (score: when the last access
token of the session expires anyway) and PUBLISHes them; every instance SUBSCRIBEs and updates its
dict as the message arrives, typically within a millisecond. The instance that revokes updates its
own dict before anything else, so it is never stale. A message missed while an instance was
disconnected from Redis is recovered from the sorted set as soon as it reconnects, and in any
case at the next periodic resync (:data:`RESYNC_SECONDS`). A revocation that Redis could not take
(Redis down) is kept and shared again as soon as Redis answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError

from staffgraph.models import Session
from staffgraph.observability import metrics

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.client import PubSub

log = logging.getLogger("staffgraph.auth")

SET_KEY = "staffgraph:revoked-sessions"
#: channel names are global to a Redis server, so the database number is part of ours
CHANNEL = "staffgraph:{db}:revocations"
#: full reload from the sorted set, in case a message was lost
RESYNC_SECONDS = 30.0
#: wait before resubscribing after Redis failed, doubling up to the maximum
RETRY_SECONDS, MAX_RETRY_SECONDS = 0.5, 15.0
#: margin for clock differences between instances when deciding a token is dead anyway
EXPIRY_MARGIN_SECONDS = 60


class RevocationStore:
    """Session ids whose access tokens are refused, kept until those tokens expire anyway."""

    def __init__(self, access_token_ttl: int, redis: Redis | None = None) -> None:
        self._ttl = access_token_ttl + EXPIRY_MARGIN_SECONDS
        self._redis = redis
        db = redis.connection_pool.connection_kwargs.get("db", 0) if redis is not None else 0
        self.channel = CHANNEL.format(db=db)
        self._revoked: dict[uuid.UUID, float] = {}
        self._pubsub: PubSub | None = None
        self._listener: asyncio.Task[None] | None = None
        self._resync_needed = False
        self._next_prune = 0.0
        #: revocations Redis did not take, shared again once it answers
        self._unshared: dict[uuid.UUID, float] = {}

    def is_revoked(self, session_id: uuid.UUID) -> bool:
        """Whether tokens of ``session_id`` must be refused."""
        return session_id in self._revoked

    async def revoke(self, session_ids: list[uuid.UUID]) -> None:
        """Refuse every access token of these sessions from now on, on every instance."""
        if not session_ids:
            return
        metrics.revocations(len(session_ids))
        keep_until = time.time() + self._ttl
        entries = dict.fromkeys(session_ids, keep_until)
        self._add(entries)
        if self._redis is None:
            return
        try:
            await self._share(entries)
        except RedisError:
            # the rows are revoked in the database, so refresh is refused everywhere; the other
            # instances learn of it once Redis answers again and the listener shares it
            self._unshared.update(entries)
            log.error("could not share the revocation of %d sessions", len(entries), exc_info=True)

    async def _share(self, entries: dict[uuid.UUID, float]) -> None:
        assert self._redis is not None
        members = {str(sid): until for sid, until in entries.items()}
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zadd(SET_KEY, members, gt=True)
            pipe.zremrangebyscore(SET_KEY, "-inf", time.time())
            pipe.expire(SET_KEY, self._ttl)
            pipe.publish(self.channel, json.dumps({"revoked": members}))
            await pipe.execute()

    async def _share_pending(self) -> None:
        now = time.time()
        pending = {sid: until for sid, until in self._unshared.items() if until > now}
        self._unshared = {}
        if not pending:
            return
        try:
            await self._share(pending)
        except RedisError:
            self._unshared.update(pending)
            raise
        log.warning("shared %d revocations that Redis had missed", len(pending))

    async def load(self) -> None:
        """Rebuild from the database, and from Redis when configured."""
        since = datetime.now(UTC) - timedelta(seconds=self._ttl)
        rows = await Session.filter(revoked_at__gte=since).values_list("id", "revoked_at")
        self._add({sid: revoked_at.timestamp() + self._ttl for sid, revoked_at in rows})
        if self._redis is not None:
            await self._load_shared()

    async def start(self) -> None:
        """Subscribe to revocations published by other instances (with Redis)."""
        if self._redis is None:
            return
        await self._subscribe()
        self._listener = asyncio.create_task(self._listen(), name="revocation-listener")

    async def stop(self) -> None:
        """Stop listening and release the subscription."""
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        await self._close_pubsub()

    async def _subscribe(self) -> None:
        assert self._redis is not None
        self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        await self._pubsub.subscribe(self.channel)
        connection = self._pubsub.connection
        if connection is not None:
            # redis-py reconnects and resubscribes silently; messages sent meanwhile are lost
            connection.register_connect_callback(self._on_reconnect)

    def _on_reconnect(self, connection: Any) -> None:
        self._resync_needed = True

    async def _close_pubsub(self) -> None:
        if self._pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.aclose()
            self._pubsub = None

    async def _listen(self) -> None:
        retry = RETRY_SECONDS
        next_resync = time.monotonic() + RESYNC_SECONDS
        while True:
            try:
                if self._pubsub is None:
                    await self._subscribe()
                    self._resync_needed = True
                assert self._pubsub is not None
                message = await self._pubsub.get_message(timeout=1.0)
                if message is not None and message.get("type") == "message":
                    self._apply(message.get("data"))
                if self._resync_needed or time.monotonic() >= next_resync:
                    self._resync_needed = False
                    next_resync = time.monotonic() + RESYNC_SECONDS
                    await self._load_shared()
                if self._unshared:
                    await self._share_pending()
                retry = RETRY_SECONDS
            except (RedisError, OSError):
                log.warning("revocation channel lost; retrying in %.1fs", retry, exc_info=True)
                await self._close_pubsub()
                await asyncio.sleep(retry)
                retry = min(retry * 2, MAX_RETRY_SECONDS)

    def _apply(self, data: Any) -> None:
        try:
            revoked = json.loads(data)["revoked"]
            self._add({uuid.UUID(sid): float(until) for sid, until in revoked.items()})
        except (ValueError, TypeError, KeyError, AttributeError):
            log.warning("ignored a malformed revocation message")

    async def _load_shared(self) -> None:
        assert self._redis is not None
        rows: Any = await self._redis.zrangebyscore(  # [(member, score), ...]
            SET_KEY, time.time(), "+inf", withscores=True
        )
        found: dict[uuid.UUID, float] = {}
        for member, score in rows:
            with contextlib.suppress(ValueError, TypeError):
                found[uuid.UUID(member)] = float(score)
        self._add(found)

    def _add(self, entries: dict[uuid.UUID, float]) -> None:
        for sid, until in entries.items():
            if until > self._revoked.get(sid, 0.0):
                self._revoked[sid] = until
        now = time.time()
        if now >= self._next_prune:
            self._next_prune = now + 60
            self._revoked = {k: v for k, v in self._revoked.items() if v > now}
