"""``viewerCan``, ``viewerCanShare``, ``viewerCanRevoke``: each answer is what trying the
mutation then does, for the same viewer and target; asking denies nothing and audits nothing.

``viewerCan.read`` against every field of every pair of the permission matrix is in
tests/test_permissions_matrix.py.
"""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any

import pytest

from staffgraph.context import Context, Viewer
from staffgraph.loaders import Loaders
from staffgraph.models import AuditAction, AuditEvent, Role, Session
from staffgraph.permissions import policy as p
from staffgraph.permissions.install import guard_of
from staffgraph.schema import build_schema
from staffgraph.schema.types import USER_ACTIONS
from tests.conftest import gql
from tests.permissions_org import Org, build_org
from tests.test_n_plus_one import statements

CAN = """
query($id: ID!) {
  user(id: $id) { viewerCan { read update setSalary setRoles deactivate review } }
}"""
#: capability -> the mutation it predicts, as (document, variables for a target id)
TRIES: dict[str, tuple[str, Any]] = {
    "update": (
        'mutation($id: ID!) { updateUser(id: $id, input: {jobTitle: "Lead"}) { id } }',
        lambda target: {"id": target},
    ),
    "setSalary": (
        "mutation($id: ID!) { setSalary(userId: $id, salary: 61000) { id } }",
        lambda target: {"id": target},
    ),
    "setRoles": (
        "mutation($id: ID!) { setRoles(userId: $id, roles: [EMPLOYEE, MANAGER]) { id } }",
        lambda target: {"id": target},
    ),
    "deactivate": (
        "mutation($id: ID!) { deactivateUser(userId: $id) { id } }",
        lambda target: {"id": target},
    ),
    "review": (
        "mutation($input: CreateReviewInput!) { createReview(input: $input) { id } }",
        lambda target: {
            "input": {"subjectId": target, "period": "2026-Q4", "rating": 4, "summary": "Good."}
        },
    ),
}
# (capability, viewer, target, expected): the pairs the issue names, and their opposites
PAIRS = [
    ("update", "hr", "target", True),
    ("update", "admin", "target", False),
    ("update", "manager", "target", False),
    ("setSalary", "hr", "target", True),
    ("setSalary", "hr", "hr", False),  # never one's own pay
    ("setSalary", "manager", "target", False),
    ("setSalary", "admin", "target", False),
    ("setRoles", "admin", "target", True),
    ("setRoles", "hr", "target", False),
    ("setRoles", "target", "target", False),
    ("deactivate", "hr", "colleague", True),
    ("deactivate", "admin", "colleague", True),
    ("deactivate", "hr", "hr", False),  # never oneself
    ("deactivate", "manager", "target", False),
    ("review", "manager", "target", True),  # MANAGER, direct manager
    ("review", "director", "target", True),  # MANAGER, higher in the chain
    ("review", "skip", "target", False),  # in the chain without MANAGER
    ("review", "manager", "hr", False),  # MANAGER outside the chain
    ("review", "hr", "target", False),
]


@pytest.fixture
async def org(app: Any) -> Org:
    return await build_org(app)


async def capabilities(client: Any, org: Org, viewer: str, target: str) -> dict[str, Any]:
    body = await gql(client, CAN, {"id": org.id(target)}, org.token(viewer))
    assert "errors" not in body, body["errors"]
    found: dict[str, Any] = body["data"]["user"]["viewerCan"]
    return found


async def outcome(client: Any, document: str, variables: Any, token: str | None) -> bool:
    """True when the mutation ran, False when its rule refused it."""
    body = await gql(client, document, variables, token)
    if "errors" not in body:
        return True
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"], body["errors"]
    return False


@pytest.mark.parametrize(("capability", "viewer", "target", "expected"), PAIRS)
async def test_a_capability_is_what_the_mutation_then_does(
    client, org, capability, viewer, target, expected
):
    told = (await capabilities(client, org, viewer, target))[capability]
    assert told is expected
    document, variables = TRIES[capability]
    assert await outcome(client, document, variables(org.id(target)), org.token(viewer)) is told


