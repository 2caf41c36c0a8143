"""Failed sign-in limits against real server processes (API.md §9): exact however many
instances and workers share Redis, and blocking the guesser, never the account's owner.

Client addresses are simulated with ``X-Forwarded-For`` from a trusted proxy (127.0.0.1). The
counters live in ``STAFFGRAPH_TEST_REDIS_URL`` when it is set (emptied first), else in a
private ``redis-server``.
"""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import redis

from tests.conftest import ON_POSTGRES, TEST_REDIS_URL
from tests.live_server import LiveServer, live_server, staffgraph_command
from tests.private_services import private_redis

LOGIN = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }"
PASSWORD = "vermilion-otter-quasar-7291"
OWNER = "owner@example.com"

pytestmark = pytest.mark.slow


@contextmanager
def shared_redis(directory: Path) -> Iterator[str]:
    """The Redis URL the servers of one test share, empty."""
    if TEST_REDIS_URL is not None:
        client = redis.Redis.from_url(TEST_REDIS_URL)
        client.flushdb()
        client.close()
        yield TEST_REDIS_URL
        return
    with private_redis(directory / "redis") as server:
        yield server.url()


def directory(path: Path) -> Path:
    """``path``, created."""
    path.mkdir(parents=True, exist_ok=True)
    return path


def limits_env(redis_url: str, pair_limit: int = 10, **limits: str) -> dict[str, str]:
    """Server settings: the shared Redis, a trusted proxy on loopback, the given limits."""
    return {
        "STAFFGRAPH_REDIS_URL": redis_url,
        "STAFFGRAPH_TRUSTED_PROXIES": "127.0.0.1",
        "STAFFGRAPH_LOGIN_RATE_LIMIT": f"{pair_limit}/15 minutes",
        **{f"STAFFGRAPH_{name.upper()}": value for name, value in limits.items()},
    }


def create_owner(server: LiveServer, directory: Path) -> None:
    subprocess.run(
        [
            staffgraph_command(),
            "create-user",
            "--email",
            OWNER,
            "--name",
            "Owner",
            "--password",
            PASSWORD,
        ],
        cwd=directory,
        env=server.env,
        check=True,
        capture_output=True,
        timeout=60,
    )


async def sign_in(
    client: httpx.AsyncClient, server: LiveServer, email: str, password: str, address: str
) -> str:
    """``OK`` for a session, else the error code of a login from ``address``."""
    response = await client.post(
        f"{server.base_url}/graphql",
        json={"query": LOGIN, "variables": {"e": email, "p": password}},
        headers={"X-Forwarded-For": address},
    )
    return _outcome(response)


def sign_in_now(
    client: httpx.Client, server: LiveServer, email: str, password: str, address: str
) -> str:
    """``OK`` for a session, else the error code of a login from ``address``."""
    response = client.post(
        f"{server.base_url}/graphql",
        json={"query": LOGIN, "variables": {"e": email, "p": password}},
        headers={"X-Forwarded-For": address},
    )
    return _outcome(response)


