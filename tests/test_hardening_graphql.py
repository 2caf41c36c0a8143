"""GraphQL hardening on the real schema: document limits, introspection policy, hint-free
errors, masked unexpected errors and central input checks.

Over a limit: one GRAPHQL_VALIDATION_FAILED error naming the limit, ``data`` null, nothing run.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from staffgraph.app import create_app
from staffgraph.models import Department, Role
from tests.conftest import error_codes, gql, make_user, token_for
from tests.conftest import test_settings as settings_for_tests

Client = Callable[..., Any]


@asynccontextmanager
async def app_client(database_url: str, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app with setting overrides, on this test's database."""
    app = create_app(settings_for_tests(database_url=database_url, **overrides), manage_orm=False)
    await app.state.services.start()
    try:
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            client.app = app  # type: ignore[attr-defined]
            yield client
    finally:
        await app.state.services.stop()


def limit_of(body: dict[str, Any]) -> str:
    """The limit named by the single error of a refused document."""
    assert body["data"] is None, body
    assert error_codes(body) == ["GRAPHQL_VALIDATION_FAILED"], body
    limit: str = body["errors"][0]["extensions"]["limit"]
    return limit


def nested_manager(levels: int) -> str:
    """``{ me { manager { ... { id } } } }`` with ``levels`` fields from ``me`` to ``id``."""
    inner = "id"
    for _ in range(levels - 2):
        inner = f"manager {{ {inner} }}"
    return f"{{ me {{ {inner} }} }}"


# --- limits ---------------------------------------------------------------------------------


async def test_depth_limit(client: httpx.AsyncClient) -> None:
    assert await gql(client, nested_manager(10)) == {"data": {"me": None}}
    assert limit_of(await gql(client, nested_manager(11))) == "depth"


async def test_depth_counts_through_fragments(client: httpx.AsyncClient) -> None:
    query = (
        "{ me { ...A } } fragment A on User { manager { manager { ...B } } } "
        "fragment B on User { manager { manager { manager { manager { manager { manager "
        "{ manager { id } } } } } } } }"
    )
    assert limit_of(await gql(client, query)) == "depth"


async def test_alias_limit(client: httpx.AsyncClient) -> None:
    fifteen = " ".join(f"a{i}: __typename" for i in range(15))
    assert (await gql(client, f"{{ {fifteen} }}"))["data"]["a14"] == "Query"
    sixteen = " ".join(f"a{i}: __typename" for i in range(16))
    assert limit_of(await gql(client, f"{{ {sixteen} }}")) == "aliases"


async def test_alias_limit_counts_each_use_of_a_fragment(client: httpx.AsyncClient) -> None:
    fragment = "fragment F on Query { " + " ".join(f"a{i}: __typename" for i in range(6)) + " }"
    query = "{ ...F x: me { id } ... on Query { ...F } y: __typename ...F } " + fragment
    assert limit_of(await gql(client, query)) == "aliases"


async def test_token_limit_while_parsing(client: httpx.AsyncClient) -> None:
    under = "{ " + "__typename " * 9 + "}"
    assert (await gql(client, under))["data"] == {"__typename": "Query"}
    # comments count too: they cost the parser as much as tokens do
    padded = "{ __typename }" + "\n# padding" * 2100
    body = await gql(client, padded)
    assert limit_of(body) == "tokens"
    assert "2000" in body["errors"][0]["message"]


async def test_directive_limit(client: httpx.AsyncClient) -> None:
    five = "{ __typename" + " @include(if: true)" * 5 + " }"
    # within the limit: standard validation answers (@include may not repeat)
    within = await gql(client, five)
    assert "limit" not in within["errors"][0]["extensions"]
    assert "can only be used once" in within["errors"][0]["message"]
    body = await gql(client, "{ __typename" + " @aa" * 10 + " }")
    assert len(body["errors"]) == 1
    assert limit_of(body) == "directives"


async def test_duplicate_field_limit(client: httpx.AsyncClient) -> None:
    assert (await gql(client, "{ " + "__typename " * 10 + "}"))["data"] == {"__typename": "Query"}
    assert limit_of(await gql(client, "{ " + "__typename " * 11 + "}")) == "duplicate_fields"
    through_fragments = (
        "{ ...F ...F ...F } fragment F on Query { __typename __typename __typename __typename }"
    )
    assert limit_of(await gql(client, through_fragments)) == "duplicate_fields"


