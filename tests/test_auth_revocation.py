"""Revocation reaches every instance: at once on the revoking one, through Redis on the others,
and from the database after a restart."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import pytest
from redis.asyncio import Redis

from staffgraph.auth.revocation import SET_KEY, RevocationStore
from tests.auth_helpers import NEEDS_USER, login_ok, post, serve, services_of, unstarted
from tests.conftest import TEST_REDIS_URL, make_user
from tests.conftest import test_settings as settings_for

EMAIL = "ada@example.com"
needs_redis = pytest.mark.skipif(TEST_REDIS_URL is None, reason="STAFFGRAPH_TEST_REDIS_URL unset")


async def refused(client: Any, token: str) -> bool:
    """Whether ``token`` is refused as revoked."""
    body = await post(client, NEEDS_USER, token=token)
    if "errors" not in body:
        return False
    assert body["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED", "reason": "token_revoked"}
    return True


async def seconds_until_refused(client: Any, token: str, limit: float = 5.0) -> float:
    """How long after now ``client`` starts refusing ``token`` (polling every millisecond)."""
    started = time.perf_counter()
    while not await refused(client, token):
        elapsed = time.perf_counter() - started
        assert elapsed < limit, f"still accepted after {elapsed:.2f}s"
        await asyncio.sleep(0.001)
    return time.perf_counter() - started


@needs_redis
async def test_a_second_instance_refuses_at_once(db, database_url, redis_url):
    await make_user(EMAIL)
    settings = settings_for(database_url=database_url, redis_url=redis_url)
    delays = []
    async with serve(settings) as first, serve(settings) as second:
        for _ in range(5):
            payload = await login_ok(first, EMAIL)
            token = payload["accessToken"]
            assert not await refused(second, token)
            assert await post(first, "mutation { logout }", token=token) == {
                "data": {"logout": True}
            }
            assert await refused(first, token)  # the revoking instance: no delay at all
            delays.append(await seconds_until_refused(second, token))
    print(f"cross-instance revocation delays (s): {[round(d, 4) for d in delays]}")
    assert max(delays) < 1.0


@needs_redis
async def test_an_instance_catches_up_after_losing_its_subscription(db, database_url, redis_url):
    await make_user(EMAIL)
    settings = settings_for(database_url=database_url, redis_url=redis_url)
    async with serve(settings) as first, serve(settings) as second:
        token = (await login_ok(first, EMAIL))["accessToken"]
        store = services_of(second).revocations
        # drop the second instance's subscription: the revocation message is lost for it
        assert store._pubsub is not None
        assert store._pubsub.connection is not None
        await store._pubsub.connection.disconnect()
        await post(first, "mutation { logout }", token=token)
        delay = await seconds_until_refused(second, token)
        print(f"caught up after a lost subscription in {delay:.3f}s")
        assert delay < 3.0


@needs_redis
async def test_a_new_instance_loads_revocations_from_redis(db, database_url, redis_url):
    settings = settings_for(database_url=database_url, redis_url=redis_url)
    async with serve(settings) as first:
        sid = uuid.uuid4()
        await services_of(first).revocations.revoke([sid])
    client = Redis.from_url(redis_url)
    assert await client.zscore(SET_KEY, str(sid)) is not None
    ttl = await client.ttl(SET_KEY)
    await client.aclose()
    assert 0 < ttl <= 900 + 60
    store = RevocationStore(900, Redis.from_url(redis_url, decode_responses=True))
    await store.start()
    await store.load()
    try:
        assert store.is_revoked(sid)
        assert not store.is_revoked(uuid.uuid4())
    finally:
        await store.stop()


async def test_a_restart_does_not_revive_revoked_tokens(db, database_url, redis_url):
    await make_user(EMAIL)
    settings = settings_for(database_url=database_url, redis_url=None)
    async with serve(settings) as before:
        payload = await login_ok(before, EMAIL)
        await post(before, "mutation { logout }", token=payload["accessToken"])
    async with serve(settings) as after:
        assert await refused(after, payload["accessToken"])


async def test_the_revoking_instance_is_never_stale(db, database_url):
    await make_user(EMAIL)
    settings = settings_for(database_url=database_url, redis_url=None)
    async with serve(settings) as client:
        for _ in range(3):
            token = (await login_ok(client, EMAIL))["accessToken"]
            await post(client, "mutation { logoutAll }", token=token)
            assert await refused(client, token)


async def test_readiness_reports_redis(db, database_url, redis_url):
    settings = settings_for(database_url=database_url, redis_url=redis_url)
    async with serve(settings) as client:
        body = (await client.get("/readyz")).json()
    expected = {"database": "ok", "redis": "ok"} if redis_url else {"database": "ok"}
    assert body["checks"] == expected
    broken = settings_for(database_url=database_url, redis_url="redis://127.0.0.1:1/0")
    async with unstarted(broken) as client:
        response = await client.get("/readyz")
    # Redis is reported, but only the database decides readiness (API.md §6)
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "redis": "degraded"}


@needs_redis
async def test_a_revocation_redis_missed_is_shared_when_it_answers(redis_url):
    """Redis is unreachable when an instance revokes: it refuses at once itself, and the
    others learn of it as soon as Redis answers again."""
    assert redis_url is not None
    database = redis_url.rsplit("/", 1)[-1] if redis_url.count("/") > 2 else "0"
    unreachable = f"redis://127.0.0.1:1/{database}"  # same database number, so same channel
    down = RevocationStore(900, Redis.from_url(unreachable, decode_responses=True))
    other = RevocationStore(900, Redis.from_url(redis_url, decode_responses=True))
    await other.start()
    sid = uuid.uuid4()
    try:
        await down.revoke([sid])  # logged, not raised: the database already holds the truth
        assert down.is_revoked(sid)
        assert not other.is_revoked(sid)
        # Redis is back for that instance (its listener resyncs as soon as it resubscribes)
        down._redis = Redis.from_url(redis_url, decode_responses=True)
        await down._sync_shared()
        started = time.perf_counter()
        while not other.is_revoked(sid):
            assert time.perf_counter() - started < 2.0
            await asyncio.sleep(0.001)
        assert not down._redis_behind
    finally:
        await other.stop()
        if down._redis is not None:
            await down._redis.aclose()


@needs_redis
async def test_malformed_messages_are_ignored(redis_url):
    assert redis_url is not None
    store = RevocationStore(900, Redis.from_url(redis_url, decode_responses=True))
    await store.start()
    publisher = Redis.from_url(redis_url)
    try:
        for junk in ["", "not json", "[]", '{"revoked": 1}', '{"revoked": {"x": 1}}']:
            await publisher.publish(store.channel, junk)
        sid = uuid.uuid4()
        await publisher.publish(
            store.channel, json.dumps({"revoked": {str(sid): time.time() + 60}})
        )
        started = time.perf_counter()
        while not store.is_revoked(sid):
            assert time.perf_counter() - started < 2.0
            await asyncio.sleep(0.001)
        assert store._tasks
        assert not any(task.done() for task in store._tasks)
    finally:
        await publisher.aclose()
        await store.stop()


async def test_a_store_stops_even_when_a_resync_is_woken_as_it_stops(db):
    """A reconnect waking the resync loop in the very moment the instance stops: stop()
    returns at once and its tasks are over (asyncio.wait_for swallowed that cancellation, and
    the instance never stopped)."""
    store = RevocationStore(900, None)
    for _ in range(3):
        await store.start()
        tasks = list(store._tasks)
        await asyncio.sleep(0)  # the resync loop is waiting to be woken
        store._wake.set()
        started = time.monotonic()
        async with asyncio.timeout(3):  # a bound for the test itself, should stop() hang
            await store.stop()
        assert time.monotonic() - started < 1.0
        assert all(task.done() for task in tasks)


async def test_a_store_stops_though_a_resync_swallows_its_cancellation(db, monkeypatch):
    """A library on the resync's way catches the CancelledError and returns (seen with a
    resync cancelled while it talked to Redis): the store stops all the same."""
    store = RevocationStore(900, None)
    entered = asyncio.Event()

    async def swallowing_resync() -> None:
        entered.set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            return

    monkeypatch.setattr(store, "resync", swallowing_resync)
    await store.start()
    tasks = list(store._tasks)
    store._wake.set()
    await entered.wait()
    started = time.monotonic()
    async with asyncio.timeout(5):
        await store.stop()
    assert time.monotonic() - started < 1.0
    assert all(task.done() for task in tasks)