def test_capabilities_ask_the_rules_the_mutations_are_guarded_with():
    mutation = build_schema()._schema.type_map["Mutation"]
    for _, (name, rule) in USER_ACTIONS.items():
        assert guard_of(mutation.fields[name]).rule is rule, name
    assert guard_of(mutation.fields["shareReview"]).rule is p.SHARE_REVIEW
    assert guard_of(mutation.fields["revokeSession"]).rule is p.REVOKE_SESSION


REVIEWS = """
query($id: ID!) { user(id: $id) { reviews { id shared viewerCanShare } } }"""
SHARE = "mutation($id: ID!) { shareReview(id: $id) { shared } }"


@pytest.mark.parametrize(
    ("viewer", "expected"),
    [("manager", True), ("director", False), ("skip", False), ("hr", False), ("target", False)],
)
async def test_only_the_reviewer_is_told_they_may_share(client, org, viewer, expected):
    body = await gql(client, REVIEWS, {"id": org.id("target")}, org.token(viewer))
    reviews = body["data"]["user"]["reviews"]
    assert reviews, body
    assert {r["viewerCanShare"] for r in reviews} == {expected}
    unshared = [r for r in reviews if not r["shared"]] or reviews  # the subject sees shared ones
    shared = await outcome(client, SHARE, {"id": unshared[0]["id"]}, org.token(viewer))
    assert shared is expected


SESSIONS = "query($id: ID!) { user(id: $id) { sessions { id viewerCanRevoke } } }"
REVOKE = "mutation($id: ID!) { revokeSession(id: $id) }"


@pytest.mark.parametrize("viewer", ["self", "admin"])
async def test_the_owner_and_admin_are_told_they_may_revoke(client, org, viewer):
    token = org.token("target" if viewer == "self" else viewer)
    body = await gql(client, SESSIONS, {"id": org.id("target")}, token)
    [session] = body["data"]["user"]["sessions"]
    assert session == {"id": str(org.sessions["target"]), "viewerCanRevoke": True}
    assert await gql(client, REVOKE, {"id": session["id"]}, token) == {
        "data": {"revokeSession": True}
    }


async def test_anyone_else_would_be_told_no(org):
    """``sessions`` is readable by the owner and ADMIN only, so nobody else reaches a Session
    over HTTP; the field's own resolver, as graphql-core calls it, says no to them."""
    field = build_schema()._schema.type_map["Session"].fields["viewerCanRevoke"]
    session = await Session.get(id=org.sessions["target"])
    answers = {}
    for name in ("colleague", "manager", "hr", "target", "admin"):
        user = org.users[name]
        roles = frozenset(Role(r) for r in org.roles[name])
        ctx = Context(services=None, loaders=Loaders(), viewer=Viewer(user.id, uuid.uuid4(), roles))
        answers[name] = await field.resolve(session, SimpleNamespace(context=ctx))
    assert answers == {
        "colleague": False,
        "manager": False,
        "hr": False,
        "target": True,
        "admin": True,
    }


async def test_asking_denies_nothing_and_audits_nothing(client, org):
    before = await AuditEvent.filter(action=AuditAction.ACCESS_DENIED).count()
    told = await capabilities(client, org, "colleague", "target")
    assert told == {
        "read": [
            "id",
            "displayName",
            "email",
            "jobTitle",
            "createdAt",
            "department",
            "manager",
            "reports",
            "viewerCan",
        ],
        "update": False,
        "setSalary": False,
        "setRoles": False,
        "deactivate": False,
        "review": False,
    }
    assert await AuditEvent.filter(action=AuditAction.ACCESS_DENIED).count() == before


async def test_a_page_of_capabilities_loads_the_chain_once(client, org, monkeypatch):
    query = """
    { users(first: 10) { edges { node {
        viewerCan { read update setSalary setRoles deactivate review }
    } } } }"""
    with statements(monkeypatch) as sent:
        body = await gql(client, query, token=org.token("director"))
    assert "errors" not in body, body["errors"]
    reviewable = [e["node"]["viewerCan"]["review"] for e in body["data"]["users"]["edges"]]
    assert reviewable.count(True) == 3  # manager, target, colleague
    # the page and the director's management subtree
    assert len(sent) == 2, sent
    assert sum("WITH RECURSIVE" in s.upper() for s in sent) == 1
