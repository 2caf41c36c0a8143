"""Tortoise's SQLite client with write-safe transactions for several processes on one file.

Tortoise begins transactions with a plain (deferred) ``BEGIN``: the transaction takes SQLite's
write lock only at its first write. When two processes (``serve --workers N``) each read and
then write, the second cannot upgrade its read snapshot and fails at once with "database is
locked" -- waiting would not help, so SQLite does not apply the busy timeout. ``BEGIN
IMMEDIATE`` takes the write lock when the transaction starts, so a second writer waits up to
``busy_timeout`` for the first to commit instead. Statements outside a transaction, and reads
(WAL mode, Tortoise's default), never wait for a writer.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import aiosqlite
from tortoise.backends.base.client import TransactionContext
from tortoise.backends.sqlite.client import (
    SqliteClient,
    SqliteTransactionContext,
    SqliteTransactionWrapper,
)
from tortoise.exceptions import IntegrityError, OperationalError, TransactionManagementError

#: how long a write waits for another process's transaction, in milliseconds
BUSY_TIMEOUT_MS = 5000


class ImmediateTransactionWrapper(SqliteTransactionWrapper):
    """A transaction that holds the write lock from its start."""

    async def begin(self) -> None:
        try:
            await self._connection.commit()
            await self._connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise TransactionManagementError(exc) from exc


def reads_only(query: str) -> bool:
    """Whether ``query`` is one statement that cannot write: a ``SELECT``, or a ``WITH`` whose
    statement is a ``SELECT`` (anything that only might write is sent the usual way)."""
    head = query.lstrip()[:6].upper()
    if head == "SELECT":
        return ";" not in query
    if head.startswith("WITH"):
        words = set(query.upper().replace("(", " ").replace(")", " ").split())
        return not words & {"INSERT", "UPDATE", "DELETE", "REPLACE"} and ";" not in query
    return False


class ImmediateSqliteClient(SqliteClient):
    """``SqliteClient`` whose transactions begin with ``BEGIN IMMEDIATE``, and whose reads
    outside a transaction run on the event loop's thread while the connection is idle.

    Every statement through Tortoise holds the client's lock, a transaction from its start to
    its end; the connection's own thread is idle whenever the lock is free. A read then costs
    what SQLite spends on it, not the hop to that thread and back (most of a one-row read's CPU
    time, see bench/README.md). Reads in WAL mode do not wait for a writer, of this process or
    another, so the loop is not stalled by one; a read that finds the lock taken waits for it as
    before, and sees what it saw before. While a read runs, the loop serves nothing else: the
    reads here are bounded (pages of at most 100 rows, batches by key).
    """

    #: reads outside a transaction run on the event loop's thread, without waiting
    reads_on_the_loop = True

    async def create_connection(self, with_db: bool) -> None:
        """Tortoise's connection, usable from the event loop's thread too."""
        if not self._connection:
            # the same as SqliteClient's, with check_same_thread=False: each use holds the lock
            self._connection = await aiosqlite.connect(
                self.filename, isolation_level=None, check_same_thread=False
            )
            self._connection._conn.row_factory = sqlite3.Row
            for pragma, value in self.pragmas.items():
                cursor = await self._connection.execute(f"PRAGMA {pragma}={value}")
                await cursor.close()
            await self._post_connect()

    def _idle_for(self, query: str) -> sqlite3.Connection | None:
        """The connection, when ``query`` only reads and nothing else uses the connection."""
        connection = self._connection
        if connection is None or self._lock.locked() or not reads_only(query):
            return None
        return connection._conn

    async def execute_query(
        self, query: str, values: list[Any] | None = None
    ) -> tuple[int, Sequence[Any]]:
        """Tortoise's ``execute_query``; a read of an idle connection runs here and now."""
        idle = self._idle_for(query)
        if idle is None:
            return await super().execute_query(query, values)
        rows = self._read(idle, query, values)
        return len(rows), rows

    async def execute_query_dict(
        self, query: str, values: list[Any] | None = None
    ) -> list[dict[str, Any]]:
        """Tortoise's ``execute_query_dict``; a read of an idle connection runs here and now."""
        idle = self._idle_for(query)
        if idle is None:
            return await super().execute_query_dict(query, values)
        return list(map(dict, self._read(idle, query, values)))

    def _read(
        self, connection: sqlite3.Connection, query: str, values: list[Any] | None
    ) -> list[Any]:
        query = query.replace("\x00", "'||CHAR(0)||'")  # as SqliteClient does
        self.log.debug("%s: %s", query, values)
        try:
            return connection.execute(query, values or ()).fetchall()
        except sqlite3.OperationalError as exc:
            raise OperationalError(exc) from exc
        except sqlite3.IntegrityError as exc:
            raise IntegrityError(exc) from exc

    def _in_transaction(self) -> TransactionContext:
        return SqliteTransactionContext(ImmediateTransactionWrapper(self), self._lock)


#: the name Tortoise looks up in an engine module
client_class = ImmediateSqliteClient
