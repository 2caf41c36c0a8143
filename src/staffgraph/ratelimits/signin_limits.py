"""Failed sign-in limits, Auth0's model (API.md §9): no account lockout.

Three limits, each on failures only, in a moving window:

- ``LOGIN_RATE_LIMIT`` (10 per 15 minutes) per pair (account, client address): the guesser is
  blocked, not the account, so its owner signing in from anywhere else is not;
- ``LOGIN_ADDRESS_RATE_LIMIT`` (100 per hour) per address, whatever the accounts: one address
  spraying passwords over many accounts;
- ``LOGIN_ACCOUNT_RATE_LIMIT`` (100 per 15 minutes) per account, whatever the addresses: an
  attack spread over many addresses, far above what one address may spend.

An attempt is checked before the password is: over any limit, no bcrypt work is done and the
answer is ``RATE_LIMITED`` whether the account exists or not (the account is the email as
typed, lowercased). The limits are exact, however many workers and instances share the
counters: admitting an attempt reserves a place in every window in one atomic step (a Redis
script; a synchronous update in process memory), failures and reservations together staying
under each limit; when the check ends the reservation becomes a failure or goes. A reservation
whose process died lapses after :data:`HOLD_SECONDS`.

While Redis does not answer (see :mod:`staffgraph.ratelimits.breaker`) the limits hold per
instance, in memory: sign-in stays possible and limited.
"""

from __future__ import annotations

import hashlib
import math
import time
import uuid
from collections import Counter, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from limits import RateLimitItem

from staffgraph.errors import RateLimited
from staffgraph.observability import metrics
from staffgraph.ratelimits.storage import CounterStore

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from staffgraph.settings import Settings

#: the longest a credential check may hold its reservation (a bcrypt check takes ~0.3 s)
HOLD_SECONDS = 60
#: a Redis script of the sign-in limits taking longer than this has failed (not the hot path:
#: a bcrypt check follows; a longer wait keeps a busy event loop from counting in memory)
REDIS_TIMEOUT_SECONDS = 1.0
_PREFIX = "staffgraph:login:"


def _digest(value: str) -> str:
    # Redis holds neither addresses nor emails
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def account_key(email: str) -> str:
    """The counter key of an account."""
    return "account:" + _digest(email.strip().lower())


@dataclass(frozen=True, slots=True)
class Window:
    """One limit on one key: at most ``limit`` failures in ``seconds``."""

    key: str
    limit: int
    seconds: int


@dataclass(slots=True)
class Attempt:
    """One credential check in progress; call :meth:`failed` when the credentials are wrong."""

    windows: tuple[Window, ...]
    token: str
    failure: bool = False

    def failed(self) -> None:
        """Count this attempt as a failure in each of its windows."""
        self.failure = True


class Failures(Protocol):
    """A place where failures and reservations are counted."""

    async def admit(self, windows: tuple[Window, ...], token: str) -> float:
        """Reserve a place in every window and answer 0, or the seconds to wait."""

    async def finish(self, windows: tuple[Window, ...], token: str, failed: bool) -> None:
        """Drop the reservation; count a failure in every window when ``failed``."""