async def test_fragment_bomb_is_refused_quickly(client: httpx.AsyncClient) -> None:
    # each fragment spreads the previous one twice: 2**30 selections from ~200 tokens
    fragments = ["fragment F0 on Query { __typename }"]
    fragments += [f"fragment F{i} on Query {{ ...F{i - 1} ...F{i - 1} }}" for i in range(1, 31)]
    started = time.perf_counter()
    body = await gql(client, "{ ...F30 } " + " ".join(fragments))
    assert time.perf_counter() - started < 1.0
    assert limit_of(body) == "duplicate_fields"
    nested = ["fragment G0 on User { id }"]
    nested += [
        f"fragment G{i} on User {{ manager {{ ...G{i - 1} }} reports {{ ...G{i - 1} }} }}"
        for i in range(1, 9)
    ]
    body = await gql(client, "{ me { ...G8 } } " + " ".join(nested))
    assert limit_of(body) == "cost"


async def test_cost_multiplies_lists_by_first(client: httpx.AsyncClient) -> None:
    cheap = "{ users(first: 5) { edges { node { reports { reports { id } } } } } }"
    assert error_codes(await gql(client, cheap)) == ["UNAUTHENTICATED"]  # passed the limits
    costly = "{ users(first: 100) { edges { node { reports { reports { id } } } } } }"
    body = await gql(client, costly)
    assert limit_of(body) == "cost"
    assert body["errors"][0]["extensions"]["cost"] > 5000


async def test_cost_reads_first_from_variables(client: httpx.AsyncClient) -> None:
    query = (
        "query Q($n: Int!) { users(first: $n) { edges { node { reports { reports { id } } } } } }"
    )
    assert error_codes(await gql(client, query, {"n": 5})) == ["UNAUTHENTICATED"]
    assert limit_of(await gql(client, query, {"n": 100})) == "cost"
    with_default = query.replace("$n: Int!", "$n: Int = 100")
    assert limit_of(await gql(client, with_default)) == "cost"


async def test_cost_counts_last_like_first(client: httpx.AsyncClient) -> None:
    query = (
        "query Q($n: Int!) { users(last: $n) { edges { node { reports { reports { id } } } } } }"
    )
    assert error_codes(await gql(client, query, {"n": 5})) == ["UNAUTHENTICATED"]
    assert limit_of(await gql(client, query, {"n": 100})) == "cost"
    literal = "{ users(last: 100) { edges { node { reports { reports { id } } } } } }"
    assert limit_of(await gql(client, literal)) == "cost"
    # an explicit `first: null` leaves `last` to size the page
    null_first = literal.replace("last: 100", "first: null, last: 100")
    assert limit_of(await gql(client, null_first)) == "cost"


async def test_cost_takes_the_default_page_size_of_each_connection(
    client: httpx.AsyncClient,
) -> None:
    # 143 per event: within the budget for 20 events, over it for auditEvents' default 50
    events = (
        "{ auditEvents%s { edges { node { actor { reports { "
        "id email displayName jobTitle createdAt department { name } } } } } } }"
    )
    assert limit_of(await gql(client, events % "")) == "cost"
    assert error_codes(await gql(client, events % "(first: 20)")) == ["UNAUTHENTICATED"]
    users = (
        "{ users { edges { node { reports { "
        "id email displayName jobTitle createdAt department { name } } } } } }"
    )
    assert error_codes(await gql(client, users)) == ["UNAUTHENTICATED"]  # users' default is 20


async def test_cost_of_nodes_counts_the_ids(client: httpx.AsyncClient) -> None:
    query = (
        "query Q($ids: [ID!]!) { nodes(ids: $ids) { ... on User { reports { reports { id } } } } }"
    )
    ids = ["00000000-0000-4000-8000-000000000000"] * 5
    assert error_codes(await gql(client, query, {"ids": ids})) == ["UNAUTHENTICATED"]
    assert limit_of(await gql(client, query, {"ids": ids * 4})) == "cost"
    literal = query.replace("query Q($ids: [ID!]!) ", "").replace("$ids", json.dumps(ids))
    assert error_codes(await gql(client, literal)) == ["UNAUTHENTICATED"]


