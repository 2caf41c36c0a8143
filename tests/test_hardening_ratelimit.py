"""Request rate limits: per user when signed in, per client IP otherwise; 429 with Retry-After
and a RATE_LIMITED body; X-Forwarded-For believed only from trusted proxies; one budget across
instances sharing Redis.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from staffgraph.app import create_app
from staffgraph.settings import Settings
from tests.conftest import TEST_REDIS_URL
from tests.conftest import test_settings as settings_for_tests
from tests.live_server import LiveServer, live_server, mint_token

QUERY = {"query": "{ __typename }"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A production server allowing 3 requests a minute, behind a proxy on 127.0.0.1."""
    with live_server(
        tmp_path_factory.mktemp("ratelimit"),
        STAFFGRAPH_RATE_LIMIT="3/minute",
        STAFFGRAPH_TRUSTED_PROXIES="127.0.0.1",
    ) as s:
        yield s


def post(server: LiveServer, client_ip: str, token: str | None = None) -> httpx.Response:
    headers = {"X-Forwarded-For": client_ip}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.post(f"{server.base_url}/graphql", json=QUERY, headers=headers, timeout=10)


def assert_limited(response: httpx.Response) -> int:
    """The response is the 429 of a spent budget; returns its Retry-After."""
    assert response.status_code == 429, response.text
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= 60
    body = response.json()
    assert body["data"] is None
    error = body["errors"][0]
    assert error["extensions"] == {"code": "RATE_LIMITED", "retryAfter": retry_after}
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-request-id"]
    return retry_after


@pytest.mark.slow
def test_anonymous_clients_limited_per_ip(server: LiveServer) -> None:
    for _ in range(3):
        assert post(server, "203.0.113.1").status_code == 200
    assert_limited(post(server, "203.0.113.1"))
    assert post(server, "203.0.113.2").status_code == 200  # another client, its own budget
    health = httpx.get(f"{server.base_url}/healthz", headers={"X-Forwarded-For": "203.0.113.1"})
    assert health.status_code == 200  # probes are never limited


@pytest.mark.slow
def test_signed_in_users_limited_per_user(server: LiveServer) -> None:
    ada, bob = mint_token(), mint_token()
    for _ in range(3):
        assert post(server, "203.0.113.3", ada).status_code == 200
    assert_limited(post(server, "203.0.113.3", ada))
    assert_limited(post(server, "198.51.100.7", ada))  # the user's budget follows them
    assert post(server, "203.0.113.3", bob).status_code == 200  # same address, other user
    assert post(server, "203.0.113.3").status_code == 200  # the address's budget is untouched


@pytest.mark.slow
def test_invalid_token_counts_against_the_address(server: LiveServer) -> None:
    for _ in range(3):
        assert post(server, "203.0.113.4", "not-a-token").status_code == 200
    assert_limited(post(server, "203.0.113.4"))


@pytest.mark.slow
def test_rate_limited_requests_are_logged(server: LiveServer) -> None:
    for _ in range(4):
        response = post(server, "203.0.113.5")
    assert_limited(response)
    line = server.wait_for_line('"staffgraph.access"', response.headers["x-request-id"])
    assert '"status": 429' in line


# --- in process ---------------------------------------------------------------------------


@asynccontextmanager
async def started(settings: Settings, peer: str = "127.0.0.1") -> AsyncIterator[Any]:
    app = create_app(settings, manage_orm=False)
    await app.state.services.start()
    try:
        transport = httpx.ASGITransport(app=app, client=(peer, 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            client.app = app  # type: ignore[attr-defined]
            yield client
    finally:
        await app.state.services.stop()


async def test_forwarded_for_ignored_without_trusted_proxies(database_url: str, db: Any) -> None:
    settings = settings_for_tests(database_url=database_url, rate_limit="2/minute")
    async with started(settings) as client:
        for address in ("203.0.113.10", "203.0.113.11"):
            response = await client.post(
                "/graphql", json=QUERY, headers={"X-Forwarded-For": address}
            )
            assert response.status_code == 200
        spoofed = await client.post(
            "/graphql", json=QUERY, headers={"X-Forwarded-For": "192.0.2.1"}
        )
        assert_limited(spoofed)


async def test_token_verified_once_per_request(
    database_url: str, db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for_tests(database_url=database_url)
    async with started(settings) as client:
        tokens = client.app.state.services.tokens  # type: ignore[attr-defined]
        calls = []
        verify = tokens.verify

        def counting(token: str) -> Any:
            calls.append(token)
            return verify(token)

        monkeypatch.setattr(tokens, "verify", counting)
        token = mint_token()
        response = await client.post(
            "/graphql",
            json={"query": "{ me { id } }"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 200
        assert calls == [token]


async def two_instances_spend(settings: Settings) -> list[int]:
    """Alternate requests of one user between two app instances; their statuses."""
    token = mint_token(uuid.uuid4())
    statuses = []
    async with started(settings) as first, started(settings) as second:
        for client in (first, second, first, second):
            response = await client.post(
                "/graphql", json=QUERY, headers={"Authorization": f"Bearer {token}"}
            )
            statuses.append(response.status_code)
    return statuses


@pytest.mark.skipif(TEST_REDIS_URL is None, reason="needs STAFFGRAPH_TEST_REDIS_URL")
async def test_instances_sharing_redis_share_one_budget(
    database_url: str, db: Any, redis_url: str
) -> None:
    settings = settings_for_tests(
        database_url=database_url, redis_url=redis_url, rate_limit="3/minute"
    )
    assert await two_instances_spend(settings) == [200, 200, 200, 429]


async def test_instances_without_redis_count_apart(database_url: str, db: Any) -> None:
    settings = settings_for_tests(database_url=database_url, redis_url=None, rate_limit="3/minute")
    assert await two_instances_spend(settings) == [200, 200, 200, 200]


async def test_in_process_windows_move_and_forget_clients_that_left() -> None:
    from limits import parse
    from limits.aio.strategies import MovingWindowRateLimiter

    from staffgraph.ratelimits.storage import LocalWindows

    storage = LocalWindows(sweep_seconds=0.0)  # every count sweeps
    limiter = MovingWindowRateLimiter(storage)
    item = parse("3/second")
    assert [await limiter.hit(item, "client-a") for _ in range(4)] == [True, True, True, False]
    assert await limiter.hit(item, "client-b")  # another client's window
    assert not await limiter.hit(item, "client-a", cost=2)
    reset_at, remaining = await limiter.get_window_stats(item, "client-a")
    assert remaining == 0
    assert time.time() < reset_at <= time.time() + 1
    await asyncio.sleep(1.05)
    assert [await limiter.hit(item, "client-a") for _ in range(4)] == [True, True, True, False]
    assert not await limiter.hit(item, "client-a", cost=4)  # more than the limit at all
    assert len(storage.events) == 1  # client-b's window emptied, and it was dropped


async def test_counting_a_request_starts_no_task_and_no_thread() -> None:
    from limits import parse
    from limits.aio.strategies import MovingWindowRateLimiter

    from staffgraph.ratelimits.storage import counter_store

    limiter = MovingWindowRateLimiter(counter_store(None).local)
    item = parse("1000/minute")
    await limiter.hit(item, "warm-up")
    threads, tasks = threading.active_count(), len(asyncio.all_tasks())
    for n in range(200):
        assert await limiter.hit(item, f"client-{n % 7}")
        assert len(asyncio.all_tasks()) == tasks
    await asyncio.sleep(0.05)
    assert threading.active_count() == threads
