"""Signing in: one answer for every failure, failures counted per (account, address), per
address and per account, long passwords compared in full, hashes upgraded, and no timing
difference for unknown accounts."""

from __future__ import annotations

import asyncio
import hashlib
import statistics
import time
from typing import Any

import pytest

from staffgraph.models import AuditAction, AuditEvent, RefreshToken, Session, User
from staffgraph.resolvers.staff import create_user
from tests.auth_helpers import client_for, first_error, login, login_ok, post, serve, unstarted
from tests.conftest import TEST_PASSWORD, make_user
from tests.conftest import test_settings as settings_for

EMAIL = "ada@example.com"
LONG_ASCII = "the quick brown fox jumps over the lazy dog " * 2  # 88 characters
EMOJI = "🦊🐶🐱🐭🐹🐰🦝🐻🐼🐨🐯🦁🐮🐷🐸🐵🐔🐧🐦🐤🦆🦅🦉🦇🐺🐗🐴🦄🐝🐛"  # 30, 120 bytes

FAILED_LOGIN = {
    "data": None,
    "errors": [
        {
            "message": "Invalid email or password",
            "locations": [{"line": 3, "column": 3}],
            "path": ["login"],
            "extensions": {"code": "UNAUTHENTICATED", "reason": "invalid_credentials"},
        }
    ],
}


def rate_limited(body: dict[str, Any]) -> bool:
    """Whether the response is RATE_LIMITED with a positive ``retryAfter``."""
    error = first_error(body)
    if error["extensions"]["code"] != "RATE_LIMITED":
        return False
    assert isinstance(error["extensions"]["retryAfter"], int)
    assert 0 < error["extensions"]["retryAfter"] <= 60 * 60
    return True


async def test_login_opens_a_session_and_the_user_is_readable(client):
    user = await make_user(EMAIL)
    headers = {"User-Agent": "pytest-browser/1.0"}
    body = await login(client, "  Ada@Example.COM ", headers=headers)
    payload = body["data"]["login"]
    assert payload["tokenType"] == "Bearer"
    assert payload["expiresIn"] == 900
    assert payload["user"]["id"] == str(user.id)
    assert payload["user"]["email"] == EMAIL
    assert payload["user"]["lastLoginAt"] is not None
    assert (await User.get(id=user.id)).last_login_at is not None

    session = await Session.get(user_id=user.id)
    assert session.ip_address == "127.0.0.1"
    assert session.user_agent == "pytest-browser/1.0"
    assert (session.expires_at - session.created_at).total_seconds() == pytest.approx(
        2_592_000, abs=5
    )
    stored = await RefreshToken.get(session_id=session.id)
    assert len(payload["refreshToken"]) >= 43  # 256 bits, base64url
    assert stored.token_hash == hashlib.sha256(payload["refreshToken"].encode()).hexdigest()
    assert payload["refreshToken"] not in stored.token_hash

    event = await AuditEvent.get(action=AuditAction.LOGIN_SUCCEEDED)
    assert (event.actor_id, event.ip_address, event.user_agent) == (
        user.id,
        "127.0.0.1",
        "pytest-browser/1.0",
    )
    me = await post(client, "{ me { email } }", token=payload["accessToken"])
    assert me == {"data": {"me": {"email": EMAIL}}}


async def test_every_failure_gets_the_same_answer(client):
    await make_user(EMAIL)
    await make_user("gone@example.com", is_active=False)
    await make_user("sso@example.com", password=None)
    attempts = [
        (EMAIL, "wrong password here"),
        ("nobody@example.com", TEST_PASSWORD),
        ("gone@example.com", TEST_PASSWORD),  # the right password of a deactivated account
        ("sso@example.com", TEST_PASSWORD),  # an OAuth-only account has no password
        ("", TEST_PASSWORD),
        ("x" * 300 + "@example.com", TEST_PASSWORD),
        (EMAIL, TEST_PASSWORD[:-1]),
        (EMAIL, TEST_PASSWORD + " "),
        (EMAIL, TEST_PASSWORD.upper()),
        (EMAIL, "x" * 5000),
    ]
    for email, password in attempts:
        assert await login(client, email, password) == FAILED_LOGIN, (email, password)
    details = await AuditEvent.filter(action=AuditAction.LOGIN_FAILED).values_list(
        "detail", "ip_address"
    )
    assert len(details) == len(attempts)
    assert {d for d, _ in details} == {
        "wrong password",
        "unknown account",
        "deactivated account",
        "account has no password",
    }
    assert {ip for _, ip in details} == {"127.0.0.1"}
    assert not await Session.exists()


