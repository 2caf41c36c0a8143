"""HTTP basics through the ASGI app: request ids and security headers on every response, and
requests that are not GraphQL requests refused with a GraphQL-shaped error, never a 500."""

from __future__ import annotations

import contextlib
import gc
import re
import shutil
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from tortoise import connections

from staffgraph.app import COLLECTOR_THRESHOLDS, create_app
from staffgraph.db import apply_migrations
from tests.conftest import ON_POSTGRES, TEST_DATABASE_URL
from tests.conftest import test_settings as settings_for_tests

REQUEST_ID = re.compile(r"[0-9a-f]{32}")


def assert_headers(response) -> None:
    assert response.headers["x-request-id"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"]


def assert_graphql_error(response, status: int | None = 400) -> dict:
    if status is None:
        assert 400 <= response.status_code < 500, response.text
    else:
        assert response.status_code == status, response.text
    body = response.json()
    assert body["data"] is None
    assert len(body["errors"]) == 1
    error = body["errors"][0]
    assert error["message"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert_headers(response)
    return body


async def test_every_response_carries_the_headers(client):
    responses = [
        await client.get("/healthz"),
        await client.get("/readyz"),
        await client.post("/graphql", json={"query": "{ __typename }"}),
        await client.post("/graphql", content=b"[", headers={"Content-Type": "application/json"}),
        await client.get("/graphql", headers={"Accept": "text/html"}),
        await client.get("/nowhere"),
        await client.delete("/graphql"),
    ]
    assert [r.status_code for r in responses] == [200, 200, 200, 400, 200, 404, 405]
    for response in responses:
        assert_headers(response)
        assert REQUEST_ID.fullmatch(response.headers["x-request-id"])
    assert len({r.headers["x-request-id"] for r in responses}) == len(responses)


async def test_a_well_formed_request_id_is_kept(client):
    response = await client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"X-Request-ID": "lb-2f9c.77_a1"}
    )
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "lb-2f9c.77_a1"


@pytest.mark.parametrize(
    "inbound", ["short", "with spaces here", "x" * 129, 'quote"inside-it', "a;b=c;d=e;f"]
)
async def test_a_malformed_request_id_is_replaced(client, inbound):
    response = await client.get("/healthz", headers={"X-Request-ID": inbound})
    assert response.status_code == 200
    assert REQUEST_ID.fullmatch(response.headers["x-request-id"])


@pytest.mark.parametrize("body", [b"null", b"42", b"-1.5", b"true", b'"{ me { id } }"', b"[]"])
async def test_a_json_body_that_is_not_an_object_is_refused(client, body):
    response = await client.post(
        "/graphql", content=body, headers={"Content-Type": "application/json"}
    )
    assert_graphql_error(response)


async def test_a_list_of_operations_is_refused_while_batching_is_off(client):
    response = await client.post("/graphql", json=[{"query": "{ __typename }"}])
    assert_graphql_error(response)


@pytest.mark.parametrize("body", [b"{", b"{'query': 1}", b"\xff\xfe", b"", b'{"query": "x"'])
async def test_malformed_json_is_refused(client, body):
    response = await client.post(
        "/graphql", content=body, headers={"Content-Type": "application/json"}
    )
    assert_graphql_error(response)


async def test_an_object_without_a_query_is_refused(client):
    response = await client.post("/graphql", json={"variables": {}})
    assert_graphql_error(response)


async def test_a_form_post_is_refused(client):
    # API.md: a wrong content type is a client error with a GraphQL-shaped body
    response = await client.post("/graphql", data={"query": "{ __typename }"})
    assert_graphql_error(response, status=None)


async def test_a_query_over_get_is_refused(client):
    response = await client.get(
        "/graphql", params={"query": "{ __typename }"}, headers={"Accept": "application/json"}
    )
    assert_graphql_error(response, status=None)
    # even a browser asking for HTML gets no execution through a link
    browser = await client.get(
        "/graphql", params={"query": "mutation { logoutAll }"}, headers={"Accept": "text/html"}
    )
    assert_graphql_error(browser, status=None)


async def test_graphiql_is_served_to_browsers_in_development(client):
    response = await client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "graphiql" in response.text.lower()


