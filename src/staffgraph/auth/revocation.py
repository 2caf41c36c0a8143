"""Revoked sessions, checked on every request without touching the database or the network.

Every instance keeps the revoked session ids in a dict in memory; a request's check is one dict
lookup. The database is the source of truth (``sessions.revoked_at``): it rebuilds the dict at
start-up, so a restart does not revive revoked tokens, and every resync reads it again.

With Redis, the revoking instance also adds the ids to a sorted set (score: when the last access
token of the session expires anyway) and PUBLISHes them; every instance SUBSCRIBEs and updates its
dict as the message arrives, typically within a millisecond. The instance that revokes updates its
own dict before anything else, so it is never stale.

Redis is a fast path, never the only one. A resync goes database -> memory -> Redis: it reads the
recent revocations from the database, adds what the sorted set holds, and pushes (and publishes)
whatever the set lacks. It runs at start-up, every :data:`RESYNC_SECONDS`, and at once whenever
the subscription comes back after Redis failed, so a revocation made while Redis was down, even
by an instance that has stopped since, reaches every instance within a second or so of Redis
answering again. While Redis is down the subscription is retried every
:data:`MAX_RETRY_SECONDS` at most, and revoking does not wait for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError

from staffgraph.background import stop_tasks
from staffgraph.models import Session
from staffgraph.observability import metrics

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.client import PubSub

log = logging.getLogger("staffgraph.auth")

SET_KEY = "staffgraph:revoked-sessions"
#: channel names are global to a Redis server, so the database number is part of ours
CHANNEL = "staffgraph:{db}:revocations"
#: full resync (database -> memory -> Redis), in case a message was lost
RESYNC_SECONDS = 30.0
#: wait before resubscribing after Redis failed, doubling up to the maximum: kept short, since
#: revocations made during an outage travel as soon as the subscription is back
RETRY_SECONDS, MAX_RETRY_SECONDS = 0.1, 0.5
#: a revoking request waits this long at most for Redis; the resync shares it later otherwise
SHARE_TIMEOUT_SECONDS = 1.0
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
        self._tasks: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()
        #: set by stop(): the loops end even if a cancellation was lost on their way
        self._stopping = False
        #: Redis failed us: the subscription is being retried and revoking skips it
        self._redis_down = False
        #: something Redis should hold may be missing from it (a share failed)
        self._redis_behind = False
        self._next_prune = 0.0
        #: told the ids of sessions newly revoked, here or on another instance
        self.on_revoked: Callable[[list[uuid.UUID]], None] | None = None

    def is_revoked(self, session_id: uuid.UUID) -> bool:
        """Whether tokens of ``session_id`` must be refused."""
        return session_id in self._revoked

    async def revoke(self, session_ids: list[uuid.UUID]) -> None:
        """Refuse every access token of these sessions from now on, on every instance.

        The rows are revoked in the database already (the caller did it), so refresh is
        refused everywhere; Redis only makes the other instances refuse the access tokens at
        once. When it does not answer, the next resync shares them.
        """
        if not session_ids:
            return
        metrics.revocations(len(session_ids))
        keep_until = time.time() + self._ttl
        entries = dict.fromkeys(session_ids, keep_until)
        self._add(entries)
        if self._redis is None:
            return
        if self._redis_down:
            self._redis_behind = True
            return
        try:
            async with asyncio.timeout(SHARE_TIMEOUT_SECONDS):
                await self._share(entries)
        except (RedisError, OSError, TimeoutError):
            self._redis_behind = True
            self._wake.set()
            log.warning(
                "could not share the revocation of %d sessions; the resync will", len(entries)
            )

    async def _share(self, entries: dict[uuid.UUID, float]) -> None:
        assert self._redis is not None
        members = {str(sid): until for sid, until in entries.items()}
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zadd(SET_KEY, members, gt=True)
            pipe.zremrangebyscore(SET_KEY, "-inf", time.time())
            pipe.expire(SET_KEY, self._ttl)
            pipe.publish(self.channel, json.dumps({"revoked": members}))
            await pipe.execute()

    async def load(self) -> None:
        """Rebuild from the database; with Redis, also merge and push what it lacks (if Redis
        does not answer now, the listener does it once it does)."""
        await self._load_database()
        if self._redis is not None:
            try:
                await self._sync_shared()
            except (RedisError, OSError) as exc:
                self._redis_behind = True
                log.warning("revocations not synchronised with Redis yet: %s", exc)

    async def resync(self) -> None:
        """Database -> memory -> Redis; failures are logged, the next resync tries again."""
        try:
            await self._load_database()
        except Exception:  # the database is down: keep what we know, try again later
            log.warning("revocation resync could not read the database", exc_info=True)
        if self._redis is None:
            return
        try:
            await self._sync_shared()
        except (RedisError, OSError) as exc:
            self._redis_behind = True
            log.info("revocation resync could not reach Redis: %s", exc)

    async def _load_database(self) -> None:
        since = datetime.now(UTC) - timedelta(seconds=self._ttl)
        rows = await Session.filter(revoked_at__gte=since).values_list("id", "revoked_at")
        self._add({sid: revoked_at.timestamp() + self._ttl for sid, revoked_at in rows})

    async def _sync_shared(self) -> None:
        """Merge the sorted set into memory, then push (and publish) what the set lacks."""
        assert self._redis is not None
        shared = await self._load_shared()
        now = time.time()
        missing = {
            sid: until
            for sid, until in self._revoked.items()
            if until > now and shared.get(sid, 0.0) < until - EXPIRY_MARGIN_SECONDS
        }
        if missing:
            await self._share(missing)
            log.info("shared %d revocations that Redis lacked", len(missing))
        self._redis_behind = False

    async def start(self) -> None:
        """Subscribe to revocations published by other instances (with Redis), and resync
        periodically. Redis not answering is no error: the listener keeps trying."""
        self._stopping = False
        self._wake.clear()
        if self._redis is not None:
            try:
                await self._subscribe()
            except (RedisError, OSError) as exc:
                self._redis_down = True
                log.warning("revocation channel unavailable, retrying: %s", exc)
                await self._close_pubsub()
            self._tasks.append(asyncio.create_task(self._listen(), name="revocation-listener"))
        self._tasks.append(asyncio.create_task(self._resync_loop(), name="revocation-resync"))

    async def stop(self) -> None:
        """Stop listening and release the subscription."""
        self._stopping = True
        self._wake.set()
        await stop_tasks(self._tasks)
        self._tasks = []
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
        self._wake.set()

    async def _close_pubsub(self) -> None:
        if self._pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.aclose()
            self._pubsub = None

    async def _resync_loop(self) -> None:
        while not self._stopping:
            # not asyncio.wait_for: on Python 3.11 it swallows a cancellation that arrives as
            # the wait ends (a reconnect waking it as the instance stops), and stop() hung
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(RESYNC_SECONDS):
                    await self._wake.wait()
            if self._stopping:
                return
            self._wake.clear()
            await self.resync()

    async def _listen(self) -> None:
        retry = RETRY_SECONDS
        down_since: float | None = time.monotonic() if self._redis_down else None
        while not self._stopping:
            try:
                if self._pubsub is None:
                    assert self._redis is not None
                    # connections idle in the pool died with the server: drop them, or the
                    # first commands after the return fail on them
                    await self._redis.connection_pool.disconnect(inuse_connections=False)
                    await self._subscribe()
                    self._redis_down = False
                    self._wake.set()  # messages published meanwhile were lost: resync now
                    if down_since is not None:
                        log.warning(
                            "revocation channel back after %.1fs", time.monotonic() - down_since
                        )
                        down_since = None
                assert self._pubsub is not None
                message = await self._pubsub.get_message(timeout=1.0)
                if message is not None and message.get("type") == "message":
                    self._apply(message.get("data"))
                if self._redis_behind:
                    self._wake.set()
                retry = RETRY_SECONDS
            except (RedisError, OSError) as exc:
                self._redis_down = True
                if down_since is None:
                    down_since = time.monotonic()
                    log.warning("revocation channel lost, retrying: %s", exc)
                await self._close_pubsub()
                await asyncio.sleep(retry)
                retry = min(retry * 2, MAX_RETRY_SECONDS)

    def _apply(self, data: Any) -> None:
        try:
            revoked = json.loads(data)["revoked"]
            self._add({uuid.UUID(sid): float(until) for sid, until in revoked.items()})
        except (ValueError, TypeError, KeyError, AttributeError):
            log.warning("ignored a malformed revocation message")

    async def _load_shared(self) -> dict[uuid.UUID, float]:
        """Add the sorted set's live entries to memory; returns them."""
        assert self._redis is not None
        rows: Any = await self._redis.zrangebyscore(  # [(member, score), ...]
            SET_KEY, time.time(), "+inf", withscores=True
        )
        found: dict[uuid.UUID, float] = {}
        for member, score in rows:
            with contextlib.suppress(ValueError, TypeError):
                found[uuid.UUID(member)] = float(score)
        self._add(found)
        return found

    def _add(self, entries: dict[uuid.UUID, float]) -> None:
        new = [sid for sid in entries if sid not in self._revoked]
        for sid, until in entries.items():
            if until > self._revoked.get(sid, 0.0):
                self._revoked[sid] = until
        if new and self.on_revoked is not None:
            self.on_revoked(new)
        now = time.time()
        if now >= self._next_prune:
            self._next_prune = now + 60
            self._revoked = {k: v for k, v in self._revoked.items() if v > now}
