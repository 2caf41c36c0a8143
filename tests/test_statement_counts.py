"""Every list field costs a fixed number of SQL statements, at most 4, whatever its size.

Each test reads one list field (nested under a list parent where the schema allows) over a
directory of 10 units, grows the directory to 50 and reads it again: the answer must be right
both times and the statements the same few. A unit is a department headed by a lead (MANAGER,
under the boss) with two reports in it, one deactivated; a review of the lead by the boss, an
open and a revoked session of the lead, and an audit event the lead caused.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from staffgraph.models import AuditAction, AuditEvent, Department, Review, Role, Session, User
from staffgraph.settings import Settings
from tests.conftest import gql, make_user, token_for
from tests.conftest import test_settings as settings_for
from tests.test_n_plus_one import statements

SIZES = (10, 50)
#: the most statements one list field may cost, whatever its size
MOST = 4
PAGE_INFO = "pageInfo { hasNextPage hasPreviousPage startCursor endCursor }"


@dataclass
class Unit:
    department: Department
    lead: User
    #: the lead's reports in the order they were created: the deactivated one first
    hidden: User
    shown: User
    review: Review
    session: Session
    event: AuditEvent


@dataclass
class Directory:
    boss: User
    tokens: dict[str, str]
    units: list[Unit] = field(default_factory=list)

    async def grow(self, size: int) -> None:
        """Add units until there are ``size`` of them."""
        now = datetime.now(UTC)
        while len(self.units) < size:
            i = len(self.units)
            department = await Department.create(name=f"Dept {i:03d}")
            lead = await make_user(
                f"lead{i:03d}@example.com",
                (Role.MANAGER,),
                password=None,
                manager=self.boss,
                department=department,
                salary=100_000 + i,
            )
            department.head = lead
            await department.save(update_fields=["head_id"])
            # created before the active report: a page that numbered rows before dropping
            # deactivated ones would come out short for a colleague
            hidden = await make_user(
                f"gone{i:03d}@example.com",
                password=None,
                manager=lead,
                department=department,
                is_active=False,
            )
            shown = await make_user(
                f"here{i:03d}@example.com", password=None, manager=lead, department=department
            )
            review = await Review.create(
                subject=lead, reviewer=self.boss, period="2026-H1", rating=4, summary=f"r{i}"
            )
            session = await Session.create(
                user=lead, expires_at=now + timedelta(days=1), user_agent=f"agent {i}"
            )
            await Session.create(
                user=lead, expires_at=now + timedelta(days=1), revoked_at=now, user_agent="gone"
            )
            event = await AuditEvent.create(
                action=AuditAction.USER_UPDATED, actor=lead, target_id=lead.id, detail=f"e{i}"
            )
            self.units.append(Unit(department, lead, hidden, shown, review, session, event))

    def members(self, unit: Unit, viewer: str) -> list[User]:
        """The unit's department members a viewer sees, in connection order."""
        everyone = [unit.lead, unit.hidden, unit.shown]
        return everyone if viewer in ("hr", "admin") else [u for u in everyone if u.is_active]


@pytest.fixture
def settings(database_url: str, redis_url: str | None) -> Settings:
    """The test settings with room in the cost budget for 50 users' reviews with their subject
    and reviewer: the budget is not what these tests are about."""
    return settings_for(database_url=database_url, redis_url=redis_url, max_cost=20_000)


@pytest.fixture
async def directory(app: Any) -> Directory:
    """The boss (MANAGER), HR, ADMIN and a colleague (EMPLOYEE), and no unit yet."""
    boss = await make_user("boss@example.com", (Role.MANAGER,), password=None)
    viewers = {
        "boss": boss,
        "hr": await make_user("hr@example.com", (Role.HR,), password=None),
        "admin": await make_user("admin@example.com", (Role.ADMIN,), password=None),
        "colleague": await make_user("colleague@example.com", password=None),
    }
    tokens = {name: await token_for(app, user) for name, user in viewers.items()}
    return Directory(boss, tokens)


Check = Callable[[dict[str, Any], int], None]


