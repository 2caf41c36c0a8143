"""GraphQL over WebSocket (graphql-transport-ws) against a real server process.

A connection is authenticated once, by the token in its ``connection_init`` payload, but each
operation on it is judged like an HTTP request: with its own fresh data, and refused once the
token is revoked or expired.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.live_server import LiveServer, live_server, staffgraph_command, token_lasting

EMAIL = "ws.user@example.com"
PASSWORD = "a long enough passphrase"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    directory: Path = tmp_path_factory.mktemp("ws")
    with live_server(directory) as running:
        subprocess.run(
            [
                staffgraph_command(),
                "create-user",
                "--email",
                EMAIL,
                "--name",
                "Wendy",
                "--password",
                PASSWORD,
            ],
            cwd=directory,
            env=running.env,
            check=True,
            capture_output=True,
            timeout=60,
        )
        yield running


async def http_gql(server: LiveServer, query: str, token: str | None = None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
        response = await client.post("/graphql", json={"query": query}, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def login(server: LiveServer) -> tuple[str, str]:
    body = await http_gql(
        server,
        f'mutation {{ login(email: "{EMAIL}", password: "{PASSWORD}") '
        "{ accessToken user { id } } }",
    )
    payload = body["data"]["login"]
    return payload["accessToken"], payload["user"]["id"]


@asynccontextmanager
async def ws_connection(server: LiveServer, token: str | None) -> AsyncIterator[ClientConnection]:
    url = server.base_url.replace("http://", "ws://") + "/graphql"
    async with connect(url, subprotocols=["graphql-transport-ws"], open_timeout=10) as ws:  # type: ignore[list-item]
        init: dict[str, Any] = {"type": "connection_init"}
        if token:
            init["payload"] = {"authorization": f"Bearer {token}"}
        await ws.send(json.dumps(init))
        assert json.loads(await ws.recv(decode=True))["type"] == "connection_ack"
        yield ws


async def ws_gql(ws: ClientConnection, query: str) -> dict[str, Any]:
    operation_id = uuid.uuid4().hex
    await ws.send(
        json.dumps({"id": operation_id, "type": "subscribe", "payload": {"query": query}})
    )
    result: dict[str, Any] | None = None
    while True:
        message = json.loads(await ws.recv(decode=True))
        assert message.get("id") == operation_id, message
        if message["type"] == "next":
            result = message["payload"]
        elif message["type"] == "error":
            return {"errors": message["payload"]}
        elif message["type"] == "complete":
            assert result is not None
            return result


def reasons(body: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e["extensions"]["code"], e["extensions"].get("reason")) for e in body["errors"]]


async def test_operations_run_as_the_connections_user(server):
    token, _ = await login(server)
    async with ws_connection(server, token) as ws:
        assert await ws_gql(ws, "{ me { email } }") == {"data": {"me": {"email": EMAIL}}}


async def test_an_anonymous_connection_reads_nothing_guarded(server):
    async with ws_connection(server, None) as ws:
        body = await ws_gql(ws, "{ me { id } users { totalCount } }")
    assert body["data"] is None
    assert reasons(body) == [("UNAUTHENTICATED", "no_token")]


async def test_each_operation_reads_fresh_rows(server):
    token, _ = await login(server)
    async with ws_connection(server, token) as ws:
        first = await ws_gql(ws, "{ me { displayName } }")
        await http_gql(
            server, 'mutation { updateMyProfile(input: {displayName: "Wendy Two"}) { id } }', token
        )
        second = await ws_gql(ws, "{ me { displayName } }")
        await http_gql(
            server, 'mutation { updateMyProfile(input: {displayName: "Wendy"}) { id } }', token
        )
    assert first["data"]["me"]["displayName"] == "Wendy"
    assert second["data"]["me"]["displayName"] == "Wendy Two"


async def test_a_revoked_token_closes_the_open_connection(server):
    token, _ = await login(server)
    async with ws_connection(server, token) as ws:
        before = await ws_gql(ws, "{ users { totalCount } }")
        assert (await http_gql(server, "mutation { logout }", token))["data"] == {"logout": True}
        # the session ended: the server closes the socket (4403) by itself, with or without
        # subscriptions; an operation sent meanwhile is refused as token_revoked
        try:
            after = await asyncio.wait_for(ws_gql(ws, "{ users { totalCount } }"), 5)
        except ConnectionClosed:
            pass
        else:
            assert reasons(after) == [("UNAUTHENTICATED", "token_revoked")]
        await asyncio.wait_for(ws.wait_closed(), 2)
        assert ws.close_code == 4403
    assert before == {"data": {"users": {"totalCount": 1}}}


async def test_an_expired_token_closes_the_open_connection(server):
    _, user_id = await login(server)
    now = int(time.time())
    short_lived = token_lasting(user_id, 2)
    async with ws_connection(server, short_lived) as ws:
        before = await ws_gql(ws, "{ users { totalCount } }")
        await asyncio.sleep(max(0.0, now + 2.2 - time.time()))
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws_gql(ws, "{ users { totalCount } }"), 5)
        assert ws.close_code == 4403
    assert before == {"data": {"users": {"totalCount": 1}}}


async def refused_init(server: LiveServer, payload: dict[str, Any]) -> tuple[int | None, str]:
    """Send ``connection_init`` with ``payload``; the close code and reason the server gives."""
    url = server.base_url.replace("http://", "ws://") + "/graphql"
    async with connect(url, subprotocols=["graphql-transport-ws"], open_timeout=10) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        try:
            message = await asyncio.wait_for(ws.recv(decode=True), timeout=10)
        except ConnectionClosed:
            pass
        else:
            pytest.fail(f"the server answered {message} instead of closing")
    assert ws.close_code is not None
    return ws.close_code, ws.close_reason or ""


async def test_a_refused_authorization_closes_the_socket_with_4403(server):
    token, user_id = await login(server)
    assert (await http_gql(server, "mutation { logout }", token))["data"] == {"logout": True}
    refused = {
        "garbage": "Bearer not-a-token",
        "not bearer": f"Basic {token}",
        "expired": f"Bearer {token_lasting(user_id, -60)}",
        "revoked": f"Bearer {token}",
    }
    for name, authorization in refused.items():
        closed = await refused_init(server, {"authorization": authorization})
        assert closed == (4403, "Forbidden"), name


async def test_no_authorization_is_an_anonymous_connection(server):
    for payload in ({}, {"authorization": ""}, {"authorization": None}):
        url = server.base_url.replace("http://", "ws://") + "/graphql"
        async with connect(url, subprotocols=["graphql-transport-ws"], open_timeout=10) as ws:  # type: ignore[list-item]
            await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
            assert json.loads(await ws.recv(decode=True))["type"] == "connection_ack"
            body = await ws_gql(ws, "{ me { id } }")
            assert body == {"data": {"me": None}}, payload
