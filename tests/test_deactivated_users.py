"""One rule for deactivated users on every path that reaches a user: hidden (null, or left
out of a list) for everyone but HR and ADMIN, who see them with ``isActive: false``.

The organisation is built row by row, so that every path has a deactivated user at its end:
a manager, a report, a department head and member, a review's reviewer and subject.
"""

from __future__ import annotations

from typing import Any

import pytest

from staffgraph.models import Department, Review, Role, User
from tests.conftest import gql, make_user, token_for


class Org:
    users: dict[str, User]
    tokens: dict[str, str]
    department: Department
    review_by_gone: Review
    review_of_gone: Review


@pytest.fixture
async def org(app: Any) -> Org:
    org = Org()
    org.department = await Department.create(name="Engineering")
    people: dict[str, User] = {}
    people["hr"] = await make_user("hr@example.com", (Role.HR,), password=None)
    people["boss"] = await make_user("boss@example.com", (Role.MANAGER,), password=None)
    people["gone_manager"] = await make_user(
        "gone.manager@example.com", (Role.MANAGER,), password=None, is_active=False
    )
    people["orphan"] = await make_user(
        "orphan@example.com", password=None, manager=people["gone_manager"]
    )
    people["report"] = await make_user("report@example.com", password=None, manager=people["boss"])
    people["gone_report"] = await make_user(
        "gone.report@example.com",
        password=None,
        manager=people["boss"],
        department=org.department,
        is_active=False,
    )
    people["member"] = await make_user(
        "member@example.com", password=None, department=org.department
    )
    people["gone_head"] = await make_user("gone.head@example.com", password=None, is_active=False)
    await Department.filter(id=org.department.id).update(head_id=people["gone_head"].id)
    org.review_by_gone = await Review.create(
        subject=people["orphan"],
        reviewer=people["gone_manager"],
        period="2026-H1",
        rating=4,
        summary="Solid half.",
        shared=True,
    )
    org.review_of_gone = await Review.create(
        subject=people["gone_report"],
        reviewer=people["boss"],
        period="2026-H1",
        rating=3,
        summary="Fine.",
    )
    org.users = people
    org.tokens = {name: await token_for(app, people[name]) for name in ("hr", "boss", "orphan")}
    return org


def sees(viewer: str) -> bool:
    return viewer == "hr"


VIEWERS = ["orphan", "boss", "hr"]


async def ask(client: Any, org: Org, viewer: str, query: str, **variables: Any) -> Any:
    body = await gql(client, query, variables, org.tokens[viewer])
    assert "errors" not in body, body
    return body["data"]


@pytest.mark.parametrize("viewer", VIEWERS)
async def test_user_by_id(client, org, viewer):
    data = await ask(
        client,
        org,
        viewer,
        "query($id: ID!) { user(id: $id) { email } }",
        id=str(org.users["gone_report"].id),
    )
    assert data["user"] == ({"email": "gone.report@example.com"} if sees(viewer) else None)


@pytest.mark.parametrize("viewer", VIEWERS)
async def test_manager(client, org, viewer):
    data = await ask(
        client,
        org,
        viewer,
        "query($id: ID!) { user(id: $id) { manager { email } } }",
        id=str(org.users["orphan"].id),
    )
    expected = {"email": "gone.manager@example.com"} if sees(viewer) else None
    assert data["user"]["manager"] == expected


@pytest.mark.parametrize("viewer", VIEWERS)
async def test_reports(client, org, viewer):
    data = await ask(
        client,
        org,
        viewer,
        "query($id: ID!) { user(id: $id) { reports { email } } }",
        id=str(org.users["boss"].id),
    )
    emails = sorted(r["email"] for r in data["user"]["reports"])
    hidden = [] if not sees(viewer) else ["gone.report@example.com"]
    assert emails == sorted(["report@example.com", *hidden])


@pytest.mark.parametrize("viewer", VIEWERS)
async def test_department_head_and_members(client, org, viewer):
    data = await ask(
        client,
        org,
        viewer,
        """query($id: ID!) { department(id: $id) {
             head { email } members { totalCount edges { node { email } } } } }""",
        id=str(org.department.id),
    )
    department = data["department"]
    assert department["head"] == ({"email": "gone.head@example.com"} if sees(viewer) else None)
    members = sorted(e["node"]["email"] for e in department["members"]["edges"])
    hidden = [] if not sees(viewer) else ["gone.report@example.com"]
    assert members == sorted(["member@example.com", *hidden])
    assert department["members"]["totalCount"] == len(members)


@pytest.mark.parametrize("viewer", ["orphan", "hr"])  # the subject, and HR
async def test_review_reviewer(client, org, viewer):
    data = await ask(
        client,
        org,
        viewer,
        "query($id: ID!) { user(id: $id) { reviews { id reviewer { email isActive } } } }",
        id=str(org.users["orphan"].id),
    )
    [review] = data["user"]["reviews"]
    assert review["id"] == str(org.review_by_gone.id)
    expected = {"email": "gone.manager@example.com", "isActive": False}
    assert review["reviewer"] == (expected if sees(viewer) else None)


async def test_review_subject_for_the_reviewer(client, org):
    # the reviewer (a MANAGER, not HR) reaches the review through shareReview
    body = await gql(
        client,
        "mutation($id: ID!) { shareReview(id: $id) { shared subject { email } } }",
        {"id": str(org.review_of_gone.id)},
        org.tokens["boss"],
    )
    assert body == {"data": {"shareReview": {"shared": True, "subject": None}}}


async def test_review_subject_for_hr(client, org):
    data = await ask(
        client,
        org,
        "hr",
        "query($id: ID!) { user(id: $id) { reviews { subject { email isActive } } } }",
        id=str(org.users["gone_report"].id),
    )
    assert data["user"]["reviews"] == [
        {"subject": {"email": "gone.report@example.com", "isActive": False}}
    ]
