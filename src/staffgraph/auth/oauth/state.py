"""Server-side storage of pending OAuth sign-ins (state, PKCE verifier, nonce, ``redirect_to``).

Authlib keeps this data in its ``cache`` and only a marker in the browser's signed cookie, so the
verifier never leaves the server and the browser that started a sign-in is the only one that can
finish it. Reading an entry consumes it (Redis ``GETDEL``, ``dict.pop``): a state is good for one
callback, even when two arrive at once.

With ``REDIS_URL`` every instance shares the pending sign-ins; without it they live in this
process, which is what a single instance needs (several workers require Redis anyway).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from redis.asyncio import Redis

#: how long a browser has between being sent to the provider and coming back
STATE_TTL_SECONDS = 600
#: the most pending sign-ins kept in memory; the oldest are forgotten first
MAX_PENDING = 10_000
_REDIS_PREFIX = "staffgraph:oauth-state:"


class StateStore(Protocol):
    """The cache interface Authlib's Starlette integration calls."""

    async def get(self, key: str) -> str | None:
        """Return and forget the value of ``key``."""

    async def set(self, key: str, value: str, expires_in: int | None = None) -> None:
        """Keep ``value`` under ``key`` for ``expires_in`` seconds."""

    async def delete(self, key: str) -> None:
        """Forget ``key``."""


class MemoryStateStore:
    """Pending sign-ins in process memory, bounded in number and age."""

    def __init__(self, max_entries: int = MAX_PENDING) -> None:
        self._max = max_entries
        self._entries: OrderedDict[str, tuple[float, str]] = OrderedDict()

    async def get(self, key: str) -> str | None:
        """Return and forget the value of ``key`` (None when absent or expired)."""
        entry = self._entries.pop(key, None)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    async def set(self, key: str, value: str, expires_in: int | None = None) -> None:
        """Keep ``value`` for ``expires_in`` seconds (at most :data:`STATE_TTL_SECONDS`)."""
        ttl = STATE_TTL_SECONDS if expires_in is None else min(expires_in, STATE_TTL_SECONDS)
        now = time.monotonic()
        while self._entries:
            oldest_key, (expires_at, _) = next(iter(self._entries.items()))
            if expires_at >= now and len(self._entries) < self._max:
                break
            del self._entries[oldest_key]
        self._entries[key] = (now + ttl, value)

    async def delete(self, key: str) -> None:
        """Forget ``key``."""
        self._entries.pop(key, None)


class RedisStateStore:
    """Pending sign-ins in Redis (the app's shared client), expiring on their own."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def get(self, key: str) -> str | None:
        """Return and forget the value of ``key`` atomically."""
        value = await self._redis.getdel(_REDIS_PREFIX + key)
        if isinstance(value, bytes):
            value = value.decode()
        return value if isinstance(value, str) else None

    async def set(self, key: str, value: str, expires_in: int | None = None) -> None:
        """Keep ``value`` for ``expires_in`` seconds (at most :data:`STATE_TTL_SECONDS`)."""
        ttl = STATE_TTL_SECONDS if expires_in is None else min(expires_in, STATE_TTL_SECONDS)
        await self._redis.set(_REDIS_PREFIX + key, value, ex=ttl)

    async def delete(self, key: str) -> None:
        """Forget ``key``."""
        await self._redis.delete(_REDIS_PREFIX + key)


def state_store(redis: Redis | None) -> StateStore:
    """The store for this deployment: Redis when configured, else memory."""
    return RedisStateStore(redis) if redis is not None else MemoryStateStore()
