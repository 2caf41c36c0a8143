"""Where every limit counts: Redis shared by every instance, or this process's memory.

One :class:`CounterStore` per instance holds both, one Redis connection pool, and the
:class:`~staffgraph.ratelimits.breaker.SharedStoreBreaker` that says which one a call uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from redis.asyncio import Redis

from staffgraph.ratelimits.breaker import SharedStoreBreaker

#: the socket timeouts of the counters' connections: a backstop, each call has a shorter one
REDIS_TIMEOUT_SECONDS = 2


@dataclass
class CounterStore:
    """The counters of one instance.

    ``shared`` is the limits library's storage: Redis when configured, else the in-process
    ``local`` itself. ``redis`` is a client on the same connection pool, for the sign-in
    scripts; None without Redis.
    """

    shared: Storage
    local: MemoryStorage
    redis: Redis | None = None
    breaker: SharedStoreBreaker = field(default_factory=SharedStoreBreaker)

    async def check(self) -> bool:
        """Whether the counter storage answers."""
        return await self.shared.check()

    async def close(self) -> None:
        """Close the Redis connections, if any."""
        await self.breaker.close()
        if self.redis is not None:
            await self.redis.aclose()


def counter_store(redis_url: str | None) -> CounterStore:
    """In-process counters, or Redis ones shared by every instance.

    The ``async+`` scheme selects the asyncio storage (plain ``redis://`` would give the
    synchronous one) and ``implementation="redispy"`` the ``redis`` package we already use,
    on the pool of our own client.
    """
    local = MemoryStorage()
    if redis_url is None:
        return CounterStore(shared=local, local=local)
    client = Redis.from_url(
        redis_url,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
    )
    shared = RedisStorage(
        f"async+{redis_url}",
        implementation="redispy",
        key_prefix="staffgraph",
        connection_pool=client.connection_pool,  # type: ignore[arg-type]
    )
    return CounterStore(
        shared=shared, local=local, redis=client, breaker=SharedStoreBreaker(client.ping)
    )
