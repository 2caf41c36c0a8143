"""Ending sessions (logout, logoutAll, revokeSession, changePassword, end_sessions) refuses
their access tokens on the very next request; User.sessions lists the open ones."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from staffgraph.models import AuditAction, AuditEvent, Role, Session, User
from staffgraph.resolvers.sessions import end_sessions
from tests.auth_helpers import NEEDS_USER, assert_refused, first_error, login, login_ok, post
from tests.conftest import TEST_PASSWORD, make_user

EMAIL = "ada@example.com"
OK_QUERY = "{ me { email } }"
CHANGE = """
mutation Change($current: String!, $new: String!) {
  changePassword(currentPassword: $current, newPassword: $new)
}
"""
REVOKE = "mutation Revoke($id: ID!) { revokeSession(id: $id) }"
SESSIONS = "query S($id: ID!) { user(id: $id) { sessions { id current userAgent ipAddress } } }"


async def works(client: Any, token: str) -> bool:
    """Whether ``token`` is accepted for a field that needs a user."""
    body = await post(client, NEEDS_USER, token=token)
    if "errors" not in body:
        return True
    assert_refused(body, "token_revoked")
    return False


async def sessions_of(email: str) -> list[Session]:
    """The open sessions of the user with ``email``."""
    user = await User.get(email=email)
    return await Session.filter(user_id=user.id, revoked_at__isnull=True)


async def test_logout_ends_only_the_current_session(client):
    await make_user(EMAIL)
    one, two = await login_ok(client, EMAIL), await login_ok(client, EMAIL)
    body = await post(client, "mutation { logout }", token=one["accessToken"])
    assert body == {"data": {"logout": True}}
    assert not await works(client, one["accessToken"])
    assert await works(client, two["accessToken"])
    # `me` is null with the reason, so a client knows to refresh or sign in again
    me = await post(client, OK_QUERY, token=one["accessToken"])
    assert me["data"] == {"me": None}
    assert [(e["path"], e["extensions"]) for e in me["errors"]] == [
        (["me"], {"code": "UNAUTHENTICATED", "reason": "token_revoked"})
    ]
    event = await AuditEvent.get(action=AuditAction.LOGOUT)
    assert event.ip_address == "127.0.0.1"
    # a second logout with the same token is refused like any revoked token
    assert_refused(
        await post(client, "mutation { logout }", token=one["accessToken"]), "token_revoked"
    )


async def test_logout_needs_a_valid_token(client):
    body = await post(client, "mutation { logout }")
    assert first_error(body)["extensions"] == {"code": "UNAUTHENTICATED", "reason": "no_token"}
    assert_refused(await post(client, "mutation { logout }", token="x.y.z"), "invalid_token")


async def test_logout_all_ends_every_session_and_counts_them(client):
    await make_user(EMAIL)
    await make_user("bob@example.com")
    mine = [await login_ok(client, EMAIL) for _ in range(3)]
    bobs = await login_ok(client, "bob@example.com")
    body = await post(client, "mutation { logoutAll }", token=mine[0]["accessToken"])
    assert body == {"data": {"logoutAll": 3}}
    for payload in mine:
        assert not await works(client, payload["accessToken"])
    assert await works(client, bobs["accessToken"])
    assert await sessions_of(EMAIL) == []


async def test_revoke_session_by_its_owner(client):
    await make_user(EMAIL)
    current, other = await login_ok(client, EMAIL), await login_ok(client, EMAIL)
    other_sid = _sid(other["accessToken"])
    body = await post(client, REVOKE, {"id": other_sid}, token=current["accessToken"])
    assert body == {"data": {"revokeSession": True}}
    assert not await works(client, other["accessToken"])
    assert await works(client, current["accessToken"])
    # already ended: nothing left to end
    body = await post(client, REVOKE, {"id": other_sid}, token=current["accessToken"])
    assert body == {"data": {"revokeSession": False}}


async def test_revoke_session_by_an_admin(client):
    await make_user(EMAIL)
    await make_user("root@example.com", (Role.EMPLOYEE, Role.ADMIN))
    victim = await login_ok(client, EMAIL)
    admin = await login_ok(client, "root@example.com")
    body = await post(
        client, REVOKE, {"id": _sid(victim["accessToken"])}, token=admin["accessToken"]
    )
    assert body == {"data": {"revokeSession": True}}
    assert not await works(client, victim["accessToken"])
    body = await post(client, REVOKE, {"id": str(uuid.uuid4())}, token=admin["accessToken"])
    assert first_error(body)["extensions"]["code"] == "NOT_FOUND"


async def test_a_stranger_cannot_revoke_or_probe_sessions(client):
    await make_user(EMAIL)
    await make_user("eve@example.com", (Role.EMPLOYEE, Role.MANAGER, Role.HR))
    victim = await login_ok(client, EMAIL)
    eve = await login_ok(client, "eve@example.com")
    someone_elses = await post(
        client, REVOKE, {"id": _sid(victim["accessToken"])}, token=eve["accessToken"]
    )
    absent = await post(client, REVOKE, {"id": str(uuid.uuid4())}, token=eve["accessToken"])
    assert first_error(someone_elses)["extensions"]["code"] == "FORBIDDEN"
    # the same answer whether the session exists or not
    assert someone_elses == absent
    # nothing changed
    assert await works(client, victim["accessToken"])
    assert len(await sessions_of(EMAIL)) == 1
    denials = await AuditEvent.filter(action=AuditAction.ACCESS_DENIED).count()
    assert denials == 2


async def test_revoke_session_rejects_a_malformed_id(client):
    await make_user(EMAIL)
    payload = await login_ok(client, EMAIL)
    body = await post(client, REVOKE, {"id": "not-a-uuid"}, token=payload["accessToken"])
    assert first_error(body)["extensions"]["code"] == "BAD_USER_INPUT"


async def test_user_sessions_lists_open_sessions_to_self_and_admin(client):
    user = await make_user(EMAIL)
    await make_user("root@example.com", (Role.EMPLOYEE, Role.ADMIN))
    await make_user("bob@example.com")
    current = await login_ok(client, EMAIL)
    ended = await login_ok(client, EMAIL)
    expired = await login_ok(client, EMAIL)
    await post(client, "mutation { logout }", token=ended["accessToken"])
    await Session.filter(id=_sid(expired["accessToken"])).update(
        expires_at=datetime.now(UTC) - timedelta(minutes=1)
    )
    body = await post(client, SESSIONS, {"id": str(user.id)}, token=current["accessToken"])
    assert body["data"]["user"]["sessions"] == [
        {
            "id": _sid(current["accessToken"]),
            "current": True,
            "userAgent": f"python-httpx/{httpx.__version__}",
            "ipAddress": "127.0.0.1",
        }
    ]
    admin = await login_ok(client, "root@example.com")
    body = await post(client, SESSIONS, {"id": str(user.id)}, token=admin["accessToken"])
    assert [s["current"] for s in body["data"]["user"]["sessions"]] == [False]
    bob = await login_ok(client, "bob@example.com")
    body = await post(client, SESSIONS, {"id": str(user.id)}, token=bob["accessToken"])
    assert body["data"]["user"]["sessions"] is None
    assert first_error(body)["extensions"]["code"] == "FORBIDDEN"


async def test_change_password_ends_the_other_sessions(client):
    user = await make_user(EMAIL)
    current, other = await login_ok(client, EMAIL), await login_ok(client, EMAIL)
    new = "a new and entirely different passphrase"
    body = await post(
        client, CHANGE, {"current": TEST_PASSWORD, "new": new}, token=current["accessToken"]
    )
    assert body == {"data": {"changePassword": True}}
    assert await works(client, current["accessToken"])
    assert not await works(client, other["accessToken"])
    assert (await login(client, EMAIL))["errors"][0]["message"] == "Invalid email or password"
    await login_ok(client, EMAIL, new)
    event = await AuditEvent.get(action=AuditAction.PASSWORD_CHANGED)
    assert (event.actor_id, event.target_id) == (user.id, user.id)


@pytest.mark.parametrize(
    "new",
    [
        "the quick brown fox jumps over the lazy dog, then the quick brown fox rests okay",
        "🦊🐶🐱🐭🐹🐰🦝🐻🐼🐨🐯🦁🐮🐷🐸🐵🐔🐧🐦🐤🦆🦅🦉🦇🐺🐗🐴🦄🐝🐛",
    ],
    ids=["ascii-80", "emoji-30"],
)
async def test_long_passwords_set_by_change_password(client, new):
    assert len(new) in (80, 30)
    assert len(new.encode()) > 72
    await make_user(EMAIL)
    current = await login_ok(client, EMAIL)
    body = await post(
        client, CHANGE, {"current": TEST_PASSWORD, "new": new}, token=current["accessToken"]
    )
    assert body == {"data": {"changePassword": True}}
    await login_ok(client, EMAIL, new)
    prefix = new.encode()[:72].decode("utf-8", errors="ignore")
    assert first_error(await login(client, EMAIL, prefix))["extensions"]["code"] == (
        "UNAUTHENTICATED"
    )


@pytest.mark.parametrize(
    ("new", "message"),
    [
        ("short pass", "at least 12"),
        ("x" * 129, "at most 128"),
        ("Q1W2E3R4T5Y6", "too common"),
        ("  qwerty123456 ", "too common"),
        ("ADA@example.com", "email"),
    ],
)
async def test_change_password_refuses_weak_passwords(client, new, message):
    user = await make_user(EMAIL)
    before = user.password_hash
    payload = await login_ok(client, EMAIL)
    body = await post(
        client, CHANGE, {"current": TEST_PASSWORD, "new": new}, token=payload["accessToken"]
    )
    error = first_error(body)
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "newPassword"}
    assert message in error["message"]
    assert (await User.get(id=user.id)).password_hash == before


async def test_a_wrong_current_password_is_counted_like_a_failed_login(client):
    user = await make_user(EMAIL)
    before = user.password_hash
    payload = await login_ok(client, EMAIL)
    variables = {"current": "not my password at all", "new": "a new and different passphrase"}
    for _ in range(10):
        body = await post(client, CHANGE, variables, token=payload["accessToken"])
        assert first_error(body)["extensions"] == {
            "code": "BAD_USER_INPUT",
            "field": "currentPassword",
        }
    body = await post(client, CHANGE, variables, token=payload["accessToken"])
    assert first_error(body)["extensions"]["code"] == "RATE_LIMITED"
    assert first_error(await login(client, EMAIL))["extensions"]["code"] == "RATE_LIMITED"
    assert (await User.get(id=user.id)).password_hash == before
    assert await AuditEvent.filter(action=AuditAction.LOGIN_FAILED).count() == 10


async def test_change_password_needs_a_user(client):
    body = await post(client, CHANGE, {"current": TEST_PASSWORD, "new": "whatever passphrase"})
    assert first_error(body)["extensions"]["code"] == "UNAUTHENTICATED"


async def test_end_sessions_refuses_tokens_on_the_next_request(client, app):
    """What setRoles and deactivateUser call."""
    user = await make_user(EMAIL)
    one, two = await login_ok(client, EMAIL), await login_ok(client, EMAIL)
    ended = await end_sessions(app.state.services, user.id, "roles_changed", keep=None)
    assert ended == 2
    assert not await works(client, one["accessToken"])
    assert not await works(client, two["accessToken"])
    assert await end_sessions(app.state.services, user.id, "roles_changed") == 0
    assert {s.revoke_reason for s in await Session.filter(user_id=user.id)} == {"roles_changed"}


def _sid(access_token: str) -> str:
    from tests.auth_helpers import unb64url

    return str(unb64url(access_token.split(".")[1])["sid"])
