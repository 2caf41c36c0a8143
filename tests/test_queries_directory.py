"""The directory queries: users (pages, filters, totalCount), user, departments, members,
reports and the audit trail."""

from __future__ import annotations

from typing import Any

import pytest

from staffgraph.models import AuditAction, AuditEvent, Department, Role, User
from tests.conftest import gql, make_user, token_for

PAGE = """
query($first: Int, $after: String, $filter: UserFilter) {
  users(first: $first, after: $after, filter: $filter) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { email } }
  }
}"""


class People:
    def __init__(self) -> None:
        self.users: dict[str, User] = {}
        self.tokens: dict[str, str] = {}


@pytest.fixture
async def people(app: Any) -> People:
    """An HR person, a colleague, two departments and 23 more people."""
    found = People()
    eng = await Department.create(name="Engineering")
    ops = await Department.create(name="Operations")
    found.users["hr"] = await make_user("hr@example.com", (Role.HR,), password=None)
    found.users["boss"] = await make_user(
        "boss@example.com", password=None, display_name="Big Boss", department=eng
    )
    found.users["colleague"] = await make_user(
        "colleague@example.com", password=None, manager=found.users["boss"], department=ops
    )
    for i in range(22):
        found.users[f"p{i:02d}"] = await make_user(
            f"p{i:02d}@example.com",
            password=None,
            display_name=f"Person {i:02d}",
            job_title="Welder" if i % 5 == 0 else "Engineer",
            department=eng if i % 2 else ops,
            manager=found.users["boss"] if i < 4 else None,
        )
    found.users["gone"] = await make_user(
        "gone@example.com", password=None, is_active=False, department=eng
    )
    for name in ("hr", "colleague"):
        found.tokens[name] = await token_for(app, found.users[name])
    return found


def emails(body: dict[str, Any]) -> list[str]:
    return [e["node"]["email"] for e in body["data"]["users"]["edges"]]


async def test_pages_follow_each_other_without_gaps(client, people):
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        body = await gql(client, PAGE, {"first": 10, "after": after}, people.tokens["colleague"])
        users = body["data"]["users"]
        seen.extend(emails(body))
        pages += 1
        assert users["totalCount"] == 25  # active users only
        if not users["pageInfo"]["hasNextPage"]:
            break
        after = users["pageInfo"]["endCursor"]
        assert after == users["edges"][-1]["cursor"]
    assert pages == 3
    assert len(seen) == len(set(seen)) == 25
    assert "gone@example.com" not in seen


async def test_page_size_is_bounded(client, people):
    token = people.tokens["colleague"]
    body = await gql(client, PAGE, {"first": 100}, token)
    assert len(emails(body)) == 25
    for first in (101, -1):
        body = await gql(client, PAGE, {"first": first}, token)
        assert body["data"] is None
        assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "first"}
    body = await gql(client, PAGE, {"first": 0}, token)
    assert body["data"]["users"]["edges"] == []


async def test_a_forged_cursor_is_bad_input(client, people):
    body = await gql(client, PAGE, {"after": "bm9wZQ"}, people.tokens["colleague"])
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "after"}


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("BIG", ["boss@example.com"]),  # display name, any case
        ("p03@", ["p03@example.com"]),  # email
        (
            "welder",
            [
                "p00@example.com",
                "p05@example.com",
                "p10@example.com",
                "p15@example.com",
                "p20@example.com",
            ],
        ),  # job title
    ],
)
async def test_search(client, people, search, expected):
    body = await gql(client, PAGE, {"filter": {"search": search}}, people.tokens["colleague"])
    assert sorted(emails(body)) == expected
    assert body["data"]["users"]["totalCount"] == len(expected)


async def test_filter_by_department_and_manager(client, people):
    token = people.tokens["colleague"]
    eng = await Department.get(name="Engineering")
    body = await gql(client, PAGE, {"first": 50, "filter": {"departmentId": str(eng.id)}}, token)
    assert sorted(emails(body)) == sorted(
        ["boss@example.com"] + [f"p{i:02d}@example.com" for i in range(22) if i % 2]
    )
    boss = str(people.users["boss"].id)
    body = await gql(client, PAGE, {"filter": {"managerId": boss}}, token)
    expected = ["colleague@example.com"] + [f"p{i:02d}@example.com" for i in range(4)]
    assert sorted(emails(body)) == sorted(expected)
    body = await gql(
        client, PAGE, {"filter": {"managerId": boss, "departmentId": str(eng.id)}}, token
    )
    assert sorted(emails(body)) == ["p01@example.com", "p03@example.com"]


async def test_only_hr_and_admin_filter_on_is_active(client, people):
    body = await gql(client, PAGE, {"filter": {"isActive": False}}, people.tokens["hr"])
    assert emails(body) == ["gone@example.com"]
    body = await gql(client, PAGE, {"first": 50}, people.tokens["hr"])
    assert body["data"]["users"]["totalCount"] == 26
    body = await gql(client, PAGE, {"filter": {"isActive": True}}, people.tokens["colleague"])
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


