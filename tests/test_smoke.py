"""The app answers over HTTP on the test database."""

from __future__ import annotations

from tests.conftest import error_codes, gql, make_user, token_for


async def test_typename_anonymous(client):
    body = await gql(client, "{ __typename me { id } }")
    assert body == {"data": {"__typename": "Query", "me": None}}


async def test_me_with_token(app, client):
    user = await make_user("ada@example.com")
    token = await token_for(app, user)
    body = await gql(client, "{ me { id email displayName } }", token=token)
    assert body["data"]["me"] == {
        "id": str(user.id),
        "email": "ada@example.com",
        "displayName": "Ada",
    }


async def test_users_needs_a_user(client):
    body = await gql(client, "{ users { totalCount } }")
    assert error_codes(body) == ["UNAUTHENTICATED"]
    assert body["data"] is None