async def test_cost_of_unbounded_lists(client: httpx.AsyncClient) -> None:
    # departments and reports have no `first`: each counts as STAFFGRAPH_DEFAULT_LIST_SIZE items
    query = "{ departments { members(first: 100) { edges { node { reports { id } } } } } }"
    assert limit_of(await gql(client, query)) == "cost"
    smaller = "{ departments { members(first: 10) { edges { node { reports { id } } } } } }"
    assert error_codes(await gql(client, smaller)) == ["UNAUTHENTICATED"]


async def test_limits_come_from_settings(database_url: str, db: Any) -> None:
    async with app_client(database_url, max_depth=3, max_aliases=1, max_cost=50) as client:
        assert limit_of(await gql(client, nested_manager(4))) == "depth"
        assert limit_of(await gql(client, "{ a: __typename b: __typename }")) == "aliases"
        assert (
            limit_of(await gql(client, "{ users(first: 60) { totalCount edges { cursor } } }"))
            == "cost"
        )


async def test_mutation_over_a_limit_has_no_side_effect(
    app: Any, client: httpx.AsyncClient
) -> None:
    hr = await make_user("hr@example.com", [Role.HR])
    token = await token_for(app, hr)
    creations = " ".join(f'd{i}: createDepartment(name: "Dept {i}") {{ id }}' for i in range(16))
    body = await gql(client, f"mutation {{ {creations} }}", token=token)
    assert limit_of(body) == "aliases"
    assert await Department.all().count() == 0
    ok = await gql(client, 'mutation { createDepartment(name: "Dept") { name } }', token=token)
    assert ok["data"] == {"createDepartment": {"name": "Dept"}}


async def test_several_operations_need_an_operation_name(client: httpx.AsyncClient) -> None:
    document = "query A { __typename } query B { me { id } }"
    response = await client.post("/graphql", json={"query": document})
    assert error_codes(response.json()) == ["GRAPHQL_VALIDATION_FAILED"]
    chosen = await client.post("/graphql", json={"query": document, "operationName": "B"})
    assert chosen.json() == {"data": {"me": None}}


# --- introspection ----------------------------------------------------------------------------

SCHEMA_QUERY = "{ __schema { queryType { name } } }"
TYPE_QUERY = '{ __type(name: "User") { name } }'


async def test_introspection_public(client: httpx.AsyncClient) -> None:
    body = await gql(client, SCHEMA_QUERY)
    assert body["data"]["__schema"]["queryType"]["name"] == "Query"


async def test_introspection_authenticated(app: Any, database_url: str) -> None:
    user = await make_user("ada@example.com")
    token = await token_for(app, user)
    async with app_client(database_url, introspection="authenticated") as client:
        for query in (SCHEMA_QUERY, TYPE_QUERY):
            assert limit_of(await gql(client, query)) == "introspection"
            assert "errors" not in await gql(client, query, token=token)
        assert await gql(client, "{ __typename }") == {"data": {"__typename": "Query"}}
        fragment = '{ ...F } fragment F on Query { __type(name: "Role") { name } }'
        assert limit_of(await gql(client, fragment)) == "introspection"


async def test_introspection_off(app: Any, database_url: str) -> None:
    user = await make_user("ada@example.com", [Role.ADMIN])
    token = await token_for(app, user)
    async with app_client(database_url, introspection="off") as client:
        for query in (SCHEMA_QUERY, TYPE_QUERY):
            assert limit_of(await gql(client, query, token=token)) == "introspection"
        assert await gql(client, "{ __typename }") == {"data": {"__typename": "Query"}}


async def test_circular_introspection_refused_even_when_public(client: httpx.AsyncClient) -> None:
    query = "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }"
    body = await gql(client, query)
    assert error_codes(body) == ["GRAPHQL_VALIDATION_FAILED"]
    assert body["errors"][0]["message"] == "Maximum introspection depth exceeded"


async def test_graphiql_introspection_query_is_within_limits(client: httpx.AsyncClient) -> None:
    from graphql import get_introspection_query

    # what GraphiQL asks for, every option on
    full = get_introspection_query(
        descriptions=True,
        specified_by_url=True,
        directive_is_repeatable=True,
        schema_description=True,
        input_value_deprecation=True,
        one_of=True,
    )
    body = await gql(client, full)
    assert "errors" not in body
    assert body["data"]["__schema"]["queryType"]["name"] == "Query"


# --- hints ------------------------------------------------------------------------------------

