"""ACCESS_DENIED events: written for denied sensitive fields and denied mutations, at most
MAX_AUDITED_DENIALS_PER_REQUEST per request, never for anonymous requests."""

from __future__ import annotations

from typing import Any

import pytest

from staffgraph.models import AuditAction, AuditEvent
from staffgraph.permissions.guard import MAX_AUDITED_DENIALS_PER_REQUEST
from tests.conftest import gql
from tests.permissions_org import Org, build_org


@pytest.fixture
async def org(app: Any) -> Org:
    return await build_org(app)


async def denials() -> list[AuditEvent]:
    return list(await AuditEvent.filter(action=AuditAction.ACCESS_DENIED).order_by("detail"))


async def test_a_denied_sensitive_field_is_audited(client, org):
    body = await gql(
        client,
        "query($id: ID!) { user(id: $id) { salary displayName } }",
        {"id": org.id("target")},
        org.token("colleague"),
    )
    assert body["data"]["user"]["displayName"] == "Target"
    [event] = await denials()
    assert event.actor_id == org.users["colleague"].id
    assert event.target_id == org.users["target"].id
    assert event.detail == "salary requires self | HR | (MANAGER & management chain)"
    assert event.ip_address == "127.0.0.1"
    assert str(org.users["target"].salary) not in (event.detail or "")


@pytest.mark.parametrize("field", ["phone", "homeAddress", "dateOfBirth", "salary"])
async def test_every_private_field_is_audited(client, org, field):
    await gql(
        client,
        f"query($id: ID!) {{ user(id: $id) {{ {field} }} }}",
        {"id": org.id("target")},
        org.token("admin" if field != "salary" else "colleague"),
    )
    [event] = await denials()
    assert (event.detail or "").startswith(f"{field} requires ")


async def test_reviews_and_sessions_denials_are_audited(client, org):
    await gql(
        client,
        "query($id: ID!) { user(id: $id) { reviews { id } sessions { id } } }",
        {"id": org.id("target")},
        org.token("colleague"),
    )
    details = [e.detail for e in await denials()]
    assert details == [
        "reviews requires self | HR | management chain",
        "sessions requires self | ADMIN",
    ]


async def test_denied_directory_fields_are_not_audited(client, org):
    body = await gql(
        client,
        "query($id: ID!) { user(id: $id) { roles isActive lastLoginAt } }",
        {"id": org.id("target")},
        org.token("colleague"),
    )
    assert len(body["errors"]) == 3
    assert await denials() == []


async def test_anonymous_requests_write_nothing(client, org):
    await gql(client, "query($id: ID!) { user(id: $id) { salary } }", {"id": org.id("target")})
    await gql(
        client,
        "mutation($id: ID!) { setSalary(userId: $id, salary: 1) { id } }",
        {"id": org.id("target")},
    )
    assert await AuditEvent.all().count() == 0


async def test_one_request_writes_a_bounded_number_of_events(client, org):
    query = "{ users(first: 50) { edges { node { salary phone homeAddress dateOfBirth } } } }"
    body = await gql(client, query, token=org.token("colleague"))
    denied = len(body["errors"])
    assert denied == 4 * (len(org.users) - 1)  # every field of everyone but the colleague
    events = await AuditEvent.filter(action=AuditAction.ACCESS_DENIED).order_by("at", "id")
    assert len(events) == MAX_AUDITED_DENIALS_PER_REQUEST
    dropped = denied - MAX_AUDITED_DENIALS_PER_REQUEST
    marked = [e for e in events if f"(and {dropped} more denials" in (e.detail or "")]
    assert len(marked) == 1


async def test_the_bound_is_per_request(client, org):
    query = "{ users(first: 50) { edges { node { salary homeAddress dateOfBirth } } } }"
    await gql(client, query, token=org.token("colleague"))
    await gql(client, query, token=org.token("colleague"))
    count = await AuditEvent.filter(action=AuditAction.ACCESS_DENIED).count()
    assert count == 2 * MAX_AUDITED_DENIALS_PER_REQUEST


async def test_a_denied_mutation_is_audited(client, org):
    body = await gql(
        client,
        "mutation($id: ID!) { setSalary(userId: $id, salary: 1) { salary } }",
        {"id": org.id("target")},
        org.token("manager"),
    )
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    [event] = await denials()
    assert event.detail == "setSalary requires HR & not self"
    assert event.actor_id == org.users["manager"].id