async def test_failures_block_the_pair_not_the_account(app, client):
    await make_user(EMAIL)
    await make_user("bob@example.com")
    for _ in range(10):
        assert await login(client, EMAIL, "wrong password here") == FAILED_LOGIN
    # from this address the right password no longer helps: nothing is checked
    assert rate_limited(await login(client, EMAIL))
    assert await Session.exists() is False
    # the owner, elsewhere, is not locked out; this address may still sign in to others
    async with client_for(app, "10.0.0.9") as elsewhere:
        await login_ok(elsewhere, EMAIL)
    await login_ok(client, "bob@example.com")
    assert rate_limited(await login(client, EMAIL))
    assert await AuditEvent.filter(action=AuditAction.LOGIN_FAILED).count() == 10


async def test_unknown_accounts_lock_exactly_like_real_ones(app):
    await make_user(EMAIL)
    bodies = {}
    for index, email in enumerate([EMAIL, "nobody@example.com"]):
        async with client_for(app, f"10.0.1.{index}") as client:
            for _ in range(10):
                assert await login(client, email, "wrong password here") == FAILED_LOGIN
            body = await login(client, email, "wrong password here")
            assert rate_limited(body)
            error = body["errors"][0]
            error["extensions"]["retryAfter"] = "n"  # seconds may differ by one
            bodies[email] = body
    assert bodies[EMAIL] == bodies["nobody@example.com"]


async def test_an_address_spraying_accounts_is_throttled(db, database_url, redis_url):
    await make_user(EMAIL)
    settings = settings_for(
        database_url=database_url, redis_url=redis_url, login_address_rate_limit="10/hour"
    )
    async with serve(settings, client_ip="10.0.2.1") as sprayer:
        for index in range(10):
            body = await login(sprayer, f"user{index}@example.com", "wrong password here")
            assert body == FAILED_LOGIN
        # the 11th try from this address is refused before any check, even a right one
        assert rate_limited(await login(sprayer, EMAIL))
        app = sprayer._transport.app  # type: ignore[attr-defined]
        async with client_for(app, "10.0.2.2") as neighbour:
            await login_ok(neighbour, EMAIL)


async def test_an_account_attacked_from_many_addresses_is_capped(db, database_url, redis_url):
    await make_user(EMAIL)
    settings = settings_for(
        database_url=database_url, redis_url=redis_url, login_account_rate_limit="12/15 minutes"
    )
    async with serve(settings) as client:
        app = client._transport.app  # type: ignore[attr-defined]
        for index in range(12):
            async with client_for(app, f"10.0.3.{index}") as attacker:
                assert await login(attacker, EMAIL, "wrong password here") == FAILED_LOGIN
        async with client_for(app, "10.0.3.200") as another:
            assert rate_limited(await login(another, EMAIL))
            await make_user("bob@example.com")
            await login_ok(another, "bob@example.com")  # other accounts are not affected


async def test_aliases_do_not_multiply_guesses(client):
    await make_user(EMAIL)
    aliases = " ".join(
        f'a{i}: login(email: "{EMAIL}", password: "wrong password {i}") {{ accessToken }}'
        for i in range(11)
    )
    document = f"mutation {{ {aliases} }}"
    for sent in range(1, 11):
        body = await post(client, document)
        # login is non-null: the first failure ends the document, so one guess per request
        assert [e["path"] for e in body["errors"]] == [["a0"]]
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert await AuditEvent.filter(action=AuditAction.LOGIN_FAILED).count() == sent
    body = await post(client, document)
    assert rate_limited(body)
    assert [e["path"] for e in body["errors"]] == [["a0"]]


async def test_successful_logins_do_not_count(client):
    await make_user(EMAIL)
    aliases = " ".join(
        f'a{i}: login(email: "{EMAIL}", password: "{TEST_PASSWORD}") {{ tokenType }}'
        for i in range(12)
    )
    body = await post(client, f"mutation {{ {aliases} }}")
    assert body["data"] == {f"a{i}": {"tokenType": "Bearer"} for i in range(12)}
    assert await Session.filter(revoked_at__isnull=True).count() == 12
    for _ in range(9):
        assert await login(client, EMAIL, "wrong password here") == FAILED_LOGIN
    await login_ok(client, EMAIL)  # 9 failures: still allowed


