"""PostgreSQL's pool in a serving process: a connection goes back without a reset statement of
its own, and still without a transaction left open; requests waiting for a connection get one in
the order they came."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from tortoise import connections
from tortoise.context import TortoiseContext

from staffgraph.db import tortoise_config
from tests.conftest import ON_POSTGRES, TEST_DATABASE_URL

pytestmark = pytest.mark.skipif(not ON_POSTGRES, reason="PostgreSQL's pool")


@asynccontextmanager
async def pool_of_one() -> AsyncIterator[Any]:
    """The pool of a serving process (every wait bounded), with one connection."""
    one_connection = (
        f"{TEST_DATABASE_URL}{'&' if '?' in TEST_DATABASE_URL else '?'}minsize=1&maxsize=1"
    )
    async with TortoiseContext() as context:
        await context.init(config=tortoise_config(one_connection, 5.0))
        client = connections.get("default")
        await client.execute_query("SELECT 1")  # the pool opens with the first statement
        yield client._pool


async def test_a_released_connection_sends_no_reset_and_keeps_no_open_transaction(
    db: Any,
) -> None:
    async with pool_of_one() as pool:
        sent: list[str] = []
        connection = await pool.acquire()
        connection.add_query_logger(lambda record: sent.append(record.query))
        assert await connection.fetchval("SELECT 41 + 1") == 42
        await pool.release(connection)
        await asyncio.sleep(0.05)  # asyncpg calls its query loggers soon after, not at once
        assert sent == ["SELECT 41 + 1"]  # nothing more on release

        connection = await pool.acquire()
        await connection.execute("BEGIN")  # a transaction its user never ended
        await connection.execute(
            "INSERT INTO departments (id, name, created_at) "
            "VALUES (gen_random_uuid(), 'Left open', now())"
        )
        await pool.release(connection)
        connection = await pool.acquire()
        assert not connection.is_in_transaction()
        await asyncio.sleep(0.05)
        left = "SELECT count(*) FROM departments WHERE name = 'Left open'"
        assert await connection.fetchval(left) == 0
        assert "ROLLBACK" in sent
        await pool.release(connection)


async def test_requests_waiting_for_a_connection_get_one_in_the_order_they_came(db: Any) -> None:
    async with pool_of_one() as pool:
        held = await pool.acquire()
        order: list[str] = []

        async def take(name: str) -> None:
            connection = await pool.acquire()
            order.append(name)
            await connection.fetchval("SELECT 1")
            await pool.release(connection)

        async def arrive_when_one_is_free(name: str) -> None:
            # a request arriving just as the connection is back (the pool has no event for it)
            while pool.get_idle_size() == 0:  # noqa: ASYNC110
                await asyncio.sleep(0)
            await take(name)

        waiting = [asyncio.create_task(take(f"waiting-{n}")) for n in range(2)]
        await asyncio.sleep(0.05)  # both wait for the one connection
        newcomers = [asyncio.create_task(arrive_when_one_is_free(f"new-{n}")) for n in range(3)]
        await asyncio.sleep(0.01)
        await pool.release(held)
        await asyncio.gather(*waiting, *newcomers)
        assert order[:2] == ["waiting-0", "waiting-1"], order


async def test_a_free_connection_is_taken_and_returned_without_a_task(db: Any) -> None:
    """asyncpg runs every release in a task of its own; a release that runs no statement does
    not need one (bench/README.md, "The pool's own cost")."""
    async with pool_of_one() as pool:
        loop = asyncio.get_running_loop()
        created: list[object] = []
        default_factory = loop.get_task_factory()

        def counting_factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> Any:
            created.append(coro)
            if default_factory is not None:
                return default_factory(loop, coro, **kwargs)
            return asyncio.Task(coro, loop=loop, **kwargs)

        loop.set_task_factory(counting_factory)
        try:
            for n in range(20):
                connection = await pool.acquire()
                assert await connection.fetchval("SELECT $1::int", n) == n
                await pool.release(connection)
        finally:
            loop.set_task_factory(default_factory)
        assert created == []
        connection = await pool.acquire()  # still the one connection, still usable
        assert await connection.fetchval("SELECT 1") == 1
        await pool.release(connection)


async def test_a_release_interrupted_while_it_rolls_back_still_returns_the_connection(
    db: Any,
) -> None:
    async with pool_of_one() as pool:
        connection = await pool.acquire()
        backend = connection.get_server_pid()
        await connection.execute("BEGIN")
        await connection.execute(
            "INSERT INTO departments (id, name, created_at) "
            "VALUES (gen_random_uuid(), 'Interrupted', now())"
        )

        async def release() -> None:
            await pool.release(connection)

        releasing = asyncio.create_task(release())
        await asyncio.sleep(0)  # the release has sent its ROLLBACK and waits for the answer
        releasing.cancel()
        with pytest.raises(asyncio.CancelledError):
            await releasing
        # the pool's one connection comes back all the same, its transaction rolled back: the
        # same session, not one closed for the interruption and opened anew
        again = await asyncio.wait_for(pool.acquire(), 2)
        assert again.get_server_pid() == backend
        assert not again.is_in_transaction()
        left = "SELECT count(*) FROM departments WHERE name = 'Interrupted'"
        assert await again.fetchval(left) == 0
        await pool.release(again)
