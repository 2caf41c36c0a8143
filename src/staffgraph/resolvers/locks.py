"""Serialising writes that a unique index or a row lock cannot protect on their own."""

from __future__ import annotations

from tortoise import connections


async def hold_lock(name: str) -> None:
    """Inside a transaction, wait for and hold the lock called ``name`` until it ends.

    PostgreSQL: a transaction-scoped advisory lock. SQLite runs one write transaction at a
    time already (Tortoise holds a lock on its single connection), so there is nothing to do.
    """
    conn = connections.get("default")
    if conn.capabilities.dialect == "postgres":
        await conn.execute_query("SELECT pg_advisory_xact_lock(hashtext($1))", [name])