async def test_healthz_and_readyz(client):
    health = await client.get("/healthz")
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"] == "ok"


@contextlib.asynccontextmanager
async def running(app) -> AsyncIterator[httpx.AsyncClient]:
    """``app`` with its lifespan run (it manages its own ORM), and a client for it."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c


async def readiness(client: httpx.AsyncClient) -> tuple[int, str]:
    response = await client.get("/readyz")
    assert_headers(response)
    return response.status_code, response.json()["checks"]["database"]


async def test_readyz_is_503_once_the_sqlite_file_is_gone(tmp_path):
    directory = tmp_path / "volume"
    directory.mkdir()
    url = f"sqlite://{directory / 'staffgraph.db'}"
    await apply_migrations(url)
    app = create_app(settings_for_tests(database_url=url, redis_url=None))
    async with running(app) as client:
        assert await readiness(client) == (200, "ok")
        # the volume goes away: the connection is lost and the file cannot be opened again
        await connections.get("default").close()
        shutil.rmtree(directory)
        assert await readiness(client) == (503, "unavailable")
        assert (await client.get("/healthz")).status_code == 200


@pytest.mark.skipif(not ON_POSTGRES, reason="needs STAFFGRAPH_TEST_DATABASE_URL (PostgreSQL)")
async def test_readyz_follows_postgres_going_away_and_coming_back():
    import asyncpg

    parts = urlsplit(TEST_DATABASE_URL)
    name = f"{parts.path.lstrip('/')}_readyz_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(urlunsplit(("postgresql", parts.netloc, parts.path, "", "")))
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = urlunsplit((parts.scheme, parts.netloc, "/" + name, "", ""))
        await apply_migrations(url)
        app = create_app(settings_for_tests(database_url=url, redis_url=None))
        async with running(app) as client:
            assert await readiness(client) == (200, "ok")
            await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
            )
            assert await readiness(client) == (503, "unavailable")
            assert (await client.get("/healthz")).status_code == 200
            await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            assert await readiness(client) == (200, "ok")
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def test_answers_are_utf8_json_whatever_the_text(client, app):
    from tests.conftest import make_user, token_for

    user = await make_user("zoe@example.com", password=None, display_name='Zoë 测试 \u2028 "q"')
    response = await client.post(
        "/graphql",
        json={"query": "{ me { displayName } }"},
        headers={"Authorization": f"Bearer {await token_for(app, user)}"},
    )
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"data": {"me": {"displayName": 'Zoë 测试 \u2028 "q"'}}}
    assert "Zoë 测试".encode() in response.content  # UTF-8, not escapes


def test_a_string_orjson_refuses_is_still_encoded(app):
    import json

    from staffgraph.app import StaffGraphView

    view = next(r.app for r in app.routes if isinstance(getattr(r, "app", None), StaffGraphView))
    encoded = view.encode_json({"data": {"name": "lone \ud800 surrogate"}})
    assert json.loads(encoded) == {"data": {"name": "lone \ud800 surrogate"}}


async def test_a_serving_process_collects_young_objects_rarely(tmp_path):
    """Once a serving app has started, what exists is frozen out of the collector's sight and
    requests do not set off a young collection every 700 allocations."""
    url = f"sqlite://{tmp_path / 'staffgraph.db'}"
    await apply_migrations(url)
    app = create_app(settings_for_tests(database_url=url, redis_url=None))
    before = gc.get_threshold()
    collections: list[int] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collections.append(info["generation"])

    try:
        async with running(app) as client:
            assert gc.get_threshold() == COLLECTOR_THRESHOLDS
            assert gc.get_freeze_count() > 0
            gc.callbacks.append(count)
            for _ in range(200):
                response = await client.post("/graphql", json={"query": "{ __typename }"})
                assert response.json() == {"data": {"__typename": "Query"}}
            gc.callbacks.remove(count)
    finally:
        if count in gc.callbacks:
            gc.callbacks.remove(count)
        gc.set_threshold(*before)
    # at Python's (700, 10, 10) these 200 requests set off 8 collections
    assert len(collections) <= 1, collections