async def costs(
    client: Any,
    monkeypatch: pytest.MonkeyPatch,
    directory: Directory,
    query: str | Callable[[Directory], Awaitable[tuple[str, dict[str, Any]]]],
    viewer: str,
    check: Check,
) -> list[int]:
    """The statements ``query`` costs at each of :data:`SIZES` (``check`` judges each
    answer); fails when one costs more than :data:`MOST` or the two differ."""
    counts = []
    for size in SIZES:
        await directory.grow(size)
        if isinstance(query, str):
            document, variables = query, {"n": size, "boss": str(directory.boss.id)}
        else:
            document, variables = await query(directory)
        with statements(monkeypatch) as sent:
            body = await gql(client, document, variables, directory.tokens[viewer])
        assert "errors" not in body, body["errors"][:2]
        check(body["data"], size)
        counts.append(len(sent))
        assert len(sent) <= MOST, (size, sent)
    assert counts[0] == counts[1], counts
    return counts


def leads_page(data: dict[str, Any], size: int) -> list[dict[str, Any]]:
    nodes = [edge["node"] for edge in data["users"]["edges"]]
    assert len(nodes) == size
    return nodes


LEADS = """
query($n: Int, $boss: ID) { users(first: $n, filter: {managerId: $boss}) {
  %s edges { cursor node { id %s } } } }"""


async def test_users(client, directory, monkeypatch):
    def check(data: dict[str, Any], size: int) -> None:
        nodes = leads_page(data, size)
        assert [n["email"] for n in nodes] == [u.lead.email for u in directory.units]
        assert [n["department"]["name"] for n in nodes] == [
            u.department.name for u in directory.units
        ]
        assert {n["manager"]["id"] for n in nodes} == {str(directory.boss.id)}
        assert data["users"]["totalCount"] == size
        assert data["users"]["pageInfo"]["hasNextPage"] is False

    query = LEADS % ("totalCount " + PAGE_INFO, "email department { name } manager { id }")
    await costs(client, monkeypatch, directory, query, "colleague", check)


DEPARTMENTS = f"""
query($first: Int, $after: String, $last: Int, $before: String) {{ departments {{
  id name head {{ email }}
  members(first: $first, after: $after, last: $last, before: $before) {{
    totalCount {PAGE_INFO} edges {{ cursor node {{ id email }} }} }} }} }}"""

REFERENCE = f"""
query($d: ID, $first: Int, $after: String, $last: Int, $before: String) {{
  users(first: $first, after: $after, last: $last, before: $before, filter: {{departmentId: $d}}) {{
    totalCount {PAGE_INFO} edges {{ cursor node {{ id email }} }} }} }}"""


@pytest.mark.parametrize("viewer", ["colleague", "hr"])
async def test_departments_with_head_and_members(client, directory, monkeypatch, viewer):
    def check(data: dict[str, Any], size: int) -> None:
        departments = data["departments"]
        assert [d["name"] for d in departments] == [u.department.name for u in directory.units]
        for department, unit in zip(departments, directory.units, strict=True):
            assert department["head"] == {"email": unit.lead.email}
            members = directory.members(unit, viewer)
            page = department["members"]
            # a colleague sees the lead and the active report: the whole list, counted alike
            assert [e["node"]["email"] for e in page["edges"]] == [u.email for u in members[:2]]
            assert page["totalCount"] == len(members)
            assert page["pageInfo"]["hasNextPage"] is (len(members) > 2)
            assert page["pageInfo"]["hasPreviousPage"] is False
            assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]

    async def query(directory: Directory) -> tuple[str, dict[str, Any]]:
        return DEPARTMENTS, {"first": 2}

    await costs(client, monkeypatch, directory, query, viewer, check)


SHAPES = ["first", "first-after", "after-hidden", "last", "last-before", "after-before"]


async def cursors(client: Any, directory: Directory, unit: int) -> list[str]:
    """The cursors of a unit's department members, as HR sees them."""
    department_id = str(directory.units[unit].department.id)
    body = await gql(client, REFERENCE, {"d": department_id}, directory.tokens["hr"])
    return [e["cursor"] for e in body["data"]["users"]["edges"]]


