"""Redis outages, with real server processes sharing a private Redis the test kills and restarts.

The database is the source of truth for revocations: a revocation made while Redis is down
reaches the other instances soon after Redis answers again, even when the instance that made
it has stopped meanwhile. An instance starts, serves, signs in and limits without Redis, and
its readiness does not depend on Redis.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis import Redis as SyncRedis

from tests.live_server import (
    LiveServer,
    fresh_database,
    live_server,
    server_env,
    staffgraph_command,
)
from tests.private_services import PrivateRedis, private_redis

pytestmark = pytest.mark.slow

EMAIL = "ada@example.com"
PASSWORD = "correct horse battery staple"
LOGIN = """mutation($email: String!, $password: String!) {
  login(email: $email, password: $password) { accessToken }
}"""
#: ``users`` needs a signed-in user: a refused token gets its reason there
ME = "{ me { id email } users(first: 1) { totalCount } }"
#: after Redis answers again, the other instances refuse a revoked token within this
CATCH_UP_SECONDS = 2.0


def graphql(server: LiveServer, query: str, token: str | None = None, **variables: Any) -> Any:
    """POST an operation to a live server; the decoded body."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.post(
        f"{server.base_url}/graphql",
        json={"query": query, "variables": variables},
        headers=headers,
        timeout=15,
    )
    assert response.status_code == 200, response.text
    return response.json()


def create_user(database_url: str, directory: Path) -> None:
    """The test user, created with the CLI (which migrates the database first)."""
    subprocess.run(
        [
            staffgraph_command(),
            "create-user",
            "--email",
            EMAIL,
            "--name",
            "Ada",
            "--password",
            PASSWORD,
        ],
        cwd=directory,
        env=server_env(database_url),
        check=True,
        capture_output=True,
        timeout=60,
    )


def sign_in(server: LiveServer) -> str:
    """A fresh access token from ``server``."""
    body = graphql(server, LOGIN, email=EMAIL, password=PASSWORD)
    assert "errors" not in body, body
    token: str = body["data"]["login"]["accessToken"]
    return token


def accepted(server: LiveServer, token: str) -> bool:
    """Whether ``server`` accepts ``token`` (else it must refuse it as revoked)."""
    body = graphql(server, ME, token)
    if (body.get("data") or {}).get("me") is not None:
        return True
    assert body["errors"][0]["extensions"]["reason"] == "token_revoked", body
    return False


def seconds_until_refused(server: LiveServer, token: str, limit: float) -> float:
    """How long until ``server`` refuses ``token``, polling; fails past ``limit``."""
    started = time.monotonic()
    while accepted(server, token):
        elapsed = time.monotonic() - started
        assert elapsed < limit, f"{server.base_url} still accepts the token after {elapsed:.1f}s"
        time.sleep(0.05)
    return time.monotonic() - started


def stop(server: LiveServer) -> None:
    """SIGTERM, and wait for the process to exit."""
    server.process.terminate()
    server.process.wait(timeout=30)


def instance(directory: Path, database_url: str, redis: PrivateRedis) -> Any:
    """A live server on the shared database and the private Redis."""
    return live_server(directory, database_url=database_url, STAFFGRAPH_REDIS_URL=redis.url(3))


def test_a_revocation_survives_redis_and_its_instance_going_down(tmp_path: Path) -> None:
    """Logout on A while Redis is down, A stops, Redis comes back empty: B and a new C refuse."""
    with private_redis(tmp_path) as redis, fresh_database(tmp_path) as database_url:
        create_user(database_url, tmp_path)
        with (
            instance(tmp_path, database_url, redis) as a,
            instance(tmp_path, database_url, redis) as b,
        ):
            token = sign_in(a)
            assert accepted(a, token)
            assert accepted(b, token)
            redis.kill()
            assert graphql(a, "mutation { logout }", token) == {"data": {"logout": True}}
            assert not accepted(a, token)
            stop(a)
            redis.start()  # empty: it never heard of the revocation
            lag = seconds_until_refused(b, token, limit=10.0)
            print(f"B refused the token {lag:.2f}s after Redis came back")
            with instance(tmp_path, database_url, redis) as c:
                assert not accepted(c, token)
            assert not accepted(b, token)


def test_a_revocation_made_during_an_outage_reaches_others_within_2s(tmp_path: Path) -> None:
    """Redis killed for several seconds, logout on A meanwhile; B refuses within 2 s of its
    return (the listener's back-off and a dead pooled connection used to make it ~25 s)."""
    with private_redis(tmp_path) as redis, fresh_database(tmp_path) as database_url:
        create_user(database_url, tmp_path)
        with (
            instance(tmp_path, database_url, redis) as a,
            instance(tmp_path, database_url, redis) as b,
        ):
            lags = []
            for _ in range(2):
                token = sign_in(a)
                assert accepted(b, token)
                redis.kill()
                assert graphql(a, "mutation { logout }", token) == {"data": {"logout": True}}
                time.sleep(8)  # long enough for a growing back-off to reach several seconds
                assert accepted(b, token)  # B cannot know yet (its resync is periodic)
                redis.start()
                lags.append(seconds_until_refused(b, token, limit=30.0))
            print(f"revocation lag after Redis came back: {[round(lag, 2) for lag in lags]}s")
            assert max(lags) < CATCH_UP_SECONDS


def test_an_instance_starts_serves_and_limits_while_redis_is_down(tmp_path: Path) -> None:
    """REDIS_URL names a Redis that is not running: the server starts, answers, signs in,
    limits failed sign-ins, is ready with Redis degraded, and uses Redis once it is up."""
    redis = PrivateRedis(tmp_path)  # not started
    with fresh_database(tmp_path) as database_url:
        create_user(database_url, tmp_path)
        with live_server(
            tmp_path,
            database_url=database_url,
            STAFFGRAPH_REDIS_URL=redis.url(3),
            STAFFGRAPH_LOGIN_RATE_LIMIT="3/minute",
        ) as server:
            ready = httpx.get(f"{server.base_url}/readyz", timeout=10)
            assert ready.status_code == 200, ready.text
            assert ready.json()["checks"] == {"database": "ok", "redis": "degraded"}
            token = sign_in(server)
            assert graphql(server, ME, token)["data"]["me"]["email"] == EMAIL
            codes = []
            for _ in range(5):
                body = graphql(server, LOGIN, email=EMAIL, password="wrong password here")
                codes.append(body["errors"][0]["extensions"]["code"])
            assert codes[:3] == ["UNAUTHENTICATED"] * 3
            assert codes[-1] == "RATE_LIMITED"
            try:
                redis.start()
                deadline = time.monotonic() + 10
                while True:
                    ready = httpx.get(f"{server.base_url}/readyz", timeout=10)
                    if ready.json()["checks"].get("redis") == "ok":
                        break
                    assert time.monotonic() < deadline, ready.text
                    time.sleep(0.1)
                assert ready.status_code == 200
                # Redis is in use: a logout lands in the shared set
                assert graphql(server, "mutation { logout }", token)["data"] == {"logout": True}
                client = SyncRedis.from_url(redis.url(3))
                try:
                    deadline = time.monotonic() + 5
                    while not client.zcard("staffgraph:revoked-sessions"):
                        assert time.monotonic() < deadline, "the revocation never reached Redis"
                        time.sleep(0.05)
                finally:
                    client.close()
            finally:
                redis.kill()
