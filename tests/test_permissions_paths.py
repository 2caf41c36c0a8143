"""Denials wherever a user is reached: nested fields, lists, connections, aliases, fragments
and variables. The error is at the exact path (aliases included); the rest stays intact."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import gql
from tests.permissions_org import Org, build_org

SALARY_RULE = "self | HR | (MANAGER & management chain)"


@pytest.fixture
async def org(app: Any) -> Org:
    return await build_org(app)


def errors_by_path(body: dict[str, Any]) -> dict[tuple[Any, ...], dict[str, Any]]:
    return {tuple(e["path"]): e for e in body.get("errors", [])}


async def test_manager_salary_is_denied_to_their_report(client, org):
    body = await gql(
        client,
        "query($id: ID!) { user(id: $id) { displayName manager { displayName salary } } }",
        {"id": org.id("target")},
        org.token("target"),
    )
    assert body["data"]["user"] == {
        "displayName": "Target",
        "manager": {"displayName": "Manager", "salary": None},
    }
    error = errors_by_path(body)[("user", "manager", "salary")]
    assert error["extensions"] == {"code": "FORBIDDEN", "rule": SALARY_RULE}
    assert len(body["errors"]) == 1


async def test_manager_salary_is_read_by_the_managers_manager(client, org):
    body = await gql(
        client,
        "query($id: ID!) { user(id: $id) { manager { salary manager { salary } } } }",
        {"id": org.id("target")},
        org.token("director"),
    )
    # director manages `manager`, but is not in their own chain
    assert body["data"]["user"]["manager"] == {
        "salary": org.users["manager"].salary,
        "manager": {"salary": org.users["director"].salary},
    }
    assert "errors" not in body


async def test_reports_home_address_denied_per_list_item(client, org):
    body = await gql(
        client,
        "query($id: ID!) { user(id: $id) { reports { displayName homeAddress phone } } }",
        {"id": org.id("manager")},
        org.token("manager"),
    )
    reports = body["data"]["user"]["reports"]
    assert sorted(r["displayName"] for r in reports) == ["Colleague", "Target"]
    assert all(r["homeAddress"] is None for r in reports)
    assert {r["phone"] for r in reports} == {
        org.users["target"].phone,
        org.users["colleague"].phone,
    }
    paths = sorted(errors_by_path(body))
    assert paths == [("user", "reports", 0, "homeAddress"), ("user", "reports", 1, "homeAddress")]
    assert all(e["extensions"]["rule"] == "self | HR" for e in body["errors"])


async def test_reports_home_address_read_by_hr(client, org):
    body = await gql(
        client,
        "query($id: ID!) { user(id: $id) { reports { homeAddress } } }",
        {"id": org.id("manager")},
        org.token("hr"),
    )
    assert sorted(r["homeAddress"] for r in body["data"]["user"]["reports"]) == sorted(
        [org.users["target"].home_address, org.users["colleague"].home_address]
    )
    assert "errors" not in body


async def test_department_members_salary_as_a_colleague(client, org):
    query = """
    query($id: ID!) {
      user(id: $id) {
        department { name members(first: 50) { totalCount edges { node { email salary } } } }
      }
    }"""
    body = await gql(client, query, {"id": org.id("target")}, org.token("colleague"))
    edges = body["data"]["user"]["department"]["members"]["edges"]
    assert body["data"]["user"]["department"]["members"]["totalCount"] == len(org.users)
    salaries = {e["node"]["email"]: e["node"]["salary"] for e in edges}
    # a colleague reads their own salary, nobody else's
    assert salaries.pop("colleague@example.com") == org.users["colleague"].salary
    assert set(salaries.values()) == {None}
    paths = errors_by_path(body)
    assert len(paths) == len(org.users) - 1
    for index, edge in enumerate(edges):
        path = ("user", "department", "members", "edges", index, "node", "salary")
        assert (path in paths) == (edge["node"]["email"] != "colleague@example.com")


async def test_department_members_salary_as_a_manager(client, org):
    query = """
    query($id: ID!) {
      department(id: $id) { members { edges { node { email salary } } } }
    }"""
    body = await gql(client, query, {"id": str(org.department.id)}, org.token("manager"))
    salaries = {
        e["node"]["email"]: e["node"]["salary"]
        for e in body["data"]["department"]["members"]["edges"]
    }
    visible = {email for email, salary in salaries.items() if salary is not None}
    assert visible == {"manager@example.com", "target@example.com", "colleague@example.com"}
    assert len(body["errors"]) == len(org.users) - 3


async def test_aliases_carry_the_alias_in_the_path(client, org):
    query = """
    query($id: ID!) {
      someone: user(id: $id) { pay: salary again: salary name: displayName }
    }"""
    body = await gql(client, query, {"id": org.id("target")}, org.token("colleague"))
    assert body["data"] == {"someone": {"pay": None, "again": None, "name": "Target"}}
    paths = errors_by_path(body)
    assert set(paths) == {("someone", "pay"), ("someone", "again")}
    # the message names the field, not the alias
    assert all(
        e["message"] == f"Not allowed: salary requires {SALARY_RULE}" for e in paths.values()
    )


async def test_named_fragments_are_guarded(client, org):
    query = """
    query($id: ID!) { user(id: $id) { ...Private manager { ...Private } } }
    fragment Private on User { homeAddress dateOfBirth }
    """
    body = await gql(client, query, {"id": org.id("target")}, org.token("manager"))
    assert body["data"]["user"] == {
        "homeAddress": None,
        "dateOfBirth": None,
        "manager": {
            "homeAddress": org.users["manager"].home_address,
            "dateOfBirth": org.users["manager"].date_of_birth.isoformat(),
        },
    }
    assert set(errors_by_path(body)) == {("user", "homeAddress"), ("user", "dateOfBirth")}


async def test_inline_fragments_are_guarded(client, org):
    query = """
    query($id: ID!) { user(id: $id) { ... on User { salary lastLoginAt } } }
    """
    body = await gql(client, query, {"id": org.id("target")}, org.token("admin"))
    assert body["data"]["user"]["salary"] is None
    assert body["data"]["user"]["lastLoginAt"] is not None
    assert set(errors_by_path(body)) == {("user", "salary")}


async def test_variables_and_directives_change_nothing(client, org):
    query = """
    query($id: ID!, $private: Boolean!, $skipPhone: Boolean!) {
      user(id: $id) { salary @include(if: $private) phone @skip(if: $skipPhone) email }
    }"""
    variables = {"id": org.id("target"), "private": True, "skipPhone": False}
    body = await gql(client, query, variables, org.token("colleague"))
    assert body["data"]["user"] == {"salary": None, "phone": None, "email": "target@example.com"}
    assert set(errors_by_path(body)) == {("user", "salary"), ("user", "phone")}
    variables = {**variables, "private": False, "skipPhone": True}
    body = await gql(client, query, variables, org.token("colleague"))
    assert body == {"data": {"user": {"email": "target@example.com"}}}


async def test_users_page_denies_per_node(client, org):
    query = "{ users(first: 50) { edges { node { email phone isActive } } } }"
    body = await gql(client, query, token=org.token("manager"))
    nodes = [e["node"] for e in body["data"]["users"]["edges"]]
    phones = {n["email"]: n["phone"] for n in nodes}
    readable = {email for email, phone in phones.items() if phone is not None}
    assert readable == {"manager@example.com", "target@example.com", "colleague@example.com"}
    assert all(n["isActive"] is None for n in nodes)
    denied = {(e["path"][-1], e["extensions"]["code"]) for e in body["errors"]}
    assert denied == {("phone", "FORBIDDEN"), ("isActive", "FORBIDDEN")}


async def test_me_reads_everything_of_ones_own(client, org):
    query = "{ me { salary homeAddress dateOfBirth phone lastLoginAt roles sessions { current } } }"
    body = await gql(client, query, token=org.token("target"))
    me = body["data"]["me"]
    assert me["salary"] == org.users["target"].salary
    assert me["roles"] == ["EMPLOYEE"]
    assert me["sessions"] == [{"current": True}]
    assert "errors" not in body


async def test_review_subject_and_reviewer_fields_keep_their_own_rules(client, org):
    query = """
    query($id: ID!) {
      user(id: $id) { reviews { summary reviewer { displayName salary } subject { salary } } }
    }"""
    body = await gql(client, query, {"id": org.id("target")}, org.token("target"))
    reviews = body["data"]["user"]["reviews"]
    assert reviews == [
        {
            "summary": "Shared summary",
            "reviewer": {"displayName": "Manager", "salary": None},
            "subject": {"salary": org.users["target"].salary},
        }
    ]
    assert set(errors_by_path(body)) == {("user", "reviews", 0, "reviewer", "salary")}


async def test_anonymous_gets_unauthenticated_with_the_reason(client, org):
    body = await gql(client, "{ users { edges { node { id } } } departments { id } }")
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    body = await gql(client, "{ me { id } }", token="not-a-token")
    assert body["data"] == {"me": None}
    body = await gql(client, "{ departments { id } }", token="not-a-token")
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert body["errors"][0]["extensions"]["reason"] == "invalid_token"
