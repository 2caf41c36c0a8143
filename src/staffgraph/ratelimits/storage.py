"""Where every limit counts: Redis shared by every instance, or this process's memory.

One :class:`CounterStore` per instance holds both, one Redis connection pool, and the
:class:`~staffgraph.ratelimits.breaker.SharedStoreBreaker` that says which one a call uses.
"""

from __future__ import annotations

import bisect
import time
from dataclasses import dataclass, field
from typing import Any

from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from redis.asyncio import Redis

from staffgraph.ratelimits.breaker import SharedStoreBreaker

#: the socket timeouts of the counters' connections: a backstop, each call has a shorter one
REDIS_TIMEOUT_SECONDS = 2


class LocalCounters(MemoryStorage):
    """The limits library's in-process storage, forgetting what expired at most once a second.

    ``MemoryStorage`` starts a task after every count to drop expired entries, and hands the
    search of each key's entries (a bisect) to a thread with ``asyncio.to_thread``: on a busy
    server a thread hop for nearly every request, some 7% of a cheap query's time. The answers
    never depend on it (a moving window looks at its entries' times), only the memory held
    does; here the same clean-up runs inline, on the event loop, once a second at most.
    """

    #: seconds between two clean-ups
    EXPIRY_INTERVAL = 1.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._next_expiry = 0.0

    # the hook every counting method of limits 5's MemoryStorage awaits (a private name: the
    # lock file pins the version, and tests/test_hardening_ratelimit.py checks the clean-up)
    async def _MemoryStorage__schedule_expiry(self) -> None:
        now = time.time()
        if now >= self._next_expiry:
            self._next_expiry = now + self.EXPIRY_INTERVAL
            self.expire(now)

    def expire(self, now: float) -> None:
        """Drop every entry and counter that expired by ``now``."""
        for key, events in list(self.events.items()):
            # entries are kept newest first
            del events[bisect.bisect_left(events, -now, key=lambda event: -event.expiry) :]
            if not events:
                self.events.pop(key, None)
                self.locks.pop(key, None)
        for key, expires_at in list(self.expirations.items()):
            if expires_at <= now:
                self.storage.pop(key, None)
                self.expirations.pop(key, None)
                self.locks.pop(key, None)


@dataclass
class CounterStore:
    """The counters of one instance.

    ``shared`` is the limits library's storage: Redis when configured, else the in-process
    ``local`` itself. ``redis`` is a client on the same connection pool, for the sign-in
    scripts; None without Redis.
    """

    shared: Storage
    local: LocalCounters
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
    local = LocalCounters()
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
