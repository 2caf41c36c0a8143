"""Relay cursor connections on ``users``, ``auditEvents`` and ``Department.members``: walking
every page forward (first/after) and backward (last/before) gives the full list, with the
spec's pageInfo at both ends; bad arguments are BAD_USER_INPUT; a page costs what it did."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from staffgraph.models import AuditAction, AuditEvent, Department, Role, User
from tests.conftest import ON_POSTGRES, gql, make_user, token_for
from tests.test_n_plus_one import statements

PAGE_INFO = "pageInfo { hasNextPage hasPreviousPage startCursor endCursor }"
USERS = f"""
query($first: Int, $after: String, $last: Int, $before: String) {{
  page: users(first: $first, after: $after, last: $last, before: $before) {{
    {PAGE_INFO} edges {{ cursor node {{ id }} }}
  }}
}}"""
AUDIT = f"""
query($first: Int, $after: String, $last: Int, $before: String) {{
  page: auditEvents(first: $first, after: $after, last: $last, before: $before) {{
    {PAGE_INFO} edges {{ cursor node {{ id }} }}
  }}
}}"""
MEMBERS = f"""
query($id: ID!, $first: Int, $after: String, $last: Int, $before: String) {{
  department(id: $id) {{
    page: members(first: $first, after: $after, last: $last, before: $before) {{
      {PAGE_INFO} edges {{ cursor node {{ id }} }}
    }}
  }}
}}"""


@dataclass
class Directory:
    tokens: dict[str, str] = field(default_factory=dict)
    department: Department | None = None
    #: every user, oldest account first, as `users` lists them
    users: list[str] = field(default_factory=list)
    #: the department's members in connection order
    members: list[str] = field(default_factory=list)
    #: every audit event, newest first
    events: list[str] = field(default_factory=list)


@pytest.fixture
async def directory(app: Any) -> Directory:
    """13 users (four sharing one creation time, so the id breaks the tie), 8 of them in a
    department, and 11 audit events (three sharing one time)."""
    found = Directory()
    found.department = await Department.create(name="Platform")
    admin = await make_user("admin@example.com", (Role.ADMIN,), password=None)
    people = [admin]
    for i in range(12):
        member = found.department if i % 3 else None
        people.append(await make_user(f"p{i:02d}@example.com", password=None, department=member))
    tied = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    await User.filter(id__in=[p.id for p in people[4:8]]).update(created_at=tied)
    found.tokens["admin"] = await token_for(app, admin)
    ordered = await User.all().order_by("created_at", "id")
    found.users = [str(u.id) for u in ordered]
    found.members = [str(u.id) for u in ordered if u.department_id == found.department.id]
    for i in range(11):
        at = datetime(2026, 2, 1, 8, 0, tzinfo=UTC) if i in (3, 4, 5) else None
        event = await AuditEvent.create(action=AuditAction.USER_UPDATED, detail=f"event {i}")
        if at is not None:
            await AuditEvent.filter(id=event.id).update(at=at)
    events = await AuditEvent.all().order_by("-at", "-id")
    found.events = [str(e.id) for e in events]
    return found


async def ask(client: Any, directory: Directory, query: str, **arguments: Any) -> dict[str, Any]:
    variables = dict(arguments)
    if query is MEMBERS:
        assert directory.department is not None
        variables["id"] = str(directory.department.id)
    body = await gql(client, query, variables, directory.tokens["admin"])
    assert "errors" not in body, body["errors"]
    data = body["data"]
    page: dict[str, Any] = (data["department"] if query is MEMBERS else data)["page"]
    return page


CONNECTIONS = [("users", USERS), ("auditEvents", AUDIT), ("members", MEMBERS)]


def everything(directory: Directory, name: str) -> list[str]:
    return {"users": directory.users, "auditEvents": directory.events}.get(name, directory.members)


def ids_of(page: dict[str, Any]) -> list[str]:
    return [edge["node"]["id"] for edge in page["edges"]]


def check_cursors(page: dict[str, Any]) -> None:
    edges, info = page["edges"], page["pageInfo"]
    assert info["startCursor"] == (edges[0]["cursor"] if edges else None)
    assert info["endCursor"] == (edges[-1]["cursor"] if edges else None)


@pytest.mark.parametrize(("name", "query"), CONNECTIONS)
async def test_walking_forward_gives_every_item_once(client, directory, name, query):
    full = everything(directory, name)
    assert len(full) >= 8
    seen: list[str] = []
    after = None
    pages = []
    while True:
        page = await ask(client, directory, query, first=3, after=after)
        check_cursors(page)
        pages.append(page["pageInfo"])
        seen.extend(ids_of(page))
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
        assert len(pages) < 20
    assert seen == full
    # the first page has nothing before it; every later one does (the `after` item itself)
    assert [p["hasPreviousPage"] for p in pages] == [False] + [True] * (len(pages) - 1)
    assert [p["hasNextPage"] for p in pages] == [True] * (len(pages) - 1) + [False]


@pytest.mark.parametrize(("name", "query"), CONNECTIONS)
async def test_walking_backward_gives_every_item_once_in_the_same_order(
    client, directory, name, query
):
    full = everything(directory, name)
    seen: list[str] = []
    before = None
    pages = []
    while True:
        page = await ask(client, directory, query, last=3, before=before)
        check_cursors(page)
        pages.append(page["pageInfo"])
        seen[:0] = ids_of(page)  # each page comes before the one already seen
        if not page["pageInfo"]["hasPreviousPage"]:
            break
        before = page["pageInfo"]["startCursor"]
        assert len(pages) < 20
    assert seen == full
    assert len(ids_of(page)) == (len(full) % 3 or 3)  # the oldest items, a short page
    # the last page has nothing after it; every earlier one does (the `before` item itself)
    assert [p["hasNextPage"] for p in pages] == [False] + [True] * (len(pages) - 1)
    assert [p["hasPreviousPage"] for p in pages] == [True] * (len(pages) - 1) + [False]


@pytest.mark.parametrize(("name", "query"), CONNECTIONS)
async def test_both_cursors_bound_a_page_in_either_direction(client, directory, name, query):
    full = everything(directory, name)
    everything_page = await ask(client, directory, query, first=100)
    cursors = [edge["cursor"] for edge in everything_page["edges"]]
    assert ids_of(everything_page) == full
    after, before = cursors[1], cursors[7]  # items 2..6 lie between
    forward = await ask(client, directory, query, first=3, after=after, before=before)
    assert ids_of(forward) == full[2:5]
    assert forward["pageInfo"]["hasNextPage"] is True  # items 5 and 6 are still before `before`
    backward = await ask(client, directory, query, last=3, after=after, before=before)
    assert ids_of(backward) == full[4:7]
    assert backward["pageInfo"]["hasPreviousPage"] is True
    whole = await ask(client, directory, query, first=10, after=after, before=before)
    assert ids_of(whole) == full[2:7]
    assert whole["pageInfo"]["hasNextPage"] is False  # nothing more between the cursors
    # from either end
    assert ids_of(await ask(client, directory, query, last=2)) == full[-2:]
    assert ids_of(await ask(client, directory, query, first=2, before=cursors[3])) == full[:2]
    assert ids_of(await ask(client, directory, query, last=2, after=cursors[-4])) == full[-2:]


@pytest.mark.parametrize(("name", "query"), CONNECTIONS)
async def test_an_empty_page_has_no_cursors(client, directory, name, query):
    for arguments in ({"first": 0}, {"last": 0}):
        page = await ask(client, directory, query, **arguments)
        assert page == {
            "pageInfo": {
                "hasNextPage": False,
                "hasPreviousPage": False,
                "startCursor": None,
                "endCursor": None,
            },
            "edges": [],
        }
    last_cursor = (await ask(client, directory, query, last=1))["pageInfo"]["endCursor"]
    beyond = await ask(client, directory, query, first=5, after=last_cursor)
    assert beyond["edges"] == []
    assert beyond["pageInfo"]["hasPreviousPage"] is True
    assert beyond["pageInfo"]["startCursor"] is None


async def test_a_page_of_one_default_size_when_neither_first_nor_last(client, directory):
    assert len(ids_of(await ask(client, directory, USERS))) == len(directory.users)  # 13 < 20


@pytest.mark.parametrize(("name", "query"), CONNECTIONS)
async def test_an_empty_cursor_names_no_position(client, directory, name, query):
    # as it always did for `after`: the page starts at the end of the list
    for direction in ({"first": 3}, {"last": 3}):
        plain = await ask(client, directory, query, **direction)
        for cursor in ("after", "before"):
            empty = await ask(client, directory, query, **direction, **{cursor: ""})
            assert ids_of(empty) == ids_of(plain)


@pytest.mark.parametrize(("name", "query"), CONNECTIONS)
@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"before": "bm9wZQ"}, "before"),
        ({"last": 2, "before": "bm9wZQ"}, "before"),
        ({"after": "bm9wZQ"}, "after"),
        ({"first": 2, "last": 2}, "last"),
        ({"last": 101}, "last"),
        ({"last": -1}, "last"),
        ({"first": 101}, "first"),
    ],
)
async def test_bad_arguments_are_bad_input(client, directory, name, query, arguments, field):
    variables = dict(arguments)
    if query is MEMBERS:
        assert directory.department is not None
        variables["id"] = str(directory.department.id)
    body = await gql(client, query, variables, directory.tokens["admin"])
    assert [e["extensions"] for e in body["errors"]] == [{"code": "BAD_USER_INPUT", "field": field}]


async def test_a_backward_page_costs_what_a_forward_page_costs(client, directory, monkeypatch):
    query = """
    query($first: Int, $last: Int, $before: String, $after: String) {
      users(first: $first, last: $last, before: $before, after: $after) {
        pageInfo { hasNextPage hasPreviousPage }
        edges { node { id displayName manager { id } department { name } } }
      }
    }"""
    middle = (await ask(client, directory, USERS, first=6))["pageInfo"]["endCursor"]
    counts = {}
    for label, variables in {
        "first": {"first": 5},
        "first after": {"first": 5, "after": middle},
        "last": {"last": 5},
        "last before": {"last": 5, "before": middle},
    }.items():
        with statements(monkeypatch) as sent:
            body = await gql(client, query, variables, directory.tokens["admin"])
        assert "errors" not in body, body["errors"]
        counts[label] = len(sent)
    # the same in both directions, with or without a cursor: the page, then its departments
    # (on PostgreSQL one statement, the page joined with its departments)
    assert set(counts.values()) == {1 if ON_POSTGRES else 2}, counts
