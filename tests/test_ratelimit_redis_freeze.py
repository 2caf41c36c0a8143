"""A frozen Redis (SIGSTOPped: it accepts connections and never answers) under two running
servers: requests stay fast and limited per instance, and the shared budget is back once Redis
answers again. The Redis is the test's own (:mod:`tests.private_services`)."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import httpx
import pytest

from staffgraph.ratelimits.breaker import FALLBACK_SECONDS
from tests.live_server import LiveServer, live_server
from tests.private_services import private_redis

QUERY = {"query": "{ __typename }"}
LIMIT = 5

pytestmark = pytest.mark.slow


CLIENT = httpx.Client(timeout=30)  # kept-alive connections: time the server, not the handshake


def timed_post(server: LiveServer, address: str) -> tuple[int, float]:
    """Status and seconds of one request from ``address``."""
    started = time.perf_counter()
    response = CLIENT.post(
        f"{server.base_url}/graphql", json=QUERY, headers={"X-Forwarded-For": address}
    )
    return response.status_code, time.perf_counter() - started


def login_code(server: LiveServer, address: str) -> str:
    """The error code of a wrong guess at an unknown account from ``address``."""
    response = CLIENT.post(
        f"{server.base_url}/graphql",
        json={
            "query": 'mutation { login(email: "x@example.com", password: "wrong guess") '
            "{ accessToken } }"
        },
        headers={"X-Forwarded-For": address},
    )
    code: str = response.json()["errors"][0]["extensions"]["code"]
    return code


def statuses(server: LiveServer, address: str, count: int) -> list[int]:
    return [timed_post(server, address)[0] for _ in range(count)]


def test_a_frozen_redis_neither_slows_nor_unlimits_requests(tmp_path: Path) -> None:
    with private_redis(tmp_path / "redis") as redis:
        env = {
            "STAFFGRAPH_REDIS_URL": redis.url(),
            "STAFFGRAPH_RATE_LIMIT": f"{LIMIT}/minute",
            "STAFFGRAPH_LOGIN_RATE_LIMIT": "2/15 minutes",
            "STAFFGRAPH_TRUSTED_PROXIES": "127.0.0.1",
        }
        (tmp_path / "a").mkdir()
        (tmp_path / "b").mkdir()
        with (
            live_server(tmp_path / "a", **env) as first,
            live_server(tmp_path / "b", **env) as second,
        ):
            # shared while Redis answers: 5 across both instances, then 429 on either
            assert statuses(first, "203.0.113.1", 3) + statuses(second, "203.0.113.1", 3) == (
                [200] * LIMIT + [429]
            )

            redis.freeze()
            try:
                timings = [timed_post(first, f"198.51.100.{n}") for n in range(8)]
                after_first = [seconds for _, seconds in timings[1:]]
                assert [status for status, _ in timings] == [200] * 8
                assert max(after_first) < 1.0, timings
                assert statistics.median(after_first) < 0.5, timings
                # still limited, by each instance on its own
                for server in (first, second):
                    assert statuses(server, "203.0.113.2", LIMIT + 1) == [200] * LIMIT + [429]
                # and so are sign-ins, through the same breaker: no wait on Redis either
                started = time.perf_counter()
                codes = [login_code(first, "203.0.113.4") for _ in range(3)]
                assert codes == ["UNAUTHENTICATED"] * 2 + ["RATE_LIMITED"]
                assert time.perf_counter() - started < 3.0
            finally:
                redis.thaw()

            # the breaker tries Redis again after its fallback window: one budget again
            time.sleep(FALLBACK_SECONDS + 1)
            assert statuses(first, "203.0.113.3", 3) + statuses(second, "203.0.113.3", 3) == (
                [200] * LIMIT + [429]
            )
