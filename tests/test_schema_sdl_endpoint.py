"""``GET /graphql/schema.graphql``: the SDL with its ``@requires`` directives, under the
introspection policy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from staffgraph.schema import schema_sdl
from tests.conftest import make_user, token_for
from tests.test_hardening_graphql import app_client

COMMITTED = Path(__file__).resolve().parent.parent / "schema.graphql"


async def test_public_serves_the_sdl_of_export_schema(client: Any) -> None:
    response = await client.get("/graphql/schema.graphql")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == schema_sdl() == COMMITTED.read_text(encoding="utf-8")
    # the rules travel in the SDL, which introspection cannot carry
    assert "salary: Int @requires(rule:" in response.text


async def test_authenticated_needs_a_valid_token(app: Any, database_url: str) -> None:
    user = await make_user("ada@example.com")
    token = await token_for(app, user)
    async with app_client(database_url, introspection="authenticated") as client:
        anonymous = await client.get("/graphql/schema.graphql")
        assert anonymous.status_code == 401
        assert anonymous.json()["errors"][0]["extensions"] == {
            "code": "UNAUTHENTICATED",
            "reason": "no_token",
        }
        garbage = await client.get(
            "/graphql/schema.graphql", headers={"Authorization": "Bearer not-a-token"}
        )
        assert garbage.status_code == 401
        assert garbage.json()["errors"][0]["extensions"]["reason"] == "invalid_token"
        signed_in = await client.get(
            "/graphql/schema.graphql", headers={"Authorization": f"Bearer {token}"}
        )
        assert signed_in.status_code == 200
        assert signed_in.text == schema_sdl()


@pytest.mark.parametrize("signed_in", [False, True])
async def test_off_is_not_found(app: Any, database_url: str, signed_in: bool) -> None:
    user = await make_user("ada@example.com")
    headers = {"Authorization": f"Bearer {await token_for(app, user)}"} if signed_in else {}
    async with app_client(database_url, introspection="off") as client:
        response = await client.get("/graphql/schema.graphql", headers=headers)
        assert response.status_code == 404
        assert response.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"
