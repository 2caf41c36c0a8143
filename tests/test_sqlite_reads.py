"""SQLite reads outside a transaction run on the event loop's thread: what they see, and what
they wait for, stays what it was through the connection's own thread."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from typing import Any

import pytest
from tortoise import connections
from tortoise.exceptions import OperationalError
from tortoise.transactions import in_transaction

from staffgraph.models import User
from staffgraph.sqlite_client import ImmediateSqliteClient, reads_only
from tests.conftest import ON_POSTGRES, make_user

pytestmark = pytest.mark.skipif(ON_POSTGRES, reason="SQLite's client")


def finished_at_once(coro: Any) -> Any:
    """The coroutine's result when it completes without waiting for anything; else fails."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    raise AssertionError("the read waited for something")


async def test_a_read_of_an_idle_connection_answers_without_waiting(db: Any) -> None:
    user = await make_user("reader@example.com")
    client = connections.get("default")
    assert isinstance(client, ImmediateSqliteClient)
    count, rows = finished_at_once(
        client.execute_query("SELECT display_name FROM users WHERE email = ?", [user.email])
    )
    assert (count, [tuple(row) for row in rows]) == (1, [(user.display_name,)])
    dicts = finished_at_once(client.execute_query_dict("SELECT email FROM users", []))
    assert dicts == [{"email": "reader@example.com"}]


async def test_a_read_waits_for_a_transaction_of_this_process_and_sees_its_outcome(
    db: Any,
) -> None:
    user = await make_user("waited@example.com", display_name="Before")
    written, release = asyncio.Event(), asyncio.Event()

    async def rename() -> None:
        async with in_transaction():
            await User.filter(id=user.id).update(display_name="After")
            written.set()
            await release.wait()

    writer = asyncio.create_task(rename())
    await written.wait()
    reader = asyncio.ensure_future(User.get(id=user.id))
    await asyncio.sleep(0.05)
    assert not reader.done()  # the transaction holds the connection, as before
    release.set()
    assert (await reader).display_name == "After"
    await writer


async def test_another_process_writing_neither_holds_up_a_read_nor_shows_its_changes(
    db: Any, database_url: str
) -> None:
    user = await make_user("steady@example.com", display_name="Committed")
    other = sqlite3.connect(database_url.removeprefix("sqlite://"), isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("UPDATE users SET display_name = 'Uncommitted' WHERE email = ?", [user.email])
        started = time.monotonic()
        names = [(await User.get(id=user.id)).display_name for _ in range(50)]
        # on the loop's thread, a read that waited for the writer would hold every request
        # for the busy timeout (5 s)
        assert time.monotonic() - started < 1.0
        assert names == ["Committed"] * 50
        other.execute("COMMIT")
    finally:
        other.close()
    assert (await User.get(id=user.id)).display_name == "Uncommitted"


async def test_a_bad_read_fails_as_tortoise_fails_it(db: Any) -> None:
    client = connections.get("default")
    with pytest.raises(OperationalError, match="no such column"):
        await client.execute_query("SELECT no_such_column FROM users", [])
    with pytest.raises(OperationalError, match="no such column"):
        await client.execute_query_dict("SELECT no_such_column FROM users", [])


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ("SELECT id FROM users", True),
        ("  select id FROM users WHERE email = ?", True),
        ("WITH RECURSIVE s(id) AS (SELECT id FROM users) SELECT id FROM s", True),
        ("WITH s(id) AS (SELECT id FROM users) DELETE FROM users WHERE id IN s", False),
        ("WITH s AS (SELECT 1) UPDATE users SET job_title = 'x'", False),
        ("WITH s AS (SELECT 1) INSERT INTO departments(name) VALUES ('x')", False),
        ("WITH s AS (SELECT 1) REPLACE INTO departments(name) VALUES ('x')", False),
        ("SELECT 1; DELETE FROM users", False),
        ("INSERT INTO departments(name) VALUES ('x') RETURNING id", False),
        ("UPDATE users SET job_title = 'x' RETURNING id", False),
        ("DELETE FROM users RETURNING id", False),
        ("PRAGMA journal_mode=DELETE", False),
        ("BEGIN IMMEDIATE", False),
    ],
)
def test_only_statements_that_cannot_write_take_the_loops_thread(
    statement: str, expected: bool
) -> None:
    assert reads_only(statement) is expected
