"""``node(id:)`` and ``nodes(ids:)``: every type by its bare UUID, null for what the viewer may
not read (by the same rules as ``user(id:)`` and ``User.reviews``), order kept, batched."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from staffgraph.models import AuditAction, AuditEvent, User
from tests.conftest import error_codes, gql
from tests.permissions_org import Org, build_org
from tests.test_n_plus_one import statements

NODE = """
query($id: ID!) {
  node(id: $id) {
    __typename id
    ... on User { displayName }
    ... on Department { name }
    ... on Review { period shared subject { id } }
  }
}"""
NODES = """
query($ids: [ID!]!) {
  nodes(ids: $ids) { __typename id ... on User { email } ... on Review { summary } }
}"""
MISSING = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
async def org(app: Any) -> Org:
    return await build_org(app)


async def node(client: Any, org: Org, viewer: str, object_id: str) -> Any:
    body = await gql(client, NODE, {"id": object_id}, org.token(viewer))
    assert "errors" not in body, body["errors"]
    return body["data"]["node"]


async def test_each_type_comes_back_by_its_id(client, org):
    assert org.department is not None
    assert org.shared_review is not None
    user = await node(client, org, "colleague", org.id("target"))
    assert user == {"__typename": "User", "id": org.id("target"), "displayName": "Target"}
    department = await node(client, org, "colleague", str(org.department.id))
    assert department == {
        "__typename": "Department",
        "id": str(org.department.id),
        "name": "Engineering",
    }
    review = await node(client, org, "manager", str(org.shared_review.id))
    assert review == {
        "__typename": "Review",
        "id": str(org.shared_review.id),
        "period": "2025-H2",
        "shared": True,
        "subject": {"id": org.id("target")},
    }


async def test_an_unknown_id_is_null(client, org):
    assert await node(client, org, "hr", MISSING) is None


@pytest.mark.parametrize(
    ("viewer", "visible"), [("target", False), ("manager", False), ("hr", True), ("admin", True)]
)
async def test_a_deactivated_user_is_a_node_for_hr_and_admin_only(client, org, viewer, visible):
    await User.filter(id=org.users["colleague"].id).update(is_active=False)
    found = await node(client, org, viewer, org.id("colleague"))
    assert (found is not None) is visible
    # the same answer as user(id:)
    body = await gql(
        client,
        "query($id: ID!) { user(id: $id) { id } }",
        {"id": org.id("colleague")},
        org.token(viewer),
    )
    assert (body["data"]["user"] is not None) is visible


# (viewer, reads the shared review, reads the private one): as `User.reviews` of the subject
REVIEW_READERS = [
    ("target", True, False),  # the subject: shared reviews only
    ("colleague", False, False),
    ("manager", True, True),  # the reviewer, in the chain
    ("director", True, True),
    ("skip", True, True),  # in the chain without MANAGER: reviews need only the chain
    ("hr", True, True),
    ("admin", False, False),  # ADMIN alone may not read reviews
]


@pytest.mark.parametrize(("viewer", "shared", "private"), REVIEW_READERS)
async def test_a_review_is_a_node_exactly_when_user_reviews_shows_it(
    client, org, viewer, shared, private
):
    assert org.shared_review is not None
    assert org.private_review is not None
    got = {
        "shared": await node(client, org, viewer, str(org.shared_review.id)) is not None,
        "private": await node(client, org, viewer, str(org.private_review.id)) is not None,
    }
    assert got == {"shared": shared, "private": private}
    # User.reviews answers the same for the same viewer
    body = await gql(
        client,
        "query($id: ID!) { user(id: $id) { reviews { id } } }",
        {"id": org.id("target")},
        org.token(viewer),
    )
    listed = {r["id"] for r in body["data"]["user"]["reviews"] or []}
    assert (str(org.shared_review.id) in listed, str(org.private_review.id) in listed) == (
        shared,
        private,
    )


@pytest.mark.parametrize(("viewer", "visible"), [("manager", False), ("hr", True)])
async def test_the_review_of_a_deactivated_user_follows_its_subject(client, org, viewer, visible):
    assert org.shared_review is not None
    await User.filter(id=org.users["target"].id).update(is_active=False)
    found = await node(client, org, viewer, str(org.shared_review.id))
    assert (found is not None) is visible


async def test_an_unreadable_node_is_not_audited_as_a_denial(client, org):
    assert org.private_review is not None
    before = await AuditEvent.filter(action=AuditAction.ACCESS_DENIED).count()
    assert await node(client, org, "colleague", str(org.private_review.id)) is None
    assert await AuditEvent.filter(action=AuditAction.ACCESS_DENIED).count() == before


async def test_nodes_keep_the_order_and_put_null_where_nothing_is_readable(client, org):
    assert org.department is not None
    assert org.private_review is not None
    ids = [
        str(org.private_review.id),  # not readable by the subject: unshared
        org.id("hr"),
        MISSING,
        str(org.department.id),
        org.id("target"),
        org.id("hr"),  # asked twice, answered twice
    ]
    body = await gql(client, NODES, {"ids": ids}, org.token("target"))
    assert "errors" not in body, body["errors"]
    assert body["data"]["nodes"] == [
        None,
        {"__typename": "User", "id": org.id("hr"), "email": "hr@example.com"},
        None,
        {"__typename": "Department", "id": str(org.department.id)},
        {"__typename": "User", "id": org.id("target"), "email": "target@example.com"},
        {"__typename": "User", "id": org.id("hr"), "email": "hr@example.com"},
    ]
    assert (await gql(client, NODES, {"ids": []}, org.token("target")))["data"] == {"nodes": []}


async def test_nodes_take_at_most_100_ids(client, org):
    hundred = [org.id("target")] * 100
    body = await gql(client, NODES, {"ids": hundred}, org.token("colleague"))
    assert len(body["data"]["nodes"]) == 100
    body = await gql(client, NODES, {"ids": [*hundred, MISSING]}, org.token("colleague"))
    assert body["data"] is None
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "ids"}


async def test_a_malformed_id_is_bad_input(client, org):
    body = await gql(client, NODE, {"id": "not-a-uuid"}, org.token("hr"))
    assert body["data"] == {"node": None}
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "id"}
    body = await gql(client, NODES, {"ids": [org.id("hr"), "nope"]}, org.token("hr"))
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "ids"}


async def test_node_needs_a_viewer(client, org):
    body = await gql(client, NODE, {"id": org.id("target")})
    assert body["data"] == {"node": None}
    assert error_codes(body) == ["UNAUTHENTICATED"]
    body = await gql(client, NODES, {"ids": [org.id("target")]})
    assert body["data"] is None
    assert error_codes(body) == ["UNAUTHENTICATED"]


@pytest.mark.parametrize("viewer", ["hr", "manager"])
async def test_nodes_are_looked_up_in_batches(client, org, monkeypatch, viewer):
    assert org.department is not None
    assert org.private_review is not None
    assert org.shared_review is not None
    few = [org.id("target"), str(org.department.id), str(org.shared_review.id)]
    many = [
        *(org.id(name) for name in org.users),
        str(org.department.id),
        str(org.shared_review.id),
        str(org.private_review.id),
        *(str(uuid.uuid4()) for _ in range(80)),
    ]
    counts = []
    for ids in (few, many):
        with statements(monkeypatch) as sent:
            body = await gql(client, NODES, {"ids": ids}, org.token(viewer))
        assert "errors" not in body, body["errors"]
        counts.append(len(sent))
    # users, departments, reviews by id (one IN each), the reviews' subjects are users
    # found already; a manager's reviews also need their management subtree (one query)
    assert counts[0] == counts[1] <= (4 if viewer == "manager" else 3), counts


async def test_one_node_costs_one_query_per_table_it_looks_in(client, org, monkeypatch):
    assert org.department is not None
    assert org.shared_review is not None
    expected = {org.id("target"): 1, str(org.department.id): 2, str(org.shared_review.id): 4}
    for object_id, count in expected.items():
        with statements(monkeypatch) as sent:
            assert await node(client, org, "hr", object_id) is not None
        # a review: users, departments, reviews, then its subject (HR needs no subtree)
        assert len(sent) == count, (object_id, sent)
