"""Subscriptions against real servers: every event resolved for its subscriber through the
field rules, nothing published for what did not commit, sockets that end with their session,
fan-out across instances through Redis."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import TEST_REDIS_URL
from tests.live_server import LiveServer, create_user, live_server, token_lasting
from tests.ws_client import ws_session

pytestmark = pytest.mark.slow

PASSWORD = "live updates pass the same field rules"
PEOPLE = {
    "hr": ("hr@example.com", ["HR"], None),
    "boss": ("boss@example.com", ["MANAGER"], None),
    "target": ("target@example.com", ["EMPLOYEE"], "boss@example.com"),
    "peer": ("peer@example.com", ["EMPLOYEE"], None),
    "admin": ("admin@example.com", ["ADMIN"], None),
}
WATCH = "subscription ($id: ID!) { userUpdated(id: $id) { displayName salary phone } }"


def create_people(server: LiveServer, directory: Path) -> dict[str, str]:
    return {
        key: create_user(server, directory, email, key.title(), PASSWORD, tuple(roles), manager)
        for key, (email, roles, manager) in PEOPLE.items()
    }


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    directory = tmp_path_factory.mktemp("subscriptions")
    with live_server(directory, STAFFGRAPH_RATE_LIMIT="1000/minute") as server:
        yield server, create_people(server, directory)


async def gql(
    server: LiveServer,
    query: str,
    variables: dict[str, Any] | None = None,
    token: str | None = None,
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
        response = await client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
    body: dict[str, Any] = response.json()
    return body


async def sign_in(server: LiveServer, key: str) -> str:
    body = await gql(
        server,
        "mutation ($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }",
        {"e": PEOPLE[key][0], "p": PASSWORD},
    )
    assert "errors" not in body, body
    token: str = body["data"]["login"]["accessToken"]
    return token


async def next_payload(socket: Any, operation_id: str) -> dict[str, Any]:
    message = await socket.next_message(operation_id)
    assert message["type"] == "next", message
    payload: dict[str, Any] = message["payload"]
    return payload


def denied_paths(payload: dict[str, Any]) -> set[tuple[str, ...]]:
    return {
        tuple(e["path"])
        for e in payload.get("errors", [])
        if e["extensions"]["code"] == "FORBIDDEN"
    }


async def test_each_subscriber_sees_the_event_through_their_own_rules(org):
    server, ids = org
    tokens = {key: await sign_in(server, key) for key in ("hr", "boss", "target", "peer")}
    async with (
        ws_session(server.base_url, tokens["hr"]) as hr,
        ws_session(server.base_url, tokens["boss"]) as boss,
        ws_session(server.base_url, tokens["target"]) as target,
        ws_session(server.base_url, tokens["peer"]) as peer,
    ):
        sockets = {"hr": hr, "boss": boss, "target": target, "peer": peer}
        ops = {k: await s.subscribe(WATCH, {"id": ids["target"]}) for k, s in sockets.items()}
        await asyncio.sleep(0.3)  # the subscriptions are in place
        salary = 50_000 + int(time.time()) % 1000
        changed = await gql(
            server,
            "mutation ($id: ID!, $s: Int!) { setSalary(userId: $id, salary: $s) { id } }",
            {"id": ids["target"], "s": salary},
            tokens["hr"],
        )
        assert "errors" not in changed, changed
        got = {k: await next_payload(s, ops[k]) for k, s in sockets.items()}
    # HR, the manager (MANAGER & chain) and the subject read the salary; a colleague may not
    for key in ("hr", "boss", "target"):
        assert got[key]["data"]["userUpdated"]["salary"] == salary, got[key]
    assert got["peer"]["data"]["userUpdated"]["salary"] is None
    assert got["peer"]["data"]["userUpdated"]["displayName"] == "Target"
    assert denied_paths(got["peer"]) == {("userUpdated", "salary"), ("userUpdated", "phone")}
    assert denied_paths(got["hr"]) == set()
    assert denied_paths(got["boss"]) == set()  # phone: the chain


async def test_directory_changes_skip_users_the_subscriber_may_not_see(org):
    server, _ = org
    hr_token, peer_token = await sign_in(server, "hr"), await sign_in(server, "peer")
    created = await gql(
        server,
        "mutation ($i: CreateUserInput!) { createUser(input: $i) { id } }",
        {
            "i": {
                "email": f"new{uuid.uuid4().hex[:6]}@example.com",
                "displayName": "Newcomer",
                "password": PASSWORD,
            }
        },
        hr_token,
    )
    new_id = created["data"]["createUser"]["id"]
    query = "subscription { directoryChanged { kind user { id displayName isActive } } }"
    async with (
        ws_session(server.base_url, hr_token) as hr,
        ws_session(server.base_url, peer_token) as peer,
    ):
        hr_op, peer_op = await hr.subscribe(query), await peer.subscribe(query)
        await asyncio.sleep(0.3)
        await gql(
            server,
            "mutation ($id: ID!) { deactivateUser(userId: $id) { id } }",
            {"id": new_id},
            hr_token,
        )
        event = await next_payload(hr, hr_op)
        assert event["data"]["directoryChanged"] == {
            "kind": "DEACTIVATED",
            "user": {"id": new_id, "displayName": "Newcomer", "isActive": False},
        }
        # the colleague may not see deactivated users: nothing is delivered to them
        with pytest.raises(asyncio.TimeoutError):
            await peer.next_message(peer_op, within=1.0)


async def test_a_refused_mutation_publishes_nothing(org):
    server, ids = org
    peer_token = await sign_in(server, "peer")
    async with ws_session(server.base_url, peer_token) as peer:
        op = await peer.subscribe(WATCH, {"id": ids["target"]})
        await asyncio.sleep(0.3)
        refused = await gql(
            server,
            "mutation ($id: ID!) { setSalary(userId: $id, salary: 1) { id } }",
            {"id": ids["target"]},
            peer_token,
        )
        assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        bad = await gql(
            server,
            'mutation { updateMyProfile(input: {phone: "not a phone!"}) { id } }',
            token=peer_token,
        )
        assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        with pytest.raises(asyncio.TimeoutError):
            await peer.next_message(op, within=1.0)


async def test_logout_elsewhere_ends_every_subscription_and_closes_the_socket(org):
    server, ids = org
    token = await sign_in(server, "peer")
    async with ws_session(server.base_url, token) as socket:
        ended = await socket.subscribe("subscription { sessionEnded { sessionId reason } }")
        watch = await socket.subscribe(WATCH, {"id": ids["target"]})
        await asyncio.sleep(0.3)
        started = time.monotonic()
        assert (await gql(server, "mutation { logout }", token=token))["data"] == {"logout": True}
        first = await next_payload(socket, ended)
        assert first["data"]["sessionEnded"]["reason"] == "LOGOUT"
        for operation in (ended, watch):
            last = await next_payload(socket, operation)
            assert [
                (e["extensions"]["code"], e["extensions"]["reason"]) for e in last["errors"]
            ] == [("UNAUTHENTICATED", "token_revoked")]
        assert await socket.closed(within=2.0) == 4403
        assert time.monotonic() - started < 1.5


async def test_the_token_expiring_ends_the_subscriptions_without_any_client_message(org):
    server, ids = org
    now = int(time.time())
    short_lived = token_lasting(ids["peer"], 2)
    async with ws_session(server.base_url, short_lived) as socket:
        ended = await socket.subscribe("subscription { sessionEnded { reason } }")
        first = await next_payload(socket, ended)
        assert first["data"]["sessionEnded"]["reason"] == "EXPIRED"
        last = await next_payload(socket, ended)
        assert last["errors"][0]["extensions"]["reason"] == "token_expired"
        assert await socket.closed() == 4403
    assert time.time() < now + 4


async def test_anonymous_and_non_admin_subscriptions_are_refused(org):
    server, _ = org
    async with ws_session(server.base_url, None) as anonymous:
        body = await anonymous.query("subscription { directoryChanged { kind } }")
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    peer_token = await sign_in(server, "peer")
    async with ws_session(server.base_url, peer_token) as peer:
        body = await peer.query("subscription { auditEventAdded { action } }")
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_admins_follow_the_audit_trail_live(org):
    server, _ = org
    admin_token = await sign_in(server, "admin")
    async with ws_session(server.base_url, admin_token) as admin:
        op = await admin.subscribe(
            "subscription { auditEventAdded(action: LOGIN_FAILED) { action detail } }"
        )
        await asyncio.sleep(0.3)
        await gql(
            server,
            'mutation { login(email: "peer@example.com", password: "wrong '
            'password entirely") { accessToken } }',
        )
        event = await next_payload(admin, op)
        assert event["data"]["auditEventAdded"] == {
            "action": "LOGIN_FAILED",
            "detail": "wrong password",
        }


def test_subscriptions_per_connection_are_limited(tmp_path: Path):
    # synchronous: live_server creates its PostgreSQL database with asyncio.run()
    with live_server(tmp_path, STAFFGRAPH_MAX_SUBSCRIPTIONS_PER_CONNECTION="2") as server:
        create_people(server, tmp_path)

        async def third_subscription() -> dict[str, Any]:
            token = await sign_in(server, "peer")
            async with ws_session(server.base_url, token) as socket:
                for _ in range(2):
                    await socket.subscribe("subscription { directoryChanged { kind } }")
                third = await socket.subscribe("subscription { directoryChanged { kind } }")
                return await socket.next_message(third)

        message = asyncio.run(third_subscription())
    assert message["type"] == "error"


@pytest.mark.skipif(TEST_REDIS_URL is None, reason="needs STAFFGRAPH_TEST_REDIS_URL")
def test_two_instances_sharing_redis_deliver_across(tmp_path: Path):
    first_dir, second_dir = tmp_path / "one", tmp_path / "two"
    first_dir.mkdir()
    second_dir.mkdir()
    assert TEST_REDIS_URL is not None
    with live_server(first_dir, STAFFGRAPH_REDIS_URL=TEST_REDIS_URL) as one:
        ids = create_people(one, first_dir)
        shared_database = one.env["STAFFGRAPH_DATABASE_URL"]
        with live_server(
            second_dir, STAFFGRAPH_REDIS_URL=TEST_REDIS_URL, STAFFGRAPH_DATABASE_URL=shared_database
        ) as two:

            async def across() -> dict[str, Any]:
                hr_on_one = await sign_in(one, "hr")
                peer_on_two = await sign_in(two, "peer")
                async with ws_session(two.base_url, peer_on_two) as socket:
                    op = await socket.subscribe(WATCH, {"id": ids["target"]})
                    await asyncio.sleep(0.3)
                    await gql(
                        one,
                        'mutation ($id: ID!) { updateUser(id: $id, input: {jobTitle: "Across"}) '
                        "{ id } }",
                        {"id": ids["target"]},
                        hr_on_one,
                    )
                    return await next_payload(socket, op)

            event = asyncio.run(across())
    assert event["data"]["userUpdated"]["displayName"] == "Target"
    assert denied_paths(event) == {("userUpdated", "salary"), ("userUpdated", "phone")}
