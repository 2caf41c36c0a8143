"""Failed sign-in counters per account and per client IP (``LOGIN_RATE_LIMIT``).

Only failures count, in a moving window, so a user who signs in on ten devices is never locked
out. An attempt is checked before the password is: over the limit, no bcrypt work is done and
the answer is ``RATE_LIMITED`` whether the account exists or not (the account key is the email
as typed, lowercased).

Attempts still being verified count as failures-to-be while they run: twenty parallel guesses
at one account with a limit of ten get ten verifications, not twenty. That holds per instance;
across N instances at most N-1 extra guesses per key can slip through a race.

If Redis does not answer, the counters fall back to process memory for a while (see
:meth:`LoginLimiter._counted`): sign-in stays possible and limited.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TypeVar

from limits import RateLimitItem
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from staffgraph.errors import RateLimited
from staffgraph.observability import metrics
from staffgraph.ratelimits.storage import close_storage

NAMESPACE = "login-failures"
#: after the shared counters fail, count in process memory this long before trying them again
FALLBACK_SECONDS = 30

log = logging.getLogger("staffgraph.auth")
T = TypeVar("T")


def account_key(email: str) -> str:
    """The counter key of an account: a digest, so Redis holds no addresses."""
    return "account:" + hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]


@dataclass(slots=True)
class Attempt:
    """One credential check in progress; call :meth:`failed` when the credentials are wrong."""

    keys: tuple[str, ...]
    failure: bool = False

    def failed(self) -> None:
        """Count this attempt against its account and IP."""
        self.failure = True


class LoginLimiter:
    """Checks and counts failed credential checks per account and per IP."""

    def __init__(self, item: RateLimitItem, storage: Storage) -> None:
        self.item = item
        self.storage = storage
        self._shared = MovingWindowRateLimiter(storage)
        # counts in this process while the shared store does not answer
        self._local = (
            self._shared
            if isinstance(storage, MemoryStorage)
            else MovingWindowRateLimiter(MemoryStorage())
        )
        self._shared_down_until = 0.0
        self._in_flight: Counter[str] = Counter()
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def attempt(self, email: str, client_ip: str | None) -> AsyncIterator[Attempt]:
        """Guard one credential check: raises ``RATE_LIMITED`` before it when over the limit."""
        attempt = Attempt((account_key(email), "ip:" + (client_ip or "unknown")))
        await self._admit(attempt.keys)
        try:
            yield attempt
        finally:
            try:
                if attempt.failure:
                    await self._counted(self._hit_all(attempt.keys))
            finally:
                self._in_flight.subtract(attempt.keys)
                for key in attempt.keys:
                    if self._in_flight[key] <= 0:
                        del self._in_flight[key]

    def _hit_all(
        self, keys: tuple[str, ...]
    ) -> Callable[[MovingWindowRateLimiter], Awaitable[list[bool]]]:
        async def hit(strategy: MovingWindowRateLimiter) -> list[bool]:
            return [await strategy.hit(self.item, NAMESPACE, key) for key in keys]

        return hit

    async def _admit(self, keys: tuple[str, ...]) -> None:
        # serialised so that two attempts cannot both see the last free slot
        async with self._lock:
            stats = await self._counted(
                lambda s: asyncio.gather(
                    *(s.get_window_stats(self.item, NAMESPACE, k) for k in keys)
                )
            )
            retry_after = 0.0
            for key, (reset_at, remaining) in zip(keys, stats, strict=True):
                if remaining - self._in_flight[key] <= 0:
                    # full of failures: until the oldest leaves the window; else a moment
                    wait = reset_at - time.time() if remaining <= 0 else 1.0
                    retry_after = max(retry_after, wait, 1.0)
            if retry_after > 0:
                metrics.signin("rate_limited")
                raise RateLimited(
                    math.ceil(retry_after), "Too many failed sign-in attempts; try again later"
                )
            self._in_flight.update(keys)

    async def _counted(self, call: Callable[[MovingWindowRateLimiter], Awaitable[T]]) -> T:
        """``call`` on the shared counters, or on this process's while they do not answer.

        Neither open (no limit while Redis is down) nor closed (nobody signs in): the limit
        holds per instance until the shared store is back, tried again every
        :data:`FALLBACK_SECONDS`.
        """
        if time.monotonic() >= self._shared_down_until:
            try:
                return await call(self._shared)
            except Exception:  # any storage failure; the traceback goes to the log
                if self._local is self._shared:
                    raise
                self._shared_down_until = time.monotonic() + FALLBACK_SECONDS
                log.warning(
                    "sign-in failure counters unavailable: counting per instance for %ds",
                    FALLBACK_SECONDS,
                    exc_info=True,
                )
        return await call(self._local)

    async def check(self) -> bool:
        """Whether the counter storage answers."""
        return await self.storage.check()

    async def close(self) -> None:
        """Close the Redis connections of the counter storage, if it has any."""
        await close_storage(self.storage)
