"""GraphQL over HTTP: ``Accept: application/graphql-response+json`` gets that media type and the
spec's status codes; ``application/json`` keeps 200 for every GraphQL result."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import make_user, token_for

GRAPHQL_RESPONSE = "application/graphql-response+json"


async def send(client: Any, body: Any, accept: str | None, **headers: str) -> Any:
    if accept is not None:
        headers["Accept"] = accept
    return await client.post("/graphql", json=body, headers=headers)


def media_type(response: Any) -> str:
    return str(response.headers["content-type"].split(";")[0])


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"query": "{"}, "GRAPHQL_PARSE_FAILED"),
        ({"query": "{ nope }"}, "GRAPHQL_VALIDATION_FAILED"),
        (
            {"query": "query Q($n: Int!) { users(first: $n) { totalCount } }", "variables": {}},
            None,  # variable coercion: graphql-core's own error
        ),
        ({"query": "query Q($n: Int) { __typename }", "variables": {"n": "x"}}, None),
    ],
)
async def test_request_errors_are_400_without_data(client: Any, body: Any, code: str | None):
    response = await send(client, body, GRAPHQL_RESPONSE)
    assert response.status_code == 400, response.text
    assert media_type(response) == GRAPHQL_RESPONSE
    decoded = response.json()
    assert "data" not in decoded
    assert decoded["errors"]
    if code is not None:
        assert decoded["errors"][0]["extensions"]["code"] == code


@pytest.mark.parametrize("body", [{"query": "{"}, {"query": "{ nope }"}])
async def test_application_json_keeps_200_with_data_null(client: Any, body: Any):
    for accept in (None, "application/json", "*/*"):
        response = await send(client, body, accept)
        assert response.status_code == 200
        assert media_type(response) == "application/json"
        assert response.json()["data"] is None


async def test_execution_that_started_is_200_even_when_data_is_null(client: Any, app: Any):
    # users is non-null: a field error nulls the whole data, but execution started
    response = await send(client, {"query": "{ users(first: 1) { totalCount } }"}, GRAPHQL_RESPONSE)
    assert response.status_code == 200
    assert media_type(response) == GRAPHQL_RESPONSE
    decoded = response.json()
    assert decoded["data"] is None
    assert decoded["errors"][0]["path"] == ["users"]


async def test_success_carries_the_media_type(client: Any, app: Any):
    user = await make_user("ada@example.com")
    token = await token_for(app, user)
    response = await send(
        client, {"query": "{ me { email } }"}, GRAPHQL_RESPONSE, Authorization=f"Bearer {token}"
    )
    assert response.status_code == 200
    assert media_type(response) == GRAPHQL_RESPONSE
    assert response.json() == {"data": {"me": {"email": "ada@example.com"}}}


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("application/graphql-response+json, application/json;q=0.9", GRAPHQL_RESPONSE),
        ("application/json, application/graphql-response+json;q=0.5", "application/json"),
        ("application/graphql-response+json;q=0", "application/json"),
        ("text/plain, application/graphql-response+json", GRAPHQL_RESPONSE),
    ],
)
async def test_the_preferred_media_type_wins(client: Any, accept: str, expected: str):
    response = await send(client, {"query": "{ __typename }"}, accept)
    assert response.status_code == 200
    assert media_type(response) == expected


async def test_refusals_before_graphql_keep_their_status_without_data(client: Any):
    malformed = await client.post(
        "/graphql",
        content=b"{not json",
        headers={"Content-Type": "application/json", "Accept": GRAPHQL_RESPONSE},
    )
    assert malformed.status_code == 400
    assert media_type(malformed) == GRAPHQL_RESPONSE
    assert "data" not in malformed.json()
    wrong_type = await client.post(
        "/graphql",
        content=b"{}",
        headers={"Content-Type": "text/plain", "Accept": GRAPHQL_RESPONSE},
    )
    assert wrong_type.status_code == 415
    assert "data" not in wrong_type.json()
