"""Refresh tokens: single use and rotated, a grace interval for racing tabs, theft detection
that revokes the whole session, and an absolute session lifetime."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from staffgraph.models import AuditAction, AuditEvent, RefreshToken, Role, Session, User, UserRole
from tests.auth_helpers import NEEDS_USER, assert_refused, login_ok, post, refresh, unb64url
from tests.conftest import make_user

EMAIL = "ada@example.com"


def payload_of(body: dict[str, Any]) -> dict[str, Any]:
    """The AuthPayload of a refresh that must succeed."""
    assert "errors" not in body, body
    payload: dict[str, Any] = body["data"]["refreshToken"]
    return payload


def sid_of(access_token: str) -> str:
    """The session id claim of an access token."""
    return str(unb64url(access_token.split(".")[1])["sid"])


async def spend_long_ago(refresh_token: str, seconds: int = 11) -> None:
    """Pretend ``refresh_token`` was rotated ``seconds`` ago (past the reuse interval)."""
    digest = hashlib.sha256(refresh_token.encode()).hexdigest()
    updated = await RefreshToken.filter(token_hash=digest).update(
        used_at=datetime.now(UTC) - timedelta(seconds=seconds)
    )
    assert updated == 1


async def test_refresh_rotates_the_token(client):
    user = await make_user(EMAIL)
    first = await login_ok(client, EMAIL)
    second = payload_of(await refresh(client, first["refreshToken"]))
    assert second["refreshToken"] != first["refreshToken"]
    assert second["accessToken"] != first["accessToken"]
    assert second["user"] == {"id": str(user.id), "email": EMAIL}
    assert sid_of(second["accessToken"]) == sid_of(first["accessToken"])
    me = await post(client, "{ me { email } }", token=second["accessToken"])
    assert me == {"data": {"me": {"email": EMAIL}}}

    session = await Session.get(user_id=user.id)
    assert session.last_used_at is not None
    tokens = await RefreshToken.filter(session_id=session.id).order_by("created_at")
    assert [t.used_at is not None for t in tokens] == [True, False]
    event = await AuditEvent.get(action=AuditAction.TOKEN_REFRESHED)
    assert (event.actor_id, event.ip_address) == (user.id, "127.0.0.1")
    # and again with the new token
    payload_of(await refresh(client, second["refreshToken"]))


async def test_a_reused_token_revokes_the_whole_session(client):
    user = await make_user(EMAIL)
    first = await login_ok(client, EMAIL)
    second = payload_of(await refresh(client, first["refreshToken"]))
    third = payload_of(await refresh(client, second["refreshToken"]))
    await spend_long_ago(first["refreshToken"])

    body = await refresh(client, first["refreshToken"])
    assert body["data"] is None
    assert body["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED", "reason": "token_revoked"}

    session = await Session.get(user_id=user.id)
    assert session.revoked_at is not None
    assert session.revoke_reason == "refresh_token_reused"
    event = await AuditEvent.get(action=AuditAction.REFRESH_TOKEN_REUSED)
    assert event.target_id == user.id
    assert event.ip_address == "127.0.0.1"
    assert str(session.id) in (event.detail or "")
    # the newest tokens of the session die with it
    assert_refused(await post(client, NEEDS_USER, token=third["accessToken"]), "token_revoked")
    body = await refresh(client, third["refreshToken"])
    assert body["errors"][0]["extensions"]["reason"] == "token_revoked"
    # other sessions of the user are untouched
    other = await login_ok(client, EMAIL)
    assert (await post(client, "{ me { email } }", token=other["accessToken"]))["data"]["me"]


async def test_racing_refreshes_within_the_interval_both_succeed(client):
    await make_user(EMAIL)
    first = await login_ok(client, EMAIL)
    bodies = await asyncio.gather(*(refresh(client, first["refreshToken"]) for _ in range(2)))
    payloads = [payload_of(b) for b in bodies]
    assert len({p["refreshToken"] for p in payloads}) == 2
    assert {sid_of(p["accessToken"]) for p in payloads} == {sid_of(first["accessToken"])}
    for payload in payloads:
        assert (await post(client, "{ me { email } }", token=payload["accessToken"]))["data"]["me"]
        payload_of(await refresh(client, payload["refreshToken"]))
    assert not await AuditEvent.exists(action=AuditAction.REFRESH_TOKEN_REUSED)
    assert await Session.filter(revoked_at__isnull=False).count() == 0


async def test_only_one_racing_refresh_spends_the_token_first(client):
    await make_user(EMAIL)
    first = await login_ok(client, EMAIL)
    bodies = await asyncio.gather(*(refresh(client, first["refreshToken"]) for _ in range(6)))
    for body in bodies:
        payload_of(body)
    details = await AuditEvent.filter(action=AuditAction.TOKEN_REFRESHED).values_list(
        "detail", flat=True
    )
    first_uses = [d for d in details if d and "within reuse interval" not in d]
    assert len(details) == 6, details
    assert len(first_uses) == 1, details
    digest = hashlib.sha256(first["refreshToken"].encode()).hexdigest()
    assert (await RefreshToken.get(token_hash=digest)).used_at is not None


async def test_a_second_use_within_the_interval_is_honoured(client):
    await make_user(EMAIL)
    first = await login_ok(client, EMAIL)
    payload_of(await refresh(client, first["refreshToken"]))
    again = payload_of(await refresh(client, first["refreshToken"]))
    assert (await post(client, "{ me { email } }", token=again["accessToken"]))["data"]["me"]
    # and once the interval has passed, the same token is theft
    await spend_long_ago(first["refreshToken"])
    body = await refresh(client, first["refreshToken"])
    assert body["errors"][0]["extensions"]["reason"] == "token_revoked"
    assert_refused(await post(client, NEEDS_USER, token=again["accessToken"]), "token_revoked")


async def test_a_session_past_its_absolute_lifetime_cannot_refresh(client):
    user = await make_user(EMAIL)
    first = await login_ok(client, EMAIL)
    await Session.filter(user_id=user.id).update(
        expires_at=datetime.now(UTC) - timedelta(seconds=1)
    )
    body = await refresh(client, first["refreshToken"])
    assert body["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED", "reason": "token_expired"}
    assert not await AuditEvent.exists(action=AuditAction.TOKEN_REFRESHED)


async def test_rotation_keeps_the_absolute_lifetime(client):
    user = await make_user(EMAIL)
    first = await login_ok(client, EMAIL)
    expires_at = (await Session.get(user_id=user.id)).expires_at
    payload_of(await refresh(client, first["refreshToken"]))
    assert (await Session.get(user_id=user.id)).expires_at == expires_at


async def test_unknown_tokens_are_refused(client):
    await make_user(EMAIL)
    payload = await login_ok(client, EMAIL)
    for token in ["", "x", payload["refreshToken"] + "x", "a" * 10_000, payload["accessToken"]]:
        body = await refresh(client, token)
        assert body["data"] is None
        assert body["errors"][0]["extensions"] == {
            "code": "UNAUTHENTICATED",
            "reason": "invalid_token",
        }
    payload_of(await refresh(client, payload["refreshToken"]))  # the real one still works


async def test_refresh_is_refused_after_logout_and_for_deactivated_users(client):
    user = await make_user(EMAIL)
    one = await login_ok(client, EMAIL)
    assert (await post(client, "mutation { logout }", token=one["accessToken"]))["data"] == {
        "logout": True
    }
    assert (await refresh(client, one["refreshToken"]))["errors"][0]["extensions"][
        "reason"
    ] == "token_revoked"

    two = await login_ok(client, EMAIL)
    await User.filter(id=user.id).update(is_active=False)
    assert (await refresh(client, two["refreshToken"]))["errors"][0]["extensions"][
        "reason"
    ] == "token_revoked"


async def test_refresh_carries_the_current_roles(client):
    user = await make_user(EMAIL)
    first = await login_ok(client, EMAIL)
    assert unb64url(first["accessToken"].split(".")[1])["roles"] == ["EMPLOYEE"]
    await UserRole.create(user=user, role=Role.HR)
    second = payload_of(await refresh(client, first["refreshToken"]))
    assert unb64url(second["accessToken"].split(".")[1])["roles"] == ["EMPLOYEE", "HR"]


async def test_a_bad_bearer_token_does_not_block_refresh(client):
    await make_user(EMAIL)
    first = await login_ok(client, EMAIL)
    response = await client.post(
        "/graphql",
        json={
            "query": "mutation($t: String!) { refreshToken(refreshToken: $t) { tokenType } }",
            "variables": {"t": first["refreshToken"]},
        },
        headers={"Authorization": "Bearer not.a.token"},
    )
    assert response.json() == {"data": {"refreshToken": {"tokenType": "Bearer"}}}