def _outcome(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    body = response.json()
    if body.get("errors"):
        code: str = body["errors"][0]["extensions"]["code"]
        return code
    return "OK"


async def parallel_wrong_guesses(
    servers: list[LiveServer], email: str, guesses: int, address: str
) -> Counter[str]:
    """Fire ``guesses`` wrong passwords at once, spread over ``servers``; the answers' codes."""
    limits = httpx.Limits(max_connections=guesses, max_keepalive_connections=guesses)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        codes = await asyncio.gather(
            *(
                sign_in(client, servers[i % len(servers)], email, f"wrong guess {i:03d}", address)
                for i in range(guesses)
            )
        )
    return Counter(codes)


def test_parallel_guesses_across_two_instances_are_exact(tmp_path: Path) -> None:
    limit = 10
    with (
        shared_redis(tmp_path) as redis_url,
        live_server(
            directory(tmp_path / "a"),
            **limits_env(redis_url, login_rate_limit=f"{limit}/15 minutes"),
        ) as first,
        live_server(
            directory(tmp_path / "b"),
            **limits_env(redis_url, login_rate_limit=f"{limit}/15 minutes"),
        ) as second,
    ):
        for round_ in range(3):
            email = f"target-{uuid.uuid4().hex[:8]}@example.com"
            codes = asyncio.run(
                parallel_wrong_guesses([first, second], email, 24, f"198.51.100.{round_ + 1}")
            )
            # every guess checked answered UNAUTHENTICATED: exactly the limit, in every round
            assert codes == {"UNAUTHENTICATED": limit, "RATE_LIMITED": 24 - limit}, round_


@pytest.mark.skipif(
    not ON_POSTGRES, reason="several workers share a database on PostgreSQL (SQLite: one writer)"
)
def test_parallel_guesses_across_two_workers_are_exact(tmp_path: Path) -> None:
    limit = 10
    env = limits_env("", limit)
    with shared_redis(tmp_path) as redis_url:
        env["STAFFGRAPH_REDIS_URL"] = redis_url
        with live_server(directory(tmp_path / "w"), "--workers", "2", **env) as server:
            for round_ in range(3):
                email = f"target-{uuid.uuid4().hex[:8]}@example.com"
                codes = asyncio.run(
                    parallel_wrong_guesses([server], email, 30, f"198.51.100.{round_ + 10}")
                )
                assert codes == {"UNAUTHENTICATED": limit, "RATE_LIMITED": 30 - limit}, round_


def test_one_attacker_never_locks_the_owner_out(tmp_path: Path) -> None:
    """The pair (account, address) is blocked on every instance; the owner elsewhere is not;
    an address spraying accounts and an account attacked from many addresses are capped."""
    env_limits = {
        "login_address_rate_limit": "5/hour",
        "login_account_rate_limit": "8/15 minutes",
    }
    with (
        shared_redis(tmp_path) as redis_url,
        live_server(directory(tmp_path / "a"), **limits_env(redis_url, 3, **env_limits)) as first,
        live_server(directory(tmp_path / "b"), **limits_env(redis_url, 3, **env_limits)) as second,
    ):
        create_owner(first, tmp_path / "a")
        create_owner(second, tmp_path / "b")
        with httpx.Client(timeout=60) as client:
            attacker = "203.0.113.66"
            for server in (first, second, first):
                assert sign_in_now(client, server, OWNER, "wrong guess", attacker) == (
                    "UNAUTHENTICATED"
                )
            # the pair is blocked on both instances, even with the right password
            for server in (first, second):
                assert sign_in_now(client, server, OWNER, PASSWORD, attacker) == "RATE_LIMITED"
            # the owner, from their own address, signs in on either instance
            for server in (first, second):
                assert sign_in_now(client, server, OWNER, PASSWORD, "192.0.2.10") == "OK"

            # an address trying many accounts: 5 failures in all, then refused for any account
            sprayer = "203.0.113.77"
            for index in range(5):
                email = f"someone{index}@example.com"
                assert sign_in_now(client, first, email, "wrong guess", sprayer) == (
                    "UNAUTHENTICATED"
                )
            assert sign_in_now(client, second, OWNER, PASSWORD, sprayer) == "RATE_LIMITED"
            assert sign_in_now(client, second, OWNER, PASSWORD, "192.0.2.11") == "OK"

            # an account attacked from many addresses: capped at 8 failures from anywhere
            # (3 so far from the attacker); then even the owner waits for the window
            for index in range(5):
                address = f"198.18.0.{index + 1}"
                assert sign_in_now(client, second, OWNER, "wrong guess", address) == (
                    "UNAUTHENTICATED"
                )
            assert sign_in_now(client, first, OWNER, PASSWORD, "192.0.2.12") == "RATE_LIMITED"
            assert sign_in_now(client, first, "someone9@example.com", "x" * 12, "192.0.2.12") == (
                "UNAUTHENTICATED"
            )
