"""PostgreSQL's pool in a serving process: a connection goes back without a reset statement of
its own, and still without a transaction left open."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from tortoise import connections
from tortoise.context import TortoiseContext

from staffgraph.db import tortoise_config
from tests.conftest import ON_POSTGRES, TEST_DATABASE_URL

pytestmark = pytest.mark.skipif(not ON_POSTGRES, reason="PostgreSQL's pool")


async def test_a_released_connection_sends_no_reset_and_keeps_no_open_transaction(
    db: Any,
) -> None:
    one_connection = (
        f"{TEST_DATABASE_URL}{'&' if '?' in TEST_DATABASE_URL else '?'}minsize=1&maxsize=1"
    )
    context = TortoiseContext()
    async with context:
        # as a serving process configures it: every wait bounded
        await context.init(config=tortoise_config(one_connection, 5.0))
        client = connections.get("default")
        await client.execute_query("SELECT 1")  # the pool opens with the first statement
        pool = client._pool
        sent: list[str] = []
        async with pool.acquire() as connection:
            connection.add_query_logger(lambda record: sent.append(record.query))
            assert await connection.fetchval("SELECT 41 + 1") == 42
        await asyncio.sleep(0.05)  # asyncpg calls its query loggers soon after, not at once
        assert sent == ["SELECT 41 + 1"]  # nothing more on release

        async with pool.acquire() as connection:
            await connection.execute("BEGIN")  # a transaction its user never ended
            await connection.execute(
                "INSERT INTO departments (id, name, created_at) "
                "VALUES (gen_random_uuid(), 'Left open', now())"
            )
        async with pool.acquire() as connection:
            assert not connection.is_in_transaction()
            await asyncio.sleep(0.05)
            assert (
                await connection.fetchval(
                    "SELECT count(*) FROM departments WHERE name = 'Left open'"
                )
                == 0
            )
            assert "ROLLBACK" in sent