class MemoryFailures:
    """Failures and reservations in this process: exact, as nothing awaits in between."""

    def __init__(self) -> None:
        self._failures: dict[str, deque[float]] = {}
        self._held: Counter[str] = Counter()
        self._swept_at = time.monotonic()

    async def admit(self, windows: tuple[Window, ...], token: str) -> float:
        """Reserve a place in every window and answer 0, or the seconds to wait."""
        now = time.time()
        wait = 0.0
        for window in windows:
            failures = self._recent(window, now)
            if len(failures) + self._held[window.key] >= window.limit:
                wait = max(wait, _wait(failures, window, now))
        if wait:
            return wait
        self._held.update(w.key for w in windows)
        return 0.0

    async def finish(self, windows: tuple[Window, ...], token: str, failed: bool) -> None:
        """Drop the reservation; count a failure in every window when ``failed``."""
        self.release(windows)
        if failed:
            self.record(windows)

    def release(self, windows: tuple[Window, ...]) -> None:
        """Drop one reservation of each window."""
        self._held.subtract(w.key for w in windows)
        for window in windows:
            if self._held[window.key] <= 0:
                del self._held[window.key]

    def record(self, windows: tuple[Window, ...]) -> None:
        """Count one failure in each window (only the last ``limit`` are needed)."""
        now = time.time()
        for window in windows:
            failures = self._failures.get(window.key)
            if failures is None or failures.maxlen != window.limit:
                failures = self._failures[window.key] = deque(failures or (), window.limit)
            failures.append(now)
        self._sweep(windows, now)

    def _recent(self, window: Window, now: float) -> deque[float]:
        failures = self._failures.get(window.key)
        if failures is None:
            return deque()
        while failures and failures[0] <= now - window.seconds:
            failures.popleft()
        return failures

    def _sweep(self, windows: tuple[Window, ...], now: float) -> None:
        # forget keys whose failures all left their window, once a minute
        if time.monotonic() - self._swept_at < 60:
            return
        self._swept_at = time.monotonic()
        longest = max(w.seconds for w in windows)
        for key in [k for k, f in self._failures.items() if not f or f[-1] <= now - longest]:
            del self._failures[key]


def _wait(failures: deque[float], window: Window, now: float) -> float:
    """Seconds until ``window`` has room: until enough failures leave it, else a moment (the
    place is held by checks in progress, which may or may not become failures)."""
    if len(failures) >= window.limit:
        return max(1.0, failures[len(failures) - window.limit] + window.seconds - now)
    return 1.0


# KEYS: failures, reservations of each window in turn; ARGV: token, hold seconds, then the
# limit and the seconds of each window. Answers nil when admitted, else the seconds to wait.
# Redis's clock, not the instances', so that every instance sees the same windows.
_ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local hold = tonumber(ARGV[2])
local wait = 0
for i = 1, #KEYS, 2 do
  local limit, seconds = tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - seconds)
  redis.call('ZREMRANGEBYSCORE', KEYS[i + 1], '-inf', now)
  local failed = redis.call('ZCARD', KEYS[i])
  if failed + redis.call('ZCARD', KEYS[i + 1]) >= limit then
    local w = 1
    if failed >= limit then
      local oldest = redis.call('ZRANGE', KEYS[i], failed - limit, failed - limit, 'WITHSCORES')
      w = math.max(1, tonumber(oldest[2]) + seconds - now)
    end
    wait = math.max(wait, w)
  end
end
if wait > 0 then
  return tostring(wait)
end
for i = 1, #KEYS, 2 do
  redis.call('ZADD', KEYS[i + 1], now + hold, ARGV[1])
  redis.call('EXPIRE', KEYS[i + 1], hold)
end
return false
"""

# KEYS as above; ARGV: token, "1" when failed, then the limit and the seconds of each window.
_FINISH = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
for i = 1, #KEYS, 2 do
  redis.call('ZREM', KEYS[i + 1], ARGV[1])
  if ARGV[2] == '1' then
    local limit, seconds = tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3])
    redis.call('ZADD', KEYS[i], now, ARGV[1])
    redis.call('ZREMRANGEBYRANK', KEYS[i], 0, -(limit + 1))
    redis.call('EXPIRE', KEYS[i], seconds)
  end
end
return true
"""


class RedisFailures:
    """Failures and reservations in Redis sorted sets, shared by every instance."""

    def __init__(self, redis: Redis) -> None:
        self._admit = redis.register_script(_ADMIT)
        self._finish = redis.register_script(_FINISH)

    @staticmethod
    def _keys(windows: tuple[Window, ...]) -> list[str]:
        keys = []
        for window in windows:
            keys += [f"{_PREFIX}{window.key}:failures", f"{_PREFIX}{window.key}:held"]
        return keys

    @staticmethod
    def _limits(windows: tuple[Window, ...]) -> list[int]:
        return [n for window in windows for n in (window.limit, window.seconds)]

    async def admit(self, windows: tuple[Window, ...], token: str) -> float:
        """Reserve a place in every window and answer 0, or the seconds to wait."""
        answer = await self._admit(
            keys=self._keys(windows), args=[token, HOLD_SECONDS, *self._limits(windows)]
        )
        return 0.0 if answer is None else float(answer)

    async def finish(self, windows: tuple[Window, ...], token: str, failed: bool) -> None:
        """Drop the reservation; count a failure in every window when ``failed``."""
        await self._finish(
            keys=self._keys(windows),
            args=[token, "1" if failed else "0", *self._limits(windows)],
        )


