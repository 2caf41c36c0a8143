"""The long-lived services one app instance shares between requests."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from staffgraph.auth.passwords import PasswordHasher
from staffgraph.auth.revocation import RevocationStore
from staffgraph.auth.tokens import TokenService
from staffgraph.background import stop_tasks
from staffgraph.documents.persisted import PersistedDocuments
from staffgraph.documents.trusted import load_manifest
from staffgraph.ratelimits.signin_limits import LoginLimiter
from staffgraph.ratelimits.storage import counter_store
from staffgraph.realtime.broker import Broker
from staffgraph.realtime.sockets import SocketRegistry
from staffgraph.resolvers.housekeeping import prune_periodically
from staffgraph.settings import Settings

log = logging.getLogger("staffgraph")

#: seconds a Redis command may take before it counts as failed
REDIS_TIMEOUT_SECONDS = 2.0


def redis_client(url: str) -> Redis:
    """An asyncio Redis client for ``REDIS_URL``; it connects on first use."""
    return Redis.from_url(
        url,
        decode_responses=True,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
        # the subscription connection is idle most of the time: ping it to notice a dead link
        health_check_interval=15,
        # one immediate retry replaces a pooled connection that died with the server; the
        # default (ten, with back-off) would hold a request for seconds while Redis is down
        retry=Retry(NoBackoff(), 1),
    )


@dataclass
class Services:
    """Settings plus the token, password, rate-limit, revocation and document services built
    from them."""

    settings: Settings
    tokens: TokenService
    passwords: PasswordHasher
    revocations: RevocationStore
    login_limiter: LoginLimiter
    documents: PersistedDocuments
    broker: Broker
    sockets: SocketRegistry
    redis: Redis | None = None
    _pruner: asyncio.Task[None] | None = None

    @classmethod
    def build(cls, settings: Settings) -> Services:
        """Build every service from ``settings``; nothing connects until :meth:`start`."""
        redis = redis_client(settings.redis_url) if settings.redis_url else None
        sockets = SocketRegistry()
        revocations = RevocationStore(settings.access_token_ttl, redis)
        revocations.on_revoked = sockets.sessions_revoked
        return cls(
            settings=settings,
            tokens=TokenService(settings),
            passwords=PasswordHasher(settings.bcrypt_rounds),
            revocations=revocations,
            login_limiter=LoginLimiter.from_settings(settings, counter_store(settings.redis_url)),
            documents=PersistedDocuments(
                load_manifest(settings.trusted_documents) if settings.trusted_documents else {},
                trusted_only=settings.trusted_documents_only,
                redis=redis,
            ),
            broker=Broker(redis),
            sockets=sockets,
            redis=redis,
        )

    async def start(self) -> None:
        """Connect and load state; the ORM must be initialised already."""
        # subscribe before loading, so a revocation published in between is not missed
        await self.revocations.start()
        await self.revocations.load()
        await self.broker.start()
        await self.passwords.warm_up()
        self._pruner = asyncio.create_task(prune_periodically(self.settings.access_token_ttl))

    async def stop(self) -> None:
        """Release connections and threads."""
        if self._pruner is not None:
            await stop_tasks([self._pruner])
        await self.revocations.stop()
        await self.broker.stop()
        await self.login_limiter.close()
        if self.redis is not None:
            await self.redis.aclose()
        self.passwords.close()

    async def redis_ready(self) -> bool | None:
        """None without Redis; else whether it answers a PING in time (without it, the
        instance still works: limits count in memory, revocations travel through the
        database)."""
        if self.redis is None:
            return None
        try:
            async with asyncio.timeout(REDIS_TIMEOUT_SECONDS):
                return bool(await self.redis.ping())
        except Exception:  # any failure means not ready; the reason goes to the log
            log.warning("readiness: redis did not answer", exc_info=True)
            return False