HINTED = [
    ("{ me { displayNam } }", None),  # unknown field
    ("{ users(frist: 1) { totalCount } }", None),  # unknown argument
    ("query Q($a: AuditActon) { auditEvents(action: $a) { totalCount } }", None),  # type
    ("{ auditEvents(action: LOGIN_SUCEEDED) { totalCount } }", None),  # enum literal
    (
        "query Q($a: AuditAction) { auditEvents(action: $a) { totalCount } }",
        {"a": "LOGIN_SUCEEDED"},
    ),
    ("query Q($f: UserFilter) { users(filter: $f) { totalCount } }", {"f": {"serch": "x"}}),
    ("{ me { manager } }", None),  # a leaf missing its selection
]


@pytest.mark.parametrize(("query", "variables"), HINTED)
async def test_hints_when_introspection_is_public(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None
) -> None:
    # the same documents do get hints in development: the hidden ones below are really hidden
    body = await gql(client, query, variables)
    assert any("Did you mean" in e["message"] for e in body["errors"]), body


@pytest.mark.parametrize(("query", "variables"), HINTED)
async def test_no_hints_unless_introspection_is_public(
    database_url: str, db: Any, query: str, variables: dict[str, Any] | None
) -> None:
    async with app_client(database_url, introspection="authenticated") as client:
        body = await gql(client, query, variables)
    assert body["errors"], body
    assert not any("Did you mean" in e["message"] for e in body["errors"]), body


# --- unexpected errors ------------------------------------------------------------------------


def assert_masked(response: httpx.Response, secret: str) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    error = body["errors"][0]
    assert error["message"] == "Internal server error"
    assert error["extensions"] == {
        "code": "INTERNAL_SERVER_ERROR",
        "requestId": response.headers["x-request-id"],
    }
    assert secret not in response.text
    for word in ("exception", "stacktrace", "traceback", "tracing"):
        assert word not in response.text.lower()
    return body