@pytest.mark.parametrize(
    ("filter_", "field"),
    [
        ({"search": "a\x07b"}, "filter.search"),
        ({"search": "x" * 101}, "filter.search"),
        ({"departmentId": "nope"}, "filter.departmentId"),
        ({"managerId": "1"}, "filter.managerId"),
    ],
)
async def test_filters_are_validated(client, people, filter_, field):
    body = await gql(client, PAGE, {"filter": filter_}, people.tokens["colleague"])
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": field}


async def test_user_by_id(client, people):
    query = "query($id: ID!) { user(id: $id) { email } }"
    token = people.tokens["colleague"]
    body = await gql(client, query, {"id": str(people.users["boss"].id)}, token)
    assert body == {"data": {"user": {"email": "boss@example.com"}}}
    body = await gql(client, query, {"id": "00000000-0000-4000-8000-000000000000"}, token)
    assert body == {"data": {"user": None}}
    body = await gql(client, query, {"id": "nope"}, token)
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "id"}


async def test_departments_heads_and_members(client, people):
    eng = await Department.get(name="Engineering")
    await Department.filter(id=eng.id).update(head_id=people.users["boss"].id)
    token = people.tokens["colleague"]
    body = await gql(client, "{ departments { name head { email } } }", token=token)
    assert body["data"]["departments"] == [
        {"name": "Engineering", "head": {"email": "boss@example.com"}},
        {"name": "Operations", "head": None},
    ]
    query = """
    query($id: ID!, $after: String) {
      department(id: $id) {
        name
        members(first: 5, after: $after) {
          totalCount pageInfo { hasNextPage endCursor } edges { node { email } }
        }
      }
    }"""
    body = await gql(client, query, {"id": str(eng.id)}, token)
    members = body["data"]["department"]["members"]
    assert members["totalCount"] == 12  # the inactive member is not counted
    assert len(members["edges"]) == 5
    assert members["pageInfo"]["hasNextPage"] is True
    after = members["pageInfo"]["endCursor"]
    body = await gql(client, query, {"id": str(eng.id), "after": after}, token)
    assert len(body["data"]["department"]["members"]["edges"]) == 5
    missing = await gql(client, query, {"id": "00000000-0000-4000-8000-000000000000"}, token)
    assert missing == {"data": {"department": None}}


async def test_reports_are_the_direct_reports_the_viewer_may_see(client, people):
    await User.filter(id=people.users["p00"].id).update(is_active=False)
    query = "query($id: ID!) { user(id: $id) { reports { email } } }"
    active = ["colleague@example.com", "p01@example.com", "p02@example.com", "p03@example.com"]
    for viewer, expected in [("colleague", active), ("hr", ["p00@example.com", *active])]:
        body = await gql(client, query, {"id": str(people.users["boss"].id)}, people.tokens[viewer])
        assert sorted(r["email"] for r in body["data"]["user"]["reports"]) == sorted(expected)


AUDIT = """
query($first: Int, $after: String, $action: AuditAction) {
  auditEvents(first: $first, after: $after, action: $action) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { action actor { email } targetId detail } }
  }
}"""


async def test_audit_events_are_for_admins(app, client, people):
    admin = await make_user("admin@example.com", (Role.ADMIN,), password=None)
    token = await token_for(app, admin)
    for i in range(3):
        await AuditEvent.create(
            action=AuditAction.USER_UPDATED,
            actor=admin,
            detail=f"change {i}",
            target_id=people.users["boss"].id,
        )
    await AuditEvent.create(action=AuditAction.LOGIN_FAILED, detail="failed")
    body = await gql(client, AUDIT, {"first": 2}, token)
    events = body["data"]["auditEvents"]
    assert events["totalCount"] == 4
    assert [e["node"]["detail"] for e in events["edges"]] == ["failed", "change 2"]
    assert events["edges"][1]["node"]["actor"] == {"email": "admin@example.com"}
    assert events["edges"][1]["node"]["targetId"] == str(people.users["boss"].id)
    after = events["pageInfo"]["endCursor"]
    body = await gql(client, AUDIT, {"first": 5, "after": after}, token)
    assert [e["node"]["detail"] for e in body["data"]["auditEvents"]["edges"]] == [
        "change 1",
        "change 0",
    ]
    body = await gql(client, AUDIT, {"action": "LOGIN_FAILED"}, token)
    assert [e["node"]["action"] for e in body["data"]["auditEvents"]["edges"]] == ["LOGIN_FAILED"]
    for viewer in ("hr", "colleague"):
        body = await gql(client, AUDIT, {}, people.tokens[viewer])
        assert body["data"] is None
        assert body["errors"][0]["extensions"] == {"code": "FORBIDDEN", "rule": "ADMIN"}
        assert body["errors"][0]["path"] == ["auditEvents"]


@pytest.mark.parametrize("wildcard", ["%", "_", "\\"])
async def test_search_wildcards_are_literal(client, people, wildcard):
    body = await gql(client, PAGE, {"filter": {"search": wildcard}}, people.tokens["colleague"])
    assert emails(body) == []