async def paging(client: Any, directory: Directory, shape: str) -> dict[str, Any]:
    """The arguments of one shape of page, with cursors of the 4th unit's members (the lead,
    the deactivated report, the active one): inside that department, after every earlier
    department's members and before every later one's."""
    lead, hidden, shown = await cursors(client, directory, 3)
    return {
        "first": {"first": 2},
        "first-after": {"first": 1, "after": lead},
        # a colleague does not see the row of this cursor: no previous page for them
        "after-hidden": {"first": 1, "after": hidden},
        "last": {"last": 2},
        "last-before": {"last": 1, "before": shown},
        # from inside the 4th department to the 6th's lead: a part, all, none of a department
        "after-before": {
            "first": 5,
            "after": lead,
            "before": (await cursors(client, directory, 5))[0],
        },
    }[shape]


@pytest.mark.parametrize("viewer", ["colleague", "hr"])
@pytest.mark.parametrize("shape", SHAPES)
async def test_members_pages_as_users_of_each_department(
    client, directory, monkeypatch, viewer, shape
):
    """Each department's members page is the page ``users`` filtered by that department gives
    for the same arguments, one department at a time: nodes, cursors, pageInfo, totalCount."""
    expected: dict[str, Any] = {}

    async def query(directory: Directory) -> tuple[str, dict[str, Any]]:
        variables = await paging(client, directory, shape)
        expected.clear()
        for unit in directory.units:
            department_id = str(unit.department.id)
            body = await gql(
                client, REFERENCE, {"d": department_id, **variables}, directory.tokens[viewer]
            )
            expected[department_id] = body["data"]["users"]
        return DEPARTMENTS, variables

    def check(data: dict[str, Any], size: int) -> None:
        pages = {d["id"]: d["members"] for d in data["departments"]}
        assert len(pages) == size
        assert pages == expected
        # the cursors bound the pages: some departments show fewer members than they have
        shown = [len(p["edges"]) for p in pages.values()]
        assert shape in ("first", "last") or min(shown) < max(shown)

    await costs(client, monkeypatch, directory, query, viewer, check)


async def test_members_of_each_users_department(client, directory, monkeypatch):
    def check(data: dict[str, Any], size: int) -> None:
        nodes = leads_page(data, size)
        for node, unit in zip(nodes, directory.units, strict=True):
            page = node["department"]["members"]
            assert [e["node"]["email"] for e in page["edges"]] == [unit.lead.email]
            assert page["totalCount"] == 2
            assert page["pageInfo"]["hasNextPage"] is True

    fields = "department { members(first: 1) { totalCount %s edges { node { email } } } }"
    query = LEADS % ("", fields % PAGE_INFO)
    await costs(client, monkeypatch, directory, query, "colleague", check)


@pytest.mark.parametrize("viewer", ["colleague", "hr"])
async def test_reports_of_every_user_on_a_page(client, directory, monkeypatch, viewer):
    def check(data: dict[str, Any], size: int) -> None:
        nodes = leads_page(data, size)
        for node, unit in zip(nodes, directory.units, strict=True):
            reports = [u.email for u in directory.members(unit, viewer)[1:]]
            assert sorted(r["email"] for r in node["reports"]) == sorted(reports)

    query = LEADS % ("", "reports { email }")
    await costs(client, monkeypatch, directory, query, viewer, check)


async def test_reviews_of_every_user_on_a_page(client, directory, monkeypatch):
    def check(data: dict[str, Any], size: int) -> None:
        nodes = leads_page(data, size)
        for node, unit in zip(nodes, directory.units, strict=True):
            assert node["reviews"] == [
                {
                    "id": str(unit.review.id),
                    "summary": unit.review.summary,
                    "subject": {"email": unit.lead.email},
                    "reviewer": {"email": directory.boss.email},
                }
            ]

    query = LEADS % ("", "reviews { id summary subject { email } reviewer { email } }")
    await costs(client, monkeypatch, directory, query, "hr", check)


