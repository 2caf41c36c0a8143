"""Every malformed ``after`` cursor is BAD_USER_INPUT on ``after``, on every connection and
both databases: never an error from the database, never a warning line in the log."""

from __future__ import annotations

import base64
import uuid
import warnings
from typing import Any

import pytest

from staffgraph.models import Department, Role
from tests.conftest import gql, make_user, token_for


def cursor(text: str) -> str:
    """A cursor as this API encodes them, around ``text``."""
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


ROW = str(uuid.uuid4())
CRAFTED = [
    # beyond what a database timestamp holds once moved to UTC
    cursor(f"9999-12-31T23:59:59.999999-14:00|{ROW}"),
    cursor(f"0001-01-01T00:00:00+14:00|{ROW}"),
    # no time zone: a naive timestamp compared with aware ones
    cursor(f"2026-01-01T00:00:00|{ROW}"),
    cursor(f"2026-01-01|{ROW}"),
    # not a timestamp, not an id, too many or too few parts, not base64, not UTF-8
    cursor(f"yesterday|{ROW}"),
    cursor("2026-01-01T00:00:00+00:00|not-a-uuid"),
    cursor(f"2026-01-01T00:00:00+00:00|{ROW}|{ROW}"),
    cursor("2026-01-01T00:00:00+00:00"),
    "!!!!",
    base64.urlsafe_b64encode(b"\xff\xfe|\x80").decode(),
    "",
]

USERS = "query($a: String) { users(first: 5, after: $a) { edges { node { id } } } }"
AUDIT = "query($a: String) { auditEvents(first: 5, after: $a) { edges { node { id } } } }"
MEMBERS = """query($d: ID!, $a: String) {
  department(id: $d) { members(first: 5, after: $a) { edges { node { id } } } }
}"""


@pytest.fixture
async def admin(app: Any) -> tuple[str, str]:
    """An ADMIN's token, and a department with members."""
    department = await Department.create(name="Engineering")
    user = await make_user("admin@example.com", (Role.ADMIN,), password=None, department=department)
    await make_user("member@example.com", password=None, department=department)
    return await token_for(app, user), str(department.id)


@pytest.mark.parametrize("after", CRAFTED, ids=range(len(CRAFTED)))
@pytest.mark.parametrize("connection", ["users", "auditEvents", "members"])
async def test_a_crafted_cursor_is_bad_input(client, admin, connection, after):
    token, department_id = admin
    query = {"users": USERS, "auditEvents": AUDIT, "members": MEMBERS}[connection]
    variables: dict[str, Any] = {"a": after, "d": department_id}
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        body = await gql(client, query, variables, token)
    if after == "":
        # no cursor: the first page
        assert "errors" not in body, body
        return
    assert [e["extensions"] for e in body["errors"]] == [
        {"code": "BAD_USER_INPUT", "field": "after"}
    ], body
    assert [str(w.message) for w in seen] == []


async def test_an_issued_cursor_still_pages(client, admin):
    token, department_id = admin
    query = MEMBERS.replace("first: 5", "first: 1").replace("edges {", "edges { cursor")
    first = await gql(client, query, {"d": department_id}, token)
    members = first["data"]["department"]["members"]
    (edge,) = members["edges"]
    cursor_text = base64.urlsafe_b64decode(edge["cursor"] + "=" * (-len(edge["cursor"]) % 4))
    assert b"+00:00|" in cursor_text
    body = await gql(client, MEMBERS, {"d": department_id, "a": edge["cursor"]}, token)
    assert len(body["data"]["department"]["members"]["edges"]) == 1
