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

from tortoise.backends.base.client import TransactionContext
from tortoise.backends.sqlite.client import (
    SqliteClient,
    SqliteTransactionContext,
    SqliteTransactionWrapper,
)
from tortoise.exceptions import TransactionManagementError

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


class ImmediateSqliteClient(SqliteClient):
    """``SqliteClient`` whose transactions begin with ``BEGIN IMMEDIATE``."""

    def _in_transaction(self) -> TransactionContext:
        return SqliteTransactionContext(ImmediateTransactionWrapper(self), self._lock)


#: the name Tortoise looks up in an engine module
client_class = ImmediateSqliteClient