class LoginLimiter:
    """Checks and counts failed credential checks per (account, address), address, account."""

    def __init__(
        self,
        pair: RateLimitItem,
        address: RateLimitItem,
        account: RateLimitItem,
        store: CounterStore,
    ) -> None:
        self.items = {"pair": pair, "address": address, "account": account}
        self.store = store
        self._memory = MemoryFailures()
        self._redis = RedisFailures(store.redis) if store.redis is not None else None

    @classmethod
    def from_settings(cls, settings: Settings, store: CounterStore) -> LoginLimiter:
        """The limits ``LOGIN_RATE_LIMIT``, ``LOGIN_ADDRESS_RATE_LIMIT``,
        ``LOGIN_ACCOUNT_RATE_LIMIT``, counted in ``store``."""
        return cls(
            settings.login_rate, settings.login_address_rate, settings.login_account_rate, store
        )

    def windows(self, email: str, client_ip: str | None) -> tuple[Window, ...]:
        """The windows an attempt at ``email`` from ``client_ip`` counts in."""
        account = account_key(email)
        address = "address:" + _digest(client_ip or "unknown")
        pair = "pair:" + _digest(f"{account}|{address}")
        keys = {"pair": pair, "address": address, "account": account}
        return tuple(
            Window(keys[kind], item.amount, item.get_expiry()) for kind, item in self.items.items()
        )

    @asynccontextmanager
    async def attempt(self, email: str, client_ip: str | None) -> AsyncIterator[Attempt]:
        """Guard one credential check: raises ``RATE_LIMITED`` before it when over a limit."""
        attempt = Attempt(self.windows(email, client_ip), uuid.uuid4().hex)
        counted_in = await self._admit(attempt)
        try:
            yield attempt
        finally:
            await self._finish(attempt, counted_in)

    async def _admit(self, attempt: Attempt) -> Failures:
        windows, token = attempt.windows, attempt.token
        shared = self._redis
        if shared is None:
            where: Failures = self._memory
            wait = await self._memory.admit(windows, token)
        else:

            async def in_redis() -> tuple[float, Failures]:
                return await shared.admit(windows, token), shared

            async def in_memory() -> tuple[float, Failures]:
                return await self._memory.admit(windows, token), self._memory

            wait, where = await self.store.breaker.call(
                in_redis, in_memory, seconds=REDIS_TIMEOUT_SECONDS, what="sign-in limits"
            )
        if wait > 0:
            metrics.signin("rate_limited")
            raise RateLimited(math.ceil(wait), "Too many failed sign-in attempts; try again later")
        return where

    async def _finish(self, attempt: Attempt, counted_in: Failures) -> None:
        windows, token, failed = attempt.windows, attempt.token, attempt.failure
        if counted_in is self._memory:
            await self._memory.finish(windows, token, failed)
            return

        async def in_redis() -> None:
            await counted_in.finish(windows, token, failed)

        async def in_memory() -> None:
            # the reservation in Redis lapses on its own; the failure must still count
            if failed:
                self._memory.record(windows)

        await self.store.breaker.call(
            in_redis, in_memory, seconds=REDIS_TIMEOUT_SECONDS, what="sign-in limits"
        )

    async def check(self) -> bool:
        """Whether the counter storage answers."""
        return await self.store.check()

    async def close(self) -> None:
        """Close the Redis connections of the counters, if there are any."""
        await self.store.close()