async def test_dataloader_failure_is_masked_and_logged(
    app: Any, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    boss = await make_user("boss@example.com")
    user = await make_user("ada@example.com", manager=boss)
    token = await token_for(app, user)

    async def broken(ids: list[Any]) -> list[Any]:
        raise RuntimeError("db password is hunter2")

    import staffgraph.loaders

    monkeypatch.setattr(staffgraph.loaders, "_users_by_id", broken)
    caplog.set_level(logging.ERROR)
    response = await client.post(
        "/graphql",
        json={"query": "{ me { displayName manager { id } } }"},
        headers={"Authorization": f"Bearer {token}", "X-Request-ID": "req-dataloader-1"},
    )
    body = assert_masked(response, "hunter2")
    assert body["errors"][0]["extensions"]["requestId"] == "req-dataloader-1"
    logged = [r for r in caplog.records if "req-dataloader-1" in r.getMessage()]
    assert logged
    assert logged[0].exc_info is not None
    assert "hunter2" in str(logged[0].exc_info[1])


async def test_mutation_failure_is_masked(
    app: Any, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    hr = await make_user("hr@example.com", [Role.HR])
    token = await token_for(app, hr)

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise KeyError("internal detail 42")

    import staffgraph.resolvers.staff

    monkeypatch.setattr(staffgraph.resolvers.staff, "create_department", broken)
    response = await client.post(
        "/graphql",
        json={"query": 'mutation { createDepartment(name: "Ops") { id } }'},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert_masked(response, "internal detail 42")


async def test_known_errors_keep_their_codes(client: httpx.AsyncClient) -> None:
    body = await gql(client, "{ users { totalCount } }")
    assert error_codes(body) == ["UNAUTHENTICATED"]
    assert error_codes(await gql(client, "{ nope }")) == ["GRAPHQL_VALIDATION_FAILED"]
    assert error_codes(await gql(client, "{ me { id ")) == ["GRAPHQL_PARSE_FAILED"]


async def test_failure_outside_the_operation_is_masked_too(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # an extension failing after the operation: the HTTP layer's last look still masks it
    from staffgraph.schema import extensions

    def broken(self: Any) -> Any:
        raise ValueError("secret state")
        yield  # pragma: no cover

    monkeypatch.setattr(extensions.ErrorCodes, "on_operation", broken)
    response = await client.post("/graphql", json={"query": "{ __typename }"})
    assert_masked(response, "secret state")


# --- input strings ----------------------------------------------------------------------------


def bad_input_field(body: dict[str, Any]) -> str:
    assert error_codes(body) == ["BAD_USER_INPUT"], body
    field: str = body["errors"][0]["extensions"]["field"]
    return field


async def test_nul_in_login_email(client: httpx.AsyncClient) -> None:
    query = 'mutation { login(email: "a\\u0000@example.com", password: "x") { accessToken } }'
    assert bad_input_field(await gql(client, query)) == "email"


async def test_nul_in_an_id(app: Any, client: httpx.AsyncClient) -> None:
    token = await token_for(app, await make_user("ada@example.com"))
    query = '{ user(id: "00000000-0000-0000-0000-000000000000\\u0000") { id } }'
    assert bad_input_field(await gql(client, query, token=token)) == "id"


async def test_nul_in_filter_search(app: Any, client: httpx.AsyncClient) -> None:
    token = await token_for(app, await make_user("ada@example.com"))
    literal = '{ users(filter: {search: "ad\\u0000a"}) { totalCount } }'
    assert bad_input_field(await gql(client, literal, token=token)) == "filter.search"
    query = "query Q($f: UserFilter) { users(filter: $f) { totalCount } }"
    body = await gql(client, query, {"f": {"search": "a\x00"}}, token=token)
    assert bad_input_field(body) == "filter.search"


async def test_lone_surrogate_in_a_variable(app: Any, client: httpx.AsyncClient) -> None:
    token = await token_for(app, await make_user("ada@example.com"))
    raw = (
        '{"query": "query Q($s: String) { users(filter: {search: $s}) { totalCount } }",'
        ' "variables": {"s": "x\\ud800y"}}'
    )
    response = await client.post(
        "/graphql",
        content=raw,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200
    assert bad_input_field(response.json()) == "filter.search"
    login = (
        '{"query": "mutation L($e: String!) { login(email: $e, password: \\"p\\") '
        '{ accessToken } }", "variables": {"e": "\\udfff"}}'
    )
    response = await client.post(
        "/graphql", content=login, headers={"Content-Type": "application/json"}
    )
    assert bad_input_field(response.json()) == "email"


async def test_oversized_string(app: Any, client: httpx.AsyncClient) -> None:
    hr = await make_user("hr@example.com", [Role.HR])
    token = await token_for(app, hr)
    query = "mutation M($n: String!) { createDepartment(name: $n) { id } }"
    body = await gql(client, query, {"n": "x" * 10_001}, token=token)
    assert bad_input_field(body) == "name"
    assert await Department.all().count() == 0


async def test_nul_in_a_mutation_input_writes_nothing(app: Any, client: httpx.AsyncClient) -> None:
    hr = await make_user("hr@example.com", [Role.HR])
    token = await token_for(app, hr)
    query = "mutation M($n: String!) { createDepartment(name: $n) { id } }"
    assert bad_input_field(await gql(client, query, {"n": "Ops\x00"}, token=token)) == "name"
    assert await Department.all().count() == 0


# --- batching ---------------------------------------------------------------------------------


async def test_batching_off_by_default(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json=[{"query": "{ __typename }"}] * 2)
    assert response.status_code == 400
    assert error_codes(response.json()) == ["BAD_USER_INPUT"]


async def test_batching_when_enabled(database_url: str, db: Any) -> None:
    async with app_client(database_url, batching=True, max_operations=3) as client:
        two = await client.post(
            "/graphql", json=[{"query": "{ __typename }"}, {"query": "{ me { id } }"}]
        )
        assert two.json() == [{"data": {"__typename": "Query"}}, {"data": {"me": None}}]
        four = await client.post("/graphql", json=[{"query": "{ __typename }"}] * 4)
        assert four.status_code == 400
        for bad in ([], [1], [{"query": 5}], [{"query": "{ __typename }", "variables": []}]):
            response = await client.post("/graphql", json=bad)
            assert response.status_code == 400, bad
        over = await client.post("/graphql", json=[{"query": "{ " + "__typename " * 11 + "}"}])
        assert limit_of(over.json()[0]) == "duplicate_fields"


async def test_variables_that_are_not_an_object() -> None:
    # HTTP bodies are checked by the view; a WebSocket message can carry anything
    from staffgraph.schema import build_schema

    result = await build_schema().execute("query Q($n: Int) { __typename }", variable_values=[1])
    assert result.errors is not None
    assert [e.extensions for e in result.errors] == [
        {"code": "BAD_USER_INPUT", "field": "variables"}
    ]
