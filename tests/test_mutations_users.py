"""createUser, updateUser, updateMyProfile and setSalary: allowed and denied, with the stored
rows and the audit trail checked afterwards."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

import pytest

from staffgraph.models import AuditAction, Department, User, UserRole
from tests.conftest import TEST_PASSWORD, gql
from tests.permissions_org import Org, audit_events, build_org, only_error

CREATE = """
mutation($input: CreateUserInput!) {
  createUser(input: $input) {
    id email displayName jobTitle roles department { name } manager { id }
  }
}"""
UPDATE = """
mutation($id: ID!, $input: UpdateUserInput!) {
  updateUser(id: $id, input: $input) {
    jobTitle phone homeAddress dateOfBirth department { name } manager { id }
  }
}"""
MY_PROFILE = """
mutation($input: MyProfileInput!) {
  updateMyProfile(input: $input) { displayName phone homeAddress }
}"""
SET_SALARY = (
    "mutation($id: ID!, $salary: Int!) { setSalary(userId: $id, salary: $salary) { salary } }"
)


@pytest.fixture
async def org(app: Any) -> Org:
    return await build_org(app)


async def snapshot() -> list[dict[str, Any]]:
    """Every user row and role, to compare before and after a denied mutation."""
    users = await User.all().order_by("email").values()
    roles = await UserRole.all().order_by("user_id", "role").values("user_id", "role")
    return [*users, *roles]


def new_user(**overrides: Any) -> dict[str, Any]:
    return {
        "email": "New.Person@Example.com",
        "displayName": "New Person",
        "password": TEST_PASSWORD,
        **overrides,
    }


# --- createUser --------------------------------------------------------------------------


async def test_hr_creates_an_employee(app, client, org):
    payload = new_user(
        jobTitle="Engineer",
        departmentId=str(org.department.id),
        managerId=org.id("manager"),
    )
    body = await gql(client, CREATE, {"input": payload}, org.token("hr"))
    created = body["data"]["createUser"]
    assert created["email"] == "new.person@example.com"
    assert created["roles"] == ["EMPLOYEE"]
    assert created["department"] == {"name": "Engineering"}
    assert created["manager"] == {"id": org.id("manager")}
    user = await User.get(email="new.person@example.com")
    assert user.password_hash is not None
    assert TEST_PASSWORD not in user.password_hash
    assert await app.state.services.passwords.verify(TEST_PASSWORD, user.password_hash)
    [event] = await audit_events(AuditAction.USER_CREATED)
    assert (event.actor_id, event.target_id) == (org.users["hr"].id, user.id)
    assert event.detail == "roles: EMPLOYEE"


async def test_hr_may_grant_manager(client, org):
    body = await gql(
        client, CREATE, {"input": new_user(roles=["EMPLOYEE", "MANAGER"])}, org.token("hr")
    )
    assert body["data"]["createUser"]["roles"] == ["EMPLOYEE", "MANAGER"]


@pytest.mark.parametrize("role", ["HR", "ADMIN"])
async def test_hr_may_not_grant_hr_or_admin(client, org, role):
    before = await snapshot()
    body = await gql(client, CREATE, {"input": new_user(roles=[role])}, org.token("hr"))
    assert only_error(body)["extensions"]["code"] == "FORBIDDEN"
    assert only_error(body)["message"] == "Not allowed: granting HR or ADMIN requires ADMIN"
    assert await snapshot() == before
    assert [e.detail for e in await audit_events(AuditAction.ACCESS_DENIED)] == [
        "granting HR or ADMIN requires ADMIN"
    ]


async def test_admin_grants_any_role(client, org):
    body = await gql(client, CREATE, {"input": new_user(roles=["HR", "ADMIN"])}, org.token("admin"))
    assert body["data"]["createUser"]["roles"] == ["ADMIN", "HR"]


@pytest.mark.parametrize("viewer", ["manager", "target", "anonymous"])
async def test_others_may_not_create_users(client, org, viewer):
    before = await snapshot()
    body = await gql(client, CREATE, {"input": new_user()}, org.token(viewer))
    code = "UNAUTHENTICATED" if viewer == "anonymous" else "FORBIDDEN"
    assert only_error(body)["extensions"]["code"] == code
    assert await snapshot() == before
    assert len(await audit_events(AuditAction.USER_CREATED)) == 0


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": "target@EXAMPLE.com"}, "email"),  # taken, whatever the case
        ({"email": "a\x00b@example.com"}, "email"),
        ({"password": "short"}, "password"),
        ({"password": "x" * 129}, "password"),
        ({"displayName": "   "}, "displayName"),
        ({"displayName": "Bad\x00Name"}, "displayName"),
        ({"displayName": "x" * 201}, "displayName"),
        ({"jobTitle": "tab\tin title"}, "jobTitle"),
        ({"departmentId": "not-a-uuid"}, "departmentId"),
        ({"managerId": "42"}, "managerId"),
        ({"roles": []}, "roles"),
    ],
)
async def test_create_user_validates_its_input(client, org, overrides, field):
    before = await snapshot()
    body = await gql(client, CREATE, {"input": new_user(**overrides)}, org.token("hr"))
    assert only_error(body)["extensions"] == {"code": "BAD_USER_INPUT", "field": f"input.{field}"}
    assert await snapshot() == before


@pytest.mark.parametrize("field", ["departmentId", "managerId"])
async def test_create_user_with_a_missing_reference(client, org, field):
    body = await gql(
        client,
        CREATE,
        {"input": new_user(**{field: "00000000-0000-4000-8000-000000000000"})},
        org.token("hr"),
    )
    assert only_error(body)["extensions"] == {"code": "NOT_FOUND", "field": f"input.{field}"}


# --- updateUser --------------------------------------------------------------------------


async def test_hr_updates_work_and_private_details(client, org):
    sales = await Department.create(name="Sales")
    changes = {
        "jobTitle": "Senior Engineer",
        "phone": "+1 (555) 010-2030 ext. 12",
        "homeAddress": "1 New Road\nLondon",
        "dateOfBirth": "1990-02-03",
        "departmentId": str(sales.id),
        "managerId": org.id("director"),
    }
    body = await gql(client, UPDATE, {"id": org.id("target"), "input": changes}, org.token("hr"))
    assert body["data"]["updateUser"] == {
        "jobTitle": "Senior Engineer",
        "phone": "+1 (555) 010-2030 ext. 12",
        "homeAddress": "1 New Road\nLondon",
        "dateOfBirth": "1990-02-03",
        "department": {"name": "Sales"},
        "manager": {"id": org.id("director")},
    }
    user = await User.get(id=org.users["target"].id)
    assert (user.job_title, user.date_of_birth) == ("Senior Engineer", date(1990, 2, 3))
    assert (user.department_id, user.manager_id) == (sales.id, org.users["director"].id)
    [event] = await audit_events(AuditAction.USER_UPDATED)
    assert event.target_id == user.id
    assert event.detail == (
        "changed jobTitle, phone, homeAddress, dateOfBirth, departmentId, managerId"
    )
    assert "London" not in event.detail


async def test_omitted_fields_stay_and_null_clears(client, org):
    body = await gql(
        client,
        UPDATE,
        {"id": org.id("target"), "input": {"phone": None, "jobTitle": "Lead"}},
        org.token("hr"),
    )
    assert body["data"]["updateUser"]["phone"] is None
    user = await User.get(id=org.users["target"].id)
    assert user.phone is None
    assert user.job_title == "Lead"
    assert user.home_address == org.users["target"].home_address
    assert user.manager_id == org.users["manager"].id


async def test_an_update_that_changes_nothing_is_not_audited(client, org):
    same = {"jobTitle": org.users["target"].job_title}
    await gql(client, UPDATE, {"id": org.id("target"), "input": same}, org.token("hr"))
    assert await audit_events(AuditAction.USER_UPDATED) == []


@pytest.mark.parametrize("viewer", ["admin", "manager", "target"])
async def test_only_hr_updates_users(client, org, viewer):
    before = await snapshot()
    body = await gql(
        client, UPDATE, {"id": org.id("target"), "input": {"jobTitle": "X"}}, org.token(viewer)
    )
    assert only_error(body)["extensions"] == {"code": "FORBIDDEN", "rule": "HR"}
    assert await snapshot() == before
    assert len(await audit_events(AuditAction.ACCESS_DENIED)) == 1


@pytest.mark.parametrize(
    ("who", "new_manager"),
    [("director", "target"), ("manager", "manager"), ("skip", "target")],
)
async def test_no_management_cycles(client, org, who, new_manager):
    before = await snapshot()
    body = await gql(
        client,
        UPDATE,
        {"id": org.id(who), "input": {"managerId": org.id(new_manager)}},
        org.token("hr"),
    )
    assert only_error(body)["extensions"] == {"code": "BAD_USER_INPUT", "field": "input.managerId"}
    assert await snapshot() == before


async def test_a_manager_must_be_active(client, org):
    await User.filter(id=org.users["colleague"].id).update(is_active=False)
    body = await gql(
        client,
        UPDATE,
        {"id": org.id("target"), "input": {"managerId": org.id("colleague")}},
        org.token("hr"),
    )
    assert only_error(body)["extensions"] == {"code": "NOT_FOUND", "field": "input.managerId"}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"phone": "call me"}, "phone"),
        ({"phone": "12"}, "phone"),
        ({"homeAddress": "x" * 501}, "homeAddress"),
        ({"homeAddress": "bell\x07"}, "homeAddress"),
        ({"dateOfBirth": "2999-01-01"}, "dateOfBirth"),
        ({"dateOfBirth": "1850-01-01"}, "dateOfBirth"),
        ({"jobTitle": "\x00"}, "jobTitle"),
        ({"departmentId": "nope"}, "departmentId"),
    ],
)
async def test_update_user_validates_its_input(client, org, changes, field):
    before = await snapshot()
    body = await gql(client, UPDATE, {"id": org.id("target"), "input": changes}, org.token("hr"))
    assert only_error(body)["extensions"] == {"code": "BAD_USER_INPUT", "field": f"input.{field}"}
    assert await snapshot() == before


async def test_update_a_missing_user(client, org):
    body = await gql(
        client,
        UPDATE,
        {"id": "00000000-0000-4000-8000-000000000000", "input": {"jobTitle": "X"}},
        org.token("hr"),
    )
    assert only_error(body)["extensions"]["code"] == "NOT_FOUND"


# --- updateMyProfile ---------------------------------------------------------------------


async def test_everyone_updates_their_own_profile(client, org):
    changes = {"displayName": "Tee", "phone": "+44 1234 567890", "homeAddress": None}
    body = await gql(client, MY_PROFILE, {"input": changes}, org.token("target"))
    assert body["data"]["updateMyProfile"] == {
        "displayName": "Tee",
        "phone": "+44 1234 567890",
        "homeAddress": None,
    }
    user = await User.get(id=org.users["target"].id)
    assert (user.display_name, user.phone, user.home_address) == ("Tee", "+44 1234 567890", None)
    assert user.job_title == org.users["target"].job_title
    [event] = await audit_events(AuditAction.USER_UPDATED)
    assert (event.actor_id, event.target_id) == (user.id, user.id)
    assert event.detail == "changed displayName, phone, homeAddress"


async def test_my_profile_cannot_reach_other_fields(client, org):
    body = await gql(
        client, MY_PROFILE, {"input": {"jobTitle": "CEO"}}, org.token("target"), expect_status=200
    )
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "input"}
    assert (await User.get(id=org.users["target"].id)).job_title == "target title"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"displayName": None}, "displayName"),
        ({"displayName": " "}, "displayName"),
        ({"phone": "+1\x00"}, "phone"),
    ],
)
async def test_my_profile_validates(client, org, changes, field):
    before = await snapshot()
    body = await gql(client, MY_PROFILE, {"input": changes}, org.token("target"))
    assert only_error(body)["extensions"] == {"code": "BAD_USER_INPUT", "field": f"input.{field}"}
    assert await snapshot() == before


async def test_my_profile_needs_a_viewer(client, org):
    body = await gql(client, MY_PROFILE, {"input": {"displayName": "X"}})
    assert only_error(body)["extensions"]["code"] == "UNAUTHENTICATED"


# --- setSalary ---------------------------------------------------------------------------


async def test_hr_sets_a_salary(client, org):
    body = await gql(
        client, SET_SALARY, {"id": org.id("target"), "salary": 61_500}, org.token("hr")
    )
    assert body["data"]["setSalary"] == {"salary": 61_500}
    assert (await User.get(id=org.users["target"].id)).salary == 61_500
    [event] = await audit_events(AuditAction.SALARY_CHANGED)
    assert (event.actor_id, event.target_id) == (org.users["hr"].id, org.users["target"].id)
    assert "61" not in (event.detail or "")


async def test_hr_never_sets_their_own_salary(client, org):
    before = await snapshot()
    body = await gql(client, SET_SALARY, {"id": org.id("hr"), "salary": 999_999}, org.token("hr"))
    assert only_error(body)["extensions"] == {"code": "FORBIDDEN", "rule": "HR & not self"}
    assert await snapshot() == before
    assert await audit_events(AuditAction.SALARY_CHANGED) == []
    [denied] = await audit_events(AuditAction.ACCESS_DENIED)
    assert denied.target_id == org.users["hr"].id


@pytest.mark.parametrize("viewer", ["admin", "manager", "director", "target"])
async def test_only_hr_sets_salaries(client, org, viewer):
    before = await snapshot()
    body = await gql(client, SET_SALARY, {"id": org.id("target"), "salary": 1}, org.token(viewer))
    assert only_error(body)["extensions"]["code"] == "FORBIDDEN"
    assert await snapshot() == before


@pytest.mark.parametrize("salary", [-1, 10_000_001])
async def test_salary_must_be_sane(client, org, salary):
    before = await snapshot()
    body = await gql(
        client, SET_SALARY, {"id": org.id("target"), "salary": salary}, org.token("hr")
    )
    assert only_error(body)["extensions"] == {"code": "BAD_USER_INPUT", "field": "salary"}
    assert await snapshot() == before


async def test_set_salary_of_a_missing_user(client, org):
    missing = {"id": "00000000-0000-4000-8000-000000000000", "salary": 1}
    body = await gql(client, SET_SALARY, missing, org.token("hr"))
    assert only_error(body)["extensions"] == {"code": "NOT_FOUND", "field": "userId"}
    # whoever may not set salaries learns nothing about which ids exist
    body = await gql(client, SET_SALARY, missing, org.token("manager"))
    assert only_error(body)["extensions"]["code"] == "FORBIDDEN"


@pytest.mark.parametrize("round_", range(4))
async def test_racing_moves_never_close_a_cycle(client, org, round_):
    results = await asyncio.gather(
        gql(
            client,
            UPDATE,
            {"id": org.id("colleague"), "input": {"managerId": org.id("admin")}},
            org.token("hr"),
        ),
        gql(
            client,
            UPDATE,
            {"id": org.id("admin"), "input": {"managerId": org.id("colleague")}},
            org.token("hr"),
        ),
    )
    assert sorted("errors" in body for body in results) == [False, True]
    colleague = await User.get(id=org.users["colleague"].id)
    admin = await User.get(id=org.users["admin"].id)
    assert not (colleague.manager_id == admin.id and admin.manager_id == colleague.id)