async def test_parallel_guesses_cannot_race_past_the_limit(client):
    await make_user(EMAIL)
    bodies = await asyncio.gather(
        *(login(client, EMAIL, f"wrong password {i:02d}") for i in range(20))
    )
    codes = sorted(first_error(b)["extensions"]["code"] for b in bodies)
    assert codes == ["RATE_LIMITED"] * 10 + ["UNAUTHENTICATED"] * 10
    assert await AuditEvent.filter(action=AuditAction.LOGIN_FAILED).count() == 10


@pytest.mark.parametrize("password", [LONG_ASCII, EMOJI], ids=["ascii-88", "emoji-30"])
async def test_long_passwords_count_every_character(client, services, password):
    assert len(password.encode()) > 72
    await create_user(services.passwords, email=EMAIL, display_name="Ada", password=password)
    await login_ok(client, EMAIL, password)
    prefix = password.encode()[:72].decode("utf-8", errors="ignore")
    assert await login(client, EMAIL, prefix) == FAILED_LOGIN
    assert await login(client, EMAIL, password[:-1]) == FAILED_LOGIN
    assert await login(client, EMAIL, password + "!") == FAILED_LOGIN


async def test_a_changed_cost_upgrades_the_hash_on_login(db, database_url, redis_url):
    user = await make_user(EMAIL)  # hashed at cost 4
    assert user.password_hash is not None
    assert user.password_hash.startswith("$2b$04$")
    settings = settings_for(database_url=database_url, redis_url=redis_url, bcrypt_rounds=5)
    async with serve(settings) as client:
        await login_ok(client, EMAIL)
        upgraded = (await User.get(id=user.id)).password_hash
        assert upgraded is not None
        assert upgraded.startswith("$2b$05$")
        await login_ok(client, EMAIL)  # and the new hash verifies
        assert (await User.get(id=user.id)).password_hash == upgraded


async def test_unknown_accounts_take_as_long_as_wrong_passwords(db, database_url, redis_url):
    await make_user(EMAIL)
    settings = settings_for(
        database_url=database_url,
        redis_url=redis_url,
        bcrypt_rounds=10,
        login_rate_limit="1000/minute",
    )
    async with serve(settings) as client:
        # the user's hash must be at the server's cost for the comparison to mean anything
        await login_ok(client, EMAIL)
        timings: dict[str, list[float]] = {"unknown": [], "wrong": []}
        for index in range(8):
            for kind, email in (("unknown", f"nobody{index}@example.com"), ("wrong", EMAIL)):
                started = time.perf_counter()
                assert await login(client, email, "wrong password here") == FAILED_LOGIN
                timings[kind].append(time.perf_counter() - started)
    unknown, wrong = statistics.median(timings["unknown"]), statistics.median(timings["wrong"])
    assert wrong > 0.01, timings  # cost 10 is measurable: tens of milliseconds
    assert 0.5 < unknown / wrong < 2.0, timings


async def test_each_operation_of_a_batch_counts(db, database_url, redis_url):
    await make_user(EMAIL)
    settings = settings_for(
        database_url=database_url, redis_url=redis_url, batching=True, max_operations=11
    )
    query = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { tokenType } }"
    operation = {"query": query}
    batch = [
        {**operation, "variables": {"e": EMAIL, "p": f"wrong password {i:02d}"}} for i in range(11)
    ]
    async with serve(settings) as client:
        response = await client.post("/graphql", json=batch)
        assert response.status_code == 200, response.text
        codes = sorted(first_error(body)["extensions"]["code"] for body in response.json())
        assert codes == ["RATE_LIMITED"] + ["UNAUTHENTICATED"] * 10
        # and the account stays locked for the next request
        assert rate_limited(await login(client, EMAIL))
    assert await AuditEvent.filter(action=AuditAction.LOGIN_FAILED).count() == 10


async def test_sign_in_stays_limited_when_redis_is_down(db, database_url):
    """Counters fall back to process memory: logins work, and failures are still limited."""
    await make_user(EMAIL)
    settings = settings_for(database_url=database_url, redis_url="redis://127.0.0.1:1/0")
    async with unstarted(settings) as client:
        await login_ok(client, EMAIL)
        for _ in range(10):
            assert await login(client, EMAIL, "wrong password here") == FAILED_LOGIN
        assert rate_limited(await login(client, EMAIL))
