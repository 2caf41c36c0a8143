"""The circuit breaker in front of the shared (Redis) counters, one per instance.

Every limit of an instance goes through the same breaker, so an outage is discovered once, not
by each limiter in turn. Closed, the shared counters are tried with a short timeout; a call
that fails or runs out of time counts in this process's memory instead. One failure is not an
outage, though: on a busy event loop a short timeout passes while Redis is fine, and counting
locally would let the limits drift apart between instances. So a failure starts one check
(a PING with a longer timeout); only when that fails too does the breaker open.

Open, every limit counts in process memory without waiting on Redis (a frozen Redis, which
accepts connections and never answers, costs a few timeouts, not one per request), for
:data:`FALLBACK_SECONDS`. Then a single call probes Redis while the others keep counting
locally; it closes the breaker when it succeeds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

#: after the shared counters fail, count in process memory this long before trying them again
FALLBACK_SECONDS = 5.0
#: how long the check that confirms an outage waits for Redis
CONFIRM_SECONDS = 0.5

log = logging.getLogger("staffgraph.ratelimits")
T = TypeVar("T")


class SharedStoreBreaker:
    """Decides, call by call, whether the shared counters are tried or this process's.

    ``confirm`` is the check that tells an outage from a slow moment (e.g. the client's
    ``ping``); without one, the first failure opens the breaker.
    """

    def __init__(
        self,
        confirm: Callable[[], Awaitable[object]] | None = None,
        *,
        cooldown: float = FALLBACK_SECONDS,
        confirm_seconds: float = CONFIRM_SECONDS,
    ) -> None:
        self.cooldown = cooldown
        self.confirm_seconds = confirm_seconds
        self._confirm = confirm
        self._open_until: float | None = None  # None: closed
        self._probing = False
        self._confirming: asyncio.Task[None] | None = None

    @property
    def is_open(self) -> bool:
        """Whether the limits count in process memory at the moment."""
        return self._open_until is not None

    async def call(
        self,
        shared: Callable[[], Awaitable[T]],
        local: Callable[[], Awaitable[T]],
        *,
        seconds: float,
        what: str,
    ) -> T:
        """``shared()`` within ``seconds`` while the breaker lets it, else ``local()``.

        A failure of ``shared()`` (any exception, or running out of time) answers with
        ``local()`` and, once confirmed, opens the breaker; ``what`` names the caller in the log.
        """
        probe = False
        if self._open_until is not None:
            if self._probing or time.monotonic() < self._open_until:
                return await local()
            probe = self._probing = True
        try:
            async with asyncio.timeout(seconds):
                result = await shared()
        except Exception:  # any storage failure or the timeout; the log says which
            self._failed(what)
            return await local()
        finally:
            if probe:
                self._probing = False
        if self._open_until is not None:
            self._open_until = None
            log.warning("shared rate-limit counters answer again: limits are shared again")
        return result

    def _failed(self, what: str) -> None:
        if self._open_until is not None or self._confirm is None:
            self._open(what)  # a probe failed: the outage goes on
        elif self._confirming is None or self._confirming.done():
            self._confirming = asyncio.create_task(self._confirm_outage(what))

    async def _confirm_outage(self, what: str) -> None:
        assert self._confirm is not None
        try:
            async with asyncio.timeout(self.confirm_seconds):
                await self._confirm()
        except Exception:  # Redis does not answer: an outage
            self._open(what)

    def _open(self, what: str) -> None:
        if self._open_until is None:
            log.warning(
                "shared rate-limit counters unavailable (%s): counting per instance, "
                "trying again every %ds",
                what,
                self.cooldown,
                exc_info=True,
            )
        self._open_until = time.monotonic() + self.cooldown

    async def close(self) -> None:
        """Stop a check in progress."""
        if self._confirming is not None and not self._confirming.done():
            self._confirming.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._confirming
