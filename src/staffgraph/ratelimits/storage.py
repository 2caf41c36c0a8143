"""Where every limit counts: Redis shared by every instance, or this process's memory.

One :class:`CounterStore` per instance holds both, one Redis connection pool, and the
:class:`~staffgraph.ratelimits.breaker.SharedStoreBreaker` that says which one a call uses.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.storage.memory import Entry
from redis.asyncio import Redis

from staffgraph.ratelimits.breaker import SharedStoreBreaker

#: the socket timeouts of the counters' connections: a backstop, each call has a shorter one
REDIS_TIMEOUT_SECONDS = 2


class LocalWindows(MemoryStorage):
    """limits' in-process storage, whose moving windows expire without a task or a thread.

    limits' ``MemoryStorage`` starts a task after nearly every count, which trims every key's
    window through ``asyncio.to_thread`` (a thread per key, each time): the costliest part of
    counting a request. Here a count trims its own key's window (its oldest entries sit at the
    end), and once every ``sweep_seconds`` one pass drops the keys whose windows have
    emptied, so a client that stopped coming holds no memory. Counting does not await, so it
    needs no lock either.
    """

    def __init__(self, sweep_seconds: float = 10.0) -> None:
        super().__init__()
        self.sweep_seconds = sweep_seconds
        self._next_sweep = time.time() + sweep_seconds

    async def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        """Count ``amount`` entries for ``key`` if ``limit`` allows them in the last ``expiry``
        seconds (limits' moving window, as ``MemoryStorage`` counts it)."""
        if amount > limit:
            return False
        now = time.time()
        if now >= self._next_sweep:
            self._sweep(now)
        events = self.events.setdefault(key, [])
        while events and events[-1].expiry < now:
            events.pop()
        if len(events) > limit - amount and events[limit - amount].atime >= now - expiry:
            return False
        events[:0] = [Entry(expiry)] * amount
        return True

    def _sweep(self, now: float) -> None:
        # the newest entry of a window sits first: when it has expired, every entry has
        for key in [
            key for key, events in self.events.items() if not events or events[0].expiry <= now
        ]:
            del self.events[key]
            self.locks.pop(key, None)
        self._next_sweep = now + self.sweep_seconds


@dataclass
class CounterStore:
    """The counters of one instance.

    ``shared`` is the limits library's storage: Redis when configured, else the in-process
    ``local`` itself. ``redis`` is a client on the same connection pool, for the sign-in
    scripts; None without Redis.
    """

    shared: Storage
    local: LocalWindows
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
    local = LocalWindows()
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
