"""setRoles and deactivateUser: who may, what they change, sessions ended at once, and the
last active ADMIN kept (race-safe)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from staffgraph.models import AuditAction, Department, Role, Session, User, UserRole
from tests.conftest import gql, make_user, token_for
from tests.permissions_org import Org, audit_events, build_org, only_error

SET_ROLES = (
    "mutation($id: ID!, $roles: [Role!]!) { setRoles(userId: $id, roles: $roles) { roles } }"
)
DEACTIVATE = "mutation($id: ID!) { deactivateUser(userId: $id) { isActive } }"
NEEDS_A_USER = "{ departments { name } }"


@pytest.fixture
async def org(app: Any) -> Org:
    return await build_org(app)


async def roles_of(user: User) -> list[str]:
    rows = await UserRole.filter(user_id=user.id).order_by("role")
    return [Role(r.role).value for r in rows]


async def refused(client: Any, token: str | None) -> str | None:
    """The reason the token is refused on its next request, or None if it works."""
    body = await gql(client, NEEDS_A_USER, token=token)
    if "errors" not in body:
        return None
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    return str(body["errors"][0]["extensions"].get("reason"))


# --- setRoles ----------------------------------------------------------------------------


async def test_admin_replaces_roles_and_the_old_tokens_stop_at_once(client, org):
    token = org.token("target")
    assert await refused(client, token) is None
    body = await gql(
        client,
        SET_ROLES,
        {"id": org.id("target"), "roles": ["MANAGER", "EMPLOYEE"]},
        org.token("admin"),
    )
    assert body["data"]["setRoles"] == {"roles": ["EMPLOYEE", "MANAGER"]}
    assert await roles_of(org.users["target"]) == ["EMPLOYEE", "MANAGER"]
    assert await refused(client, token) == "token_revoked"
    session = await Session.get(id=org.sessions["target"])
    assert session.revoked_at is not None
    [event] = await audit_events(AuditAction.ROLES_CHANGED)
    assert (event.actor_id, event.target_id) == (org.users["admin"].id, org.users["target"].id)
    assert event.detail == "EMPLOYEE -> EMPLOYEE, MANAGER"
    assert await refused(client, org.token("colleague")) is None  # others keep theirs


async def test_unchanged_roles_change_nothing(client, org):
    body = await gql(
        client, SET_ROLES, {"id": org.id("target"), "roles": ["EMPLOYEE"]}, org.token("admin")
    )
    assert body["data"]["setRoles"] == {"roles": ["EMPLOYEE"]}
    assert await audit_events(AuditAction.ROLES_CHANGED) == []
    assert await refused(client, org.token("target")) is None


@pytest.mark.parametrize("viewer", ["hr", "manager", "target"])
async def test_only_admin_sets_roles(client, org, viewer):
    body = await gql(
        client, SET_ROLES, {"id": org.id("target"), "roles": ["ADMIN"]}, org.token(viewer)
    )
    assert only_error(body)["extensions"] == {"code": "FORBIDDEN", "rule": "ADMIN"}
    assert await roles_of(org.users["target"]) == ["EMPLOYEE"]
    assert await refused(client, org.token("target")) is None
    assert len(await audit_events(AuditAction.ACCESS_DENIED)) == 1


async def test_an_empty_role_list_is_refused(client, org):
    body = await gql(client, SET_ROLES, {"id": org.id("target"), "roles": []}, org.token("admin"))
    assert only_error(body)["extensions"] == {"code": "BAD_USER_INPUT", "field": "roles"}
    assert await roles_of(org.users["target"]) == ["EMPLOYEE"]


async def test_set_roles_of_a_missing_user(client, org):
    body = await gql(
        client,
        SET_ROLES,
        {"id": "00000000-0000-4000-8000-000000000000", "roles": ["HR"]},
        org.token("admin"),
    )
    assert only_error(body)["extensions"] == {"code": "NOT_FOUND", "field": "userId"}


async def test_the_last_admin_keeps_the_role(client, org):
    body = await gql(
        client, SET_ROLES, {"id": org.id("admin"), "roles": ["EMPLOYEE"]}, org.token("admin")
    )
    assert only_error(body)["extensions"] == {"code": "FORBIDDEN", "reason": "last_admin"}
    assert await roles_of(org.users["admin"]) == ["ADMIN", "EMPLOYEE"]
    assert await refused(client, org.token("admin")) is None
    [event] = await audit_events(AuditAction.ACCESS_DENIED)
    assert event.detail == "setRoles requires another active ADMIN"


async def test_an_inactive_admin_does_not_count(client, org):
    await make_user("old-admin@example.com", (Role.ADMIN,), password=None, is_active=False)
    body = await gql(
        client, SET_ROLES, {"id": org.id("admin"), "roles": ["HR"]}, org.token("admin")
    )
    assert only_error(body)["extensions"]["reason"] == "last_admin"


async def test_an_admin_may_step_down_when_another_remains(client, org):
    await make_user("second-admin@example.com", (Role.ADMIN,), password=None)
    body = await gql(
        client, SET_ROLES, {"id": org.id("admin"), "roles": ["HR"]}, org.token("admin")
    )
    assert body["data"]["setRoles"] == {"roles": ["HR"]}
    # the current request ran; the next one with the old token is refused
    assert await refused(client, org.token("admin")) == "token_revoked"


RACE_ROUNDS = range(4)  # each round is a fresh race: a missing lock loses most of them


@pytest.mark.parametrize("round_", RACE_ROUNDS)
async def test_two_admins_demoting_each_other_leave_one_admin(app, client, org, round_):
    other = await make_user("second-admin@example.com", (Role.ADMIN,), password=None)
    other_token = await token_for(app, other)
    results = await asyncio.gather(
        gql(client, SET_ROLES, {"id": str(other.id), "roles": ["EMPLOYEE"]}, org.token("admin")),
        gql(client, SET_ROLES, {"id": org.id("admin"), "roles": ["EMPLOYEE"]}, other_token),
    )
    outcomes = sorted("errors" in body for body in results)
    assert outcomes == [False, True]
    failed = next(body for body in results if "errors" in body)
    assert failed["errors"][0]["extensions"]["reason"] == "last_admin"
    assert await UserRole.filter(role=Role.ADMIN).count() == 1


@pytest.mark.parametrize("round_", RACE_ROUNDS)
async def test_deactivating_an_admin_while_they_demote_the_other(app, client, org, round_):
    other = await make_user("second-admin@example.com", (Role.ADMIN,), password=None)
    results = await asyncio.gather(
        gql(client, DEACTIVATE, {"id": org.id("admin")}, org.token("hr")),
        gql(client, SET_ROLES, {"id": str(other.id), "roles": ["EMPLOYEE"]}, org.token("admin")),
    )
    assert sorted("errors" in body for body in results) == [False, True]
    active_admins = await UserRole.filter(role=Role.ADMIN, user__is_active=True).count()
    assert active_admins == 1


# --- deactivateUser ----------------------------------------------------------------------


@pytest.mark.parametrize("viewer", ["hr", "admin"])
async def test_deactivation_ends_sessions_and_moves_reports(client, org, viewer):
    await Department.filter(id=org.department.id).update(head_id=org.users["manager"].id)
    token = org.token("manager")
    body = await gql(client, DEACTIVATE, {"id": org.id("manager")}, org.token(viewer))
    assert body["data"]["deactivateUser"] == {"isActive": False}
    manager = await User.get(id=org.users["manager"].id)
    assert manager.is_active is False
    assert await refused(client, token) == "token_revoked"
    assert await Session.filter(user_id=manager.id, revoked_at__isnull=True).count() == 0
    # the reports now report to the deactivated manager's own manager
    for name in ("target", "colleague"):
        assert (await User.get(id=org.users[name].id)).manager_id == org.users["director"].id
    assert (await Department.get(id=org.department.id)).head_id is None
    [event] = await audit_events(AuditAction.USER_DEACTIVATED)
    assert (event.actor_id, event.target_id) == (org.users[viewer].id, manager.id)
    assert event.detail == (
        f"2 direct reports moved to {org.users['director'].id}; head of 1 departments no more"
    )


async def test_a_deactivated_user_disappears_for_colleagues(client, org):
    await gql(client, DEACTIVATE, {"id": org.id("target")}, org.token("hr"))
    lookup = "query($id: ID!) { user(id: $id) { email isActive } }"
    body = await gql(client, lookup, {"id": org.id("target")}, org.token("colleague"))
    assert body == {"data": {"user": None}}
    page = await gql(client, "{ users(first: 50) { totalCount } }", token=org.token("colleague"))
    assert page["data"]["users"]["totalCount"] == len(org.users) - 1
    body = await gql(client, lookup, {"id": org.id("target")}, org.token("hr"))
    assert body["data"]["user"] == {"email": "target@example.com", "isActive": False}
    reports = "query($id: ID!) { user(id: $id) { reports { email } } }"
    body = await gql(client, reports, {"id": org.id("manager")}, org.token("colleague"))
    assert body["data"]["user"]["reports"] == [{"email": "colleague@example.com"}]


@pytest.mark.parametrize("viewer", ["hr", "admin"])
async def test_nobody_deactivates_themselves(client, org, viewer):
    body = await gql(client, DEACTIVATE, {"id": org.id(viewer)}, org.token(viewer))
    assert only_error(body)["extensions"] == {
        "code": "FORBIDDEN",
        "rule": "(HR | ADMIN) & not self",
    }
    assert (await User.get(id=org.users[viewer].id)).is_active is True
    assert await refused(client, org.token(viewer)) is None
    assert await audit_events(AuditAction.USER_DEACTIVATED) == []


@pytest.mark.parametrize("viewer", ["manager", "director", "colleague"])
async def test_only_hr_or_admin_deactivate(client, org, viewer):
    body = await gql(client, DEACTIVATE, {"id": org.id("target")}, org.token(viewer))
    assert only_error(body)["extensions"]["code"] == "FORBIDDEN"
    assert (await User.get(id=org.users["target"].id)).is_active is True
    assert (await User.get(id=org.users["target"].id)).manager_id == org.users["manager"].id
    assert await refused(client, org.token("target")) is None
    assert len(await audit_events(AuditAction.ACCESS_DENIED)) == 1


async def test_the_last_admin_cannot_be_deactivated(client, org):
    body = await gql(client, DEACTIVATE, {"id": org.id("admin")}, org.token("hr"))
    assert only_error(body)["extensions"] == {"code": "FORBIDDEN", "reason": "last_admin"}
    assert (await User.get(id=org.users["admin"].id)).is_active is True
    assert await refused(client, org.token("admin")) is None


async def test_deactivating_an_inactive_user_changes_nothing(client, org):
    await gql(client, DEACTIVATE, {"id": org.id("target")}, org.token("hr"))
    body = await gql(client, DEACTIVATE, {"id": org.id("target")}, org.token("admin"))
    assert body["data"]["deactivateUser"] == {"isActive": False}
    assert len(await audit_events(AuditAction.USER_DEACTIVATED)) == 1


async def test_deactivate_a_missing_user(client, org):
    body = await gql(
        client, DEACTIVATE, {"id": "00000000-0000-4000-8000-000000000000"}, org.token("hr")
    )
    assert only_error(body)["extensions"] == {"code": "NOT_FOUND", "field": "userId"}
