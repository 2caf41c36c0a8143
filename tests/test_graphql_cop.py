"""The checks of the graphql-cop security auditor, reproduced against a production server.

Each test sends what graphql-cop sends and applies graphql-cop's own verdict (the condition
under which it reports the finding), then asserts what staffgraph answers instead. Anonymous
unless said otherwise; where being signed in changes the answer, the signed-in case too.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.live_server import LiveServer, live_server, mint_token

pytestmark = pytest.mark.slow

GRAPHIQL_HEURISTICS = ("graphiql.min.css", "GraphQL Playground", "GraphiQL", "graphql-playground")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One production server with nothing but the required settings."""
    with live_server(tmp_path_factory.mktemp("cop"), STAFFGRAPH_RATE_LIMIT="1000/minute") as s:
        yield s


@pytest.fixture(scope="module")
def token() -> str:
    """An access token of a signed-in employee (the server trusts the test signing key)."""
    return mint_token()


def cop_query(server: LiveServer, query: str, token: str | None = None) -> httpx.Response:
    """graphql-cop's ``graph_query``: JSON POST with ``operationName: cop``."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(
        f"{server.base_url}/graphql",
        json={"query": query, "operationName": "cop"},
        headers=headers,
        timeout=30,
    )


def body(response: httpx.Response) -> Any:
    return response.json()


def codes(payload: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in payload.get("errors") or []]


def test_is_detected_as_graphql(server: LiveServer) -> None:
    # graphql-cop's own detection must succeed, or every other check would be vacuous
    payload = body(cop_query(server, "query cop { __typename }"))
    assert payload == {"data": {"__typename": "Query"}}


@pytest.mark.parametrize("signed_in", [False, True])
def test_field_suggestions(server: LiveServer, token: str, signed_in: bool) -> None:
    payload = body(
        cop_query(server, "query cop { __schema { directive } }", token if signed_in else None)
    )
    message = payload["errors"][0]["message"]
    assert "Did you mean" not in message
    assert codes(payload) == ["GRAPHQL_VALIDATION_FAILED"]


def test_field_suggestions_for_unknown_fields_and_arguments(server: LiveServer, token: str) -> None:
    queries = [
        "query cop { usr(id: 1) { id } }",
        "query cop { users(frist: 1) { totalCount } }",
        "query cop { me { displayNam } }",
        "query cop($a: AuditActon) { auditEvents(action: $a) { totalCount } }",
        "query cop { auditEvents(action: LOGIN_SUCEEDED) { totalCount } }",
    ]
    for query in queries:
        payload = body(cop_query(server, query, token))
        assert payload["errors"], query
        assert not any("Did you mean" in e["message"] for e in payload["errors"]), payload


def test_introspection(server: LiveServer) -> None:
    response = cop_query(server, "query cop { __schema { types { name fields { name } } } }")
    payload = body(response)
    assert not (payload.get("data") or {}).get("__schema")
    assert codes(payload) == ["GRAPHQL_VALIDATION_FAILED"]
    type_query = cop_query(server, 'query cop { __type(name: "User") { name fields { name } } }')
    assert not (body(type_query).get("data") or {}).get("__type")


def test_introspection_allowed_to_signed_in_tooling(server: LiveServer, token: str) -> None:
    # production default is `authenticated`: a signed-in user's tooling may introspect
    payload = body(cop_query(server, "query cop { __schema { types { name } } }", token))
    assert "User" in {t["name"] for t in payload["data"]["__schema"]["types"]}


def test_graphiql_detection(server: LiveServer) -> None:
    for path in ("/graphiql", "/playground", "/console", "/graphql"):
        response = httpx.get(f"{server.base_url}{path}", headers={"Accept": "*/*"})
        assert not any(word in response.text for word in GRAPHIQL_HEURISTICS), path
        html = httpx.get(f"{server.base_url}{path}", headers={"Accept": "text/html"})
        assert not any(word in html.text for word in GRAPHIQL_HEURISTICS), path
        assert html.headers["content-type"].startswith("application/json")


def test_get_method_support(server: LiveServer) -> None:
    response = httpx.get(f"{server.base_url}/graphql", params={"query": "{__typename}"})
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert body(response)["data"] is None


def test_get_based_mutation(server: LiveServer) -> None:
    response = httpx.get(
        f"{server.base_url}/graphql", params={"query": "mutation cop {__typename}"}
    )
    assert response.status_code == 405
    assert body(response)["data"] is None


def test_post_based_url_encoded_query(server: LiveServer) -> None:
    # graphql-cop puts the query in the URL of a bodiless POST; a form body is refused likewise
    in_url = httpx.post(f"{server.base_url}/graphql", params={"query": "query {__typename}"})
    assert in_url.status_code == 415
    assert body(in_url)["data"] is None
    as_form = httpx.post(f"{server.base_url}/graphql", data={"query": "query {__typename}"})
    assert as_form.status_code == 415
    assert codes(body(as_form)) == ["BAD_USER_INPUT"]


def test_alias_overloading(server: LiveServer) -> None:
    aliases = "".join(f"alias{i}:__typename \n" for i in range(101))
    payload = body(cop_query(server, "query cop { " + aliases + " }"))
    assert payload["data"] is None
    assert codes(payload) == ["GRAPHQL_VALIDATION_FAILED"]
    assert payload["errors"][0]["extensions"]["limit"] == "aliases"


def test_array_batching(server: LiveServer) -> None:
    batch = [{"query": "query cop { __typename }"} for _ in range(10)]
    response = httpx.post(f"{server.base_url}/graphql", json=batch)
    assert response.status_code == 400
    payload = body(response)
    assert isinstance(payload, dict)
    assert payload["data"] is None


def test_operation_name_batching(server: LiveServer) -> None:
    # several named operations in one document run one at a time, never all at once
    document = " ".join(f"query q{i} {{ __typename }}" for i in range(10))
    unnamed = httpx.post(f"{server.base_url}/graphql", json={"query": document})
    assert body(unnamed)["data"] is None
    assert codes(body(unnamed)) == ["GRAPHQL_VALIDATION_FAILED"]
    listed = httpx.post(
        f"{server.base_url}/graphql",
        json={"query": document, "operationName": [f"q{i}" for i in range(10)]},
    )
    assert listed.status_code == 400
    one = httpx.post(f"{server.base_url}/graphql", json={"query": document, "operationName": "q3"})
    assert body(one) == {"data": {"__typename": "Query"}}


def test_field_duplication(server: LiveServer) -> None:
    payload = body(cop_query(server, "query cop { " + "__typename \n" * 500 + "} "))
    assert payload["data"] is None
    assert codes(payload) == ["GRAPHQL_VALIDATION_FAILED"]


def test_trace_mode(server: LiveServer) -> None:
    response = cop_query(server, "query cop { __typename }")
    payload = body(response)
    assert "extensions" not in payload
    assert "stacktrace" not in response.text.lower()
    assert "tracing" not in response.text.lower()


def test_directive_overloading(server: LiveServer) -> None:
    payload = body(cop_query(server, "query cop { __typename @aa@aa@aa@aa@aa@aa@aa@aa@aa@aa }"))
    assert len(payload["errors"]) == 1
    assert payload["errors"][0]["extensions"]["limit"] == "directives"


@pytest.mark.parametrize("signed_in", [False, True])
def test_circular_introspection(server: LiveServer, token: str, signed_in: bool) -> None:
    query = (
        "query cop { __schema { types { fields { type { fields { type { fields { type "
        "{ fields { type { name } } } } } } } } } } }"
    )
    payload = body(cop_query(server, query, token if signed_in else None))
    assert payload["data"] is None
    assert codes(payload) == ["GRAPHQL_VALIDATION_FAILED"]


def test_unhandled_errors(server: LiveServer) -> None:
    response = cop_query(server, "qwerty cop { abc }")
    payload = body(response)
    assert codes(payload) == ["GRAPHQL_PARSE_FAILED"]
    assert "exception" not in payload["errors"][0]["extensions"]
    assert "'extensions': {'exception':" not in str(payload).lower()
    assert "traceback" not in response.text.lower()


def test_production_serves_no_graphiql_and_guards_introspection(server: LiveServer) -> None:
    # GraphiQL off and introspection `authenticated` are production's defaults
    page = httpx.get(f"{server.base_url}/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 405
    anonymous = body(cop_query(server, 'query cop { __type(name: "Query") { name } }'))
    assert anonymous["errors"][0]["extensions"]["limit"] == "introspection"


def test_server_logs_hold_no_traceback_for_client_errors(
    server: LiveServer, tmp_path: Path
) -> None:
    # every check above was a client error: none may have produced a server error in the log
    logs = server.logs()
    assert '"level": "ERROR"' not in logs, logs
