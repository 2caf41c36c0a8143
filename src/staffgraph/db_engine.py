"""Bounded waits on the database (``DATABASE_TIMEOUT``): connection settings for Tortoise, and
the PostgreSQL engine they name.

Tortoise's asyncpg client waits forever by default: for a connection from its pool, for a new
connection's handshake, for a statement. A frozen database then holds every request for as long
as it is frozen. Here each of these waits ends after the timeout:

- a statement: asyncpg's ``command_timeout`` on the client side, and PostgreSQL's own
  ``statement_timeout`` (which also frees the server of an abandoned query);
- a new connection: asyncpg's connect ``timeout``;
- a connection from the pool: :class:`BoundedAsyncpgClient` gives every ``acquire()`` (and so
  the matching ``release()``) the timeout, and serves the requests waiting for one in the
  order they came;
- SQLite: the ``busy_timeout`` pragma, after which a locked database is an error.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tortoise.backends.asyncpg.client import AsyncpgDBClient
from tortoise.backends.base.config_generator import expand_db_url

_ASYNCPG = "tortoise.backends.asyncpg"
_SQLITE = "tortoise.backends.sqlite"


class _BoundedPool:
    """An asyncpg pool whose ``acquire()`` gives up after ``timeout`` unless told otherwise, and
    serves waiting requests in the order they came.

    asyncpg's pool hands a released connection to whoever asks next: a waiting request is woken,
    but a request arriving before it runs takes the connection, and the woken one queues again
    at the back. With more requests in flight than connections (``MAX_CONCURRENCY`` 32, a pool
    of 10) some requests waited hundreds of milliseconds that way while others passed them.
    Here a request first takes a turn (a semaphore as large as the pool, which is first come,
    first served), so a connection is free whenever it then asks the pool for one.

    Taking and returning a connection cost more CPU than the statement run on it, one statement
    at a time (about 130 us against 80-100 for the fetch; bench/README.md, "Paired runs"):
    timers for waits that cannot happen, and a task per release. So a turn that is free is
    taken without a timer, a free connection without one either, and a connection that goes
    back without a statement of its own (no transaction left open, not worn out or expired)
    without the task.
    """

    def __init__(self, pool: Any, timeout: float) -> None:
        self._pool = pool
        self._timeout = timeout
        self._turns = asyncio.Semaphore(pool.get_max_size())

    async def acquire(self, *, timeout: float | None = None) -> Any:  # noqa: ASYNC109
        """The pool's ``acquire`` in turn, within the timeout."""
        budget = self._timeout if timeout is None else timeout
        loop = asyncio.get_running_loop()
        started = loop.time()
        if self._turns.locked():
            async with asyncio.timeout(budget):
                await self._turns.acquire()
        else:
            await self._turns.acquire()  # free: taken without suspending, no timer needed
        try:
            if self._pool.get_idle_size():
                # an open, idle connection is in the pool's queue and this turn may take it
                return await self._pool.acquire()
            # the pool will open a connection, or wait for its upkeep task to open one
            return await self._pool.acquire(timeout=max(0.001, budget - (loop.time() - started)))
        except BaseException:
            self._turns.release()
            raise

    async def release(self, connection: Any, *, timeout: float | None = None) -> Any:  # noqa: ASYNC109
        """The pool's ``release``, then the turn; a connection whose statement timed out is
        closed at once.

        asyncpg would wait (up to the timeout again) for the server to confirm the cancel of
        that statement, which a frozen server never does: the request would wait twice.
        """
        try:
            inner: Any = getattr(connection, "_con", None)
            if inner is None:  # released already
                return None
            if inner._protocol._is_cancelling():
                inner.terminate()
            elif self._returns_at_once(connection, inner):
                # what asyncpg's release does, but for the task it runs it in: that task only
                # keeps a cancellation from interrupting the release, and a release that never
                # suspends cannot be interrupted
                inner._on_release()
                await connection._holder.release(None)
                return None
            budget = self._timeout if timeout is None else timeout
            return await self._pool.release(connection, timeout=budget)
        finally:
            self._turns.release()

    def _returns_at_once(self, connection: Any, inner: Any) -> bool:
        """Whether asyncpg's release of ``connection`` runs no statement and closes nothing,
        so never suspends (asyncpg 0.32's ``PoolConnectionHolder.release``)."""
        holder = connection._holder
        return bool(
            self._pool._reset is keep_session
            and not inner.is_closed()
            and not inner.is_in_transaction()
            and inner._top_xact is None
            and inner._protocol.queries_count < holder._max_queries
            and holder._generation == self._pool._generation
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)


class BoundedAsyncpgClient(AsyncpgDBClient):
    """Tortoise's asyncpg client, its pool acquisition bounded by ``acquire_timeout``."""

    def __init__(self, *args: Any, acquire_timeout: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.acquire_timeout = acquire_timeout

    async def create_pool(self, **kwargs: Any) -> Any:
        """Tortoise's pool, with :func:`keep_session` as its reset and bounded acquisition."""
        kwargs.setdefault("reset", keep_session)
        pool = await super().create_pool(**kwargs)
        return _BoundedPool(pool, self.acquire_timeout) if self.acquire_timeout else pool


async def keep_session(connection: Any) -> None:
    """What a connection going back to the pool runs after asyncpg's own clean-up: nothing.

    asyncpg rolls back a transaction left open and drops listeners whatever the pool's reset;
    its default reset then sends one more statement on every release (advisory unlocks,
    ``CLOSE ALL``, ``UNLISTEN *``, ``RESET ALL``) for session state this application never
    creates: its advisory locks are transaction-level (:mod:`staffgraph.resolvers.locks`), its
    cursors live inside transactions, and it uses no ``LISTEN`` and no ``SET``; its settings
    are the connection's own (``server_settings``), which ``RESET ALL`` would keep anyway.
    """


#: what Tortoise looks for in an engine module
client_class = BoundedAsyncpgClient


def bounded_connection(database_url: str, timeout: float) -> dict[str, Any]:
    """The Tortoise connection config of ``database_url`` with every wait bounded by
    ``timeout`` seconds (values the URL sets itself are kept)."""
    config: dict[str, Any] = expand_db_url(database_url)
    credentials: dict[str, Any] = config["credentials"]
    if config["engine"] == _ASYNCPG:
        config["engine"] = __name__
        credentials.setdefault("command_timeout", timeout)
        credentials.setdefault("timeout", timeout)
        credentials["acquire_timeout"] = timeout
        server_settings = dict(credentials.get("server_settings") or {})
        server_settings.setdefault("statement_timeout", str(max(1, round(timeout * 1000))))
        credentials["server_settings"] = server_settings
    elif config["engine"] == _SQLITE:
        credentials.setdefault("busy_timeout", max(1, round(timeout * 1000)))
    return config
