"""Every operation spends ``RATE_LIMIT`` (API.md §9), against a real server process: each
``subscribe`` on a WebSocket and each operation of a batch, in the same per-user (per-address
when anonymous) budget as HTTP requests.

Over the limit, a WebSocket operation gets an ``error`` message with one ``RATE_LIMITED`` error
and ``retryAfter``, and the socket stays open; a batch gets the 429 of a request.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.live_server import LiveServer, live_server, mint_token

LIMIT = 20
TYPENAME = {"query": "{ __typename }"}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server allowing 20 operations a minute, batching on, behind a proxy on 127.0.0.1."""
    with live_server(
        tmp_path_factory.mktemp("operations"),
        STAFFGRAPH_RATE_LIMIT=f"{LIMIT}/minute",
        STAFFGRAPH_BATCHING="true",
        STAFFGRAPH_MAX_OPERATIONS="10",
        STAFFGRAPH_TRUSTED_PROXIES="127.0.0.1",
    ) as running:
        yield running


async def ws_burst(
    server: LiveServer, address: str, count: int, token: str | None = None
) -> list[dict[str, Any]]:
    """Send ``count`` operations at once on one socket; the final message of each, in order.
    The socket must still answer a ping afterwards."""
    url = server.base_url.replace("http://", "ws://") + "/graphql"
    async with connect(
        url,
        subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
        additional_headers={"X-Forwarded-For": address},
        open_timeout=10,
    ) as ws:
        init: dict[str, Any] = {"type": "connection_init"}
        if token:
            init["payload"] = {"authorization": f"Bearer {token}"}
        await ws.send(json.dumps(init))
        assert json.loads(await ws.recv(decode=True))["type"] == "connection_ack"
        ids = [uuid.uuid4().hex for _ in range(count)]
        for operation_id in ids:
            await ws.send(
                json.dumps({"id": operation_id, "type": "subscribe", "payload": TYPENAME})
            )
        final: dict[str, dict[str, Any]] = {}
        results: dict[str, dict[str, Any]] = {}
        async with asyncio.timeout(30):
            while len(final) < count:
                message = json.loads(await ws.recv(decode=True))
                if message["type"] == "next":
                    results[message["id"]] = message["payload"]
                elif message["type"] in ("complete", "error"):
                    final[message["id"]] = (
                        {"result": results.get(message["id"])}
                        if message["type"] == "complete"
                        else {"errors": message["payload"]}
                    )
            await ws.send(json.dumps({"type": "ping"}))
            assert json.loads(await ws.recv(decode=True)) == {"type": "pong"}
    return [final[operation_id] for operation_id in ids]


def refused(outcome: dict[str, Any]) -> bool:
    """Whether a WebSocket operation was refused as over the limit."""
    if "errors" not in outcome:
        assert outcome == {"result": {"data": {"__typename": "Query"}}}, outcome
        return False
    [error] = outcome["errors"]
    assert error["extensions"]["code"] == "RATE_LIMITED", error
    assert 1 <= error["extensions"]["retryAfter"] <= 60
    return True


async def test_each_websocket_operation_spends_the_budget(server):
    outcomes = await ws_burst(server, "203.0.113.20", 30)
    # anonymous: the handshake spent one of the address's 20
    assert [refused(o) for o in outcomes] == [False] * (LIMIT - 1) + [True] * (31 - LIMIT)


async def test_a_signed_in_socket_spends_its_users_budget_shared_with_http(server):
    token = mint_token()
    outcomes = await ws_burst(server, "203.0.113.21", 25, token)
    assert [refused(o) for o in outcomes] == [False] * LIMIT + [True] * (25 - LIMIT)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
        over = await client.post(
            "/graphql",
            json=TYPENAME,
            headers={"Authorization": f"Bearer {token}", "X-Forwarded-For": "198.51.100.21"},
        )
    assert over.status_code == 429


async def test_each_operation_of_a_batch_spends_the_budget(server):
    token = mint_token()
    headers = {"Authorization": f"Bearer {token}", "X-Forwarded-For": "203.0.113.22"}
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
        statuses = []
        for _ in range(3):
            response = await client.post("/graphql", json=[TYPENAME] * 10, headers=headers)
            statuses.append(response.status_code)
            if response.status_code == 200:
                assert response.json() == [{"data": {"__typename": "Query"}}] * 10
        assert statuses == [200, 200, 429]
        body = response.json()
        assert body["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
        assert int(response.headers["retry-after"]) >= 1
        single = await client.post("/graphql", json=TYPENAME, headers=headers)
        assert single.status_code == 429


async def test_a_batch_larger_than_what_is_left_is_refused_whole(server):
    headers = {"Authorization": f"Bearer {mint_token()}", "X-Forwarded-For": "203.0.113.23"}
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
        for _ in range(LIMIT - 5):
            assert (await client.post("/graphql", json=TYPENAME, headers=headers)).is_success
        refused_batch = await client.post("/graphql", json=[TYPENAME] * 10, headers=headers)
        assert refused_batch.status_code == 429
        # only its request was spent (one operation, as for any refused request): the 4
        # operations left still fit
        fitting = await client.post("/graphql", json=[TYPENAME] * 4, headers=headers)
        assert fitting.status_code == 200
        assert (await client.post("/graphql", json=TYPENAME, headers=headers)).status_code == 429
