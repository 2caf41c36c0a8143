"""Database outages, with a real server on a private PostgreSQL cluster that the test freezes
(SIGSTOP), thaws, crashes and restarts.

A request whose database does not answer gets HTTP 503, ``Retry-After`` and one
``SERVICE_UNAVAILABLE`` error within ``DATABASE_TIMEOUT`` (plus a margin), never a 200 with
``me: null``; ``/readyz`` says 503 meanwhile; everything answers again once the database does;
SIGTERM ends the server within its grace period even while requests wait on a frozen database.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from staffgraph.cli import GRACEFUL_SHUTDOWN_SECONDS
from tests.conftest import ON_POSTGRES, TEST_DATABASE_URL
from tests.live_server import LiveServer, live_server, mint_token
from tests.private_services import PrivatePostgres, private_postgres

pytestmark = pytest.mark.slow

#: the server's STAFFGRAPH_DATABASE_TIMEOUT, short to keep the test quick
TIMEOUT_SECONDS = 2.0
#: what a request may take beyond it on a busy two-core machine
MARGIN_SECONDS = 1.5
QUERY = "{ users(first: 1) { totalCount } }"
LOGIN = 'mutation { login(email: "ada@example.com", password: "x") { accessToken } }'
#: reads in a transaction
REFRESH = 'mutation { refreshToken(refreshToken: "no-such-refresh-token") { accessToken } }'


@pytest.fixture(scope="module")
def postgres() -> Iterator[PrivatePostgres]:
    """One private cluster for the module; each test leaves it running and thawed."""
    with private_postgres() as cluster:
        yield cluster


@pytest.fixture
def server(postgres: PrivatePostgres, tmp_path: Path) -> Iterator[LiveServer]:
    """A server on the private cluster, with a short database timeout."""
    with live_server(
        tmp_path, database_url=postgres.url(), STAFFGRAPH_DATABASE_TIMEOUT=str(TIMEOUT_SECONDS)
    ) as live:
        yield live
    postgres.thaw()


@pytest.fixture
def patient_server(postgres: PrivatePostgres, tmp_path: Path) -> Iterator[LiveServer]:
    """A server whose database timeout is longer than any grace period."""
    with live_server(
        tmp_path, database_url=postgres.url(), STAFFGRAPH_DATABASE_TIMEOUT="120"
    ) as live:
        yield live
    postgres.thaw()


def post(server: LiveServer, query: str = QUERY, timeout: float = 30.0) -> httpx.Response:
    """POST an operation that needs the database, as a signed-in client."""
    return httpx.post(
        f"{server.base_url}/graphql",
        json={"query": query},
        headers={"Authorization": f"Bearer {mint_token()}"},
        timeout=timeout,
    )


def assert_unavailable(response: httpx.Response) -> None:
    """HTTP 503, Retry-After, and exactly one SERVICE_UNAVAILABLE error."""
    assert response.status_code == 503, response.text
    assert int(response.headers["retry-after"]) >= 1
    body: dict[str, Any] = response.json()
    assert [e["extensions"]["code"] for e in body["errors"]] == ["SERVICE_UNAVAILABLE"], body
    assert body.get("data") is None


def wait_until_answering(server: LiveServer, limit: float = 30.0) -> float:
    """Seconds until a query gets a 200 again."""
    started = time.monotonic()
    while True:
        response = post(server)
        if response.status_code == 200:
            assert "errors" not in response.json(), response.text
            return time.monotonic() - started
        assert_unavailable(response)
        assert time.monotonic() - started < limit, "the server did not recover"
        time.sleep(0.2)


def test_a_frozen_database_gets_503_within_the_timeout_and_recovers(
    server: LiveServer, postgres: PrivatePostgres
) -> None:
    assert post(server).status_code == 200
    postgres.freeze()
    try:
        for query in (QUERY, "{ me { id } }", LOGIN, REFRESH, QUERY):
            started = time.monotonic()
            response = post(server, query)
            elapsed = time.monotonic() - started
            print(f"frozen database: {response.status_code} after {elapsed:.2f}s")
            assert_unavailable(response)
            assert elapsed < TIMEOUT_SECONDS + MARGIN_SECONDS
        started = time.monotonic()
        ready = httpx.get(f"{server.base_url}/readyz", timeout=30)
        assert ready.status_code == 503
        assert ready.json()["checks"]["database"] == "unavailable"
        assert time.monotonic() - started < TIMEOUT_SECONDS + MARGIN_SECONDS
    finally:
        postgres.thaw()
    print(f"answering again {wait_until_answering(server):.2f}s after the thaw")
    assert httpx.get(f"{server.base_url}/readyz", timeout=30).status_code == 200


def test_a_crashed_database_gets_503_and_recovers_after_restart(
    server: LiveServer, postgres: PrivatePostgres
) -> None:
    assert post(server).status_code == 200
    postgres.kill()
    try:
        for query in (QUERY, LOGIN, QUERY):
            started = time.monotonic()
            assert_unavailable(post(server, query))
            assert time.monotonic() - started < TIMEOUT_SECONDS + MARGIN_SECONDS
        assert httpx.get(f"{server.base_url}/readyz", timeout=30).status_code == 503
    finally:
        postgres.start()
    print(f"answering again {wait_until_answering(server):.2f}s after the restart")


def test_sigterm_ends_the_server_while_the_database_is_frozen(
    patient_server: LiveServer, postgres: PrivatePostgres
) -> None:
    """The requests in progress wait on the database longer than the grace period allows."""
    server = patient_server
    assert post(server).status_code == 200
    postgres.freeze()
    try:
        waiting = [threading.Thread(target=_post_quietly, args=(server,)) for _ in range(3)]
        for thread in waiting:
            thread.start()
        time.sleep(0.5)  # the requests are waiting on the database now
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=30)
        except Exception:
            server.process.kill()
            raise
        elapsed = time.monotonic() - started
        print(f"SIGTERM with a frozen database: exited after {elapsed:.2f}s")
        assert elapsed < GRACEFUL_SHUTDOWN_SECONDS + 5
        for thread in waiting:
            thread.join(timeout=30)
    finally:
        postgres.thaw()


def _post_quietly(server: LiveServer) -> None:
    with contextlib.suppress(httpx.HTTPError):
        post(server, timeout=40)


def test_what_counts_as_the_database_being_unavailable() -> None:
    import sqlite3

    import asyncpg
    from graphql import GraphQLError
    from redis.exceptions import ConnectionError as RedisConnectionError
    from tortoise.exceptions import DBConnectionError, OperationalError

    from staffgraph.db_faults import is_database_unavailable

    def caused(outer: BaseException, cause: BaseException) -> BaseException:
        outer.__cause__ = cause
        return outer

    unavailable = [
        TimeoutError(),
        ConnectionRefusedError(111, "Connection refused"),
        DBConnectionError("cannot connect"),
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"),
        asyncpg.exceptions.QueryCanceledError("canceling statement due to statement timeout"),
        asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
        caused(OperationalError("locked"), sqlite3.OperationalError("database is locked")),
        GraphQLError("wrapped", original_error=TimeoutError()),
    ]
    available = [
        ValueError("a bug"),
        OperationalError(sqlite3.OperationalError("no such column: x")),
        asyncpg.exceptions.UniqueViolationError("duplicate key"),
        caused(RedisConnectionError("redis is down"), ConnectionRefusedError()),
        GraphQLError("plain"),
    ]
    assert [e for e in unavailable if not is_database_unavailable(e)] == []
    assert [e for e in available if is_database_unavailable(e)] == []


@pytest.mark.skipif(not ON_POSTGRES, reason="STAFFGRAPH_TEST_DATABASE_URL is not PostgreSQL")
async def test_the_timeout_bounds_statements_on_both_sides() -> None:
    """PostgreSQL's statement_timeout is set, and a statement slower than the timeout fails
    as unavailable instead of running on."""
    import asyncpg
    from tortoise import connections
    from tortoise.context import TortoiseContext

    from staffgraph.db import tortoise_config
    from staffgraph.db_faults import is_database_unavailable

    async with TortoiseContext() as ctx:
        await ctx.init(config=tortoise_config(TEST_DATABASE_URL, timeout=1.0))
        connection = connections.get("default")
        _, rows = await connection.execute_query("SHOW statement_timeout")
        assert rows[0]["statement_timeout"] == "1s"
        started = time.monotonic()
        with pytest.raises((asyncpg.exceptions.QueryCanceledError, TimeoutError)) as caught:
            await connection.execute_query("SELECT pg_sleep(10)")
        assert is_database_unavailable(caught.value)
        assert time.monotonic() - started < 3


def test_sqlite_gets_a_busy_timeout() -> None:
    from staffgraph.db import tortoise_config

    config = tortoise_config("sqlite:///tmp/x.db", timeout=2.5)
    assert config["connections"]["default"]["credentials"]["busy_timeout"] == 2500
    postgres = tortoise_config("postgres://u@h:5432/d", timeout=2.5)["connections"]["default"]
    assert postgres["engine"] == "staffgraph.db_engine"
    credentials = postgres["credentials"]
    assert credentials["command_timeout"] == credentials["acquire_timeout"] == 2.5
    assert credentials["server_settings"]["statement_timeout"] == "2500"


def test_a_locked_sqlite_database_gets_503_after_the_timeout(tmp_path: Path) -> None:
    """Another process holds SQLite's write lock: a write waits DATABASE_TIMEOUT (the busy
    timeout), then answers 503 instead of a masked INTERNAL_SERVER_ERROR."""
    import sqlite3

    database = tmp_path / "locked.db"
    with live_server(
        tmp_path, database_url=f"sqlite://{database}", STAFFGRAPH_DATABASE_TIMEOUT="1"
    ) as server:
        assert post(server).status_code == 200
        holder = sqlite3.connect(database, isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")  # the write lock, until ROLLBACK
            started = time.monotonic()
            response = post(server, LOGIN)  # a failed sign-in writes its audit event
            elapsed = time.monotonic() - started
            assert_unavailable(response)
            assert elapsed < 1 + MARGIN_SECONDS
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert post(server, LOGIN).status_code == 200