async def test_sessions_of_every_user_on_a_page(client, directory, monkeypatch):
    def check(data: dict[str, Any], size: int) -> None:
        nodes = leads_page(data, size)
        for node, unit in zip(nodes, directory.units, strict=True):
            # the revoked one is not open
            assert node["sessions"] == [
                {"id": str(unit.session.id), "userAgent": unit.session.user_agent}
            ]

    query = LEADS % ("", "sessions { id userAgent }")
    await costs(client, monkeypatch, directory, query, "admin", check)


@pytest.mark.parametrize("viewer", ["hr", "admin"])
async def test_roles_of_every_user_on_a_page(client, directory, monkeypatch, viewer):
    def check(data: dict[str, Any], size: int) -> None:
        assert [n["roles"] for n in leads_page(data, size)] == [["MANAGER"]] * size

    await costs(client, monkeypatch, directory, LEADS % ("", "roles"), viewer, check)


async def test_audit_events_with_their_actor(client, directory, monkeypatch):
    def check(data: dict[str, Any], size: int) -> None:
        page = data["auditEvents"]
        newest_first = directory.units[::-1]
        assert [e["node"]["detail"] for e in page["edges"]] == [
            u.event.detail for u in newest_first
        ]
        assert [e["node"]["actor"] for e in page["edges"]] == [
            {"email": u.lead.email} for u in newest_first
        ]
        assert page["totalCount"] == size
        assert page["pageInfo"]["hasNextPage"] is False

    query = f"""query($n: Int) {{ auditEvents(first: $n, action: USER_UPDATED) {{
      totalCount {PAGE_INFO} edges {{ node {{ detail actor {{ email }} }} }} }} }}"""
    await costs(client, monkeypatch, directory, query, "admin", check)


NODES = """query($ids: [ID!]!) { nodes(ids: $ids) {
  __typename id
  ... on User { email }
  ... on Department { name }
  ... on Review { summary subject { email } }
} }"""


async def test_nodes_of_mixed_ids(client, directory, monkeypatch):
    """Users, departments and reviews of different units (so a review's subject is not among
    the users asked for), and an id of nothing."""
    asked: list[tuple[str, Any, dict[str, Any]]] = []

    async def query(directory: Directory) -> tuple[str, dict[str, Any]]:
        asked.clear()
        for i, unit in enumerate(directory.units):
            kind = ("User", "Department", "Review")[i % 3]
            if kind == "User":
                asked.append((kind, unit.lead.id, {"email": unit.lead.email}))
            elif kind == "Department":
                asked.append((kind, unit.department.id, {"name": unit.department.name}))
            else:
                expected = {"summary": unit.review.summary, "subject": {"email": unit.lead.email}}
                asked.append((kind, unit.review.id, expected))
        asked.append(("", uuid.uuid4(), {}))
        return NODES, {"ids": [str(key) for _, key, _ in asked]}

    def check(data: dict[str, Any], size: int) -> None:
        *found, nothing = data["nodes"]
        assert len(found) == size
        for node, (kind, key, rest) in zip(found, asked, strict=False):
            assert node == {"__typename": kind, "id": str(key), **rest}
        assert nothing is None

    await costs(client, monkeypatch, directory, query, "hr", check)


CAN = "viewerCan { read update setSalary setRoles deactivate review }"


@pytest.mark.parametrize("viewer", ["hr", "boss"])
async def test_viewer_can_on_a_page_of_users(client, directory, monkeypatch, viewer):
    def check(data: dict[str, Any], size: int) -> None:
        for node in leads_page(data, size):
            can = node["viewerCan"]
            if viewer == "hr":
                assert (can["update"], can["setSalary"], can["setRoles"]) == (True, True, False)
                assert (can["deactivate"], can["review"]) == (True, False)
                assert {"salary", "homeAddress", "roles", "reviews"} <= set(can["read"])
            else:
                assert not any(can[k] for k in ("update", "setSalary", "setRoles", "deactivate"))
                assert can["review"] is True
                assert {"salary", "phone", "reviews"} <= set(can["read"])
                assert "homeAddress" not in can["read"]

    counts = await costs(client, monkeypatch, directory, LEADS % ("", CAN), viewer, check)
    # the page, and for the boss their subtree
    assert counts[0] == (1 if viewer == "hr" else 2)
