"""Persisted documents: Apollo's automatic persisted queries, trusted documents from a manifest
(graphql-codegen's and Apollo's formats), and the document cache they share."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import strawberry.schema.schema as strawberry_schema

from staffgraph.app import create_app
from staffgraph.documents.trusted import ManifestError, load_manifest
from staffgraph.settings import SettingsError
from tests.conftest import TEST_REDIS_URL, make_user, token_for
from tests.conftest import test_settings as settings_for_tests
from tests.test_hardening_graphql import app_client

ME = "query Me { me { email } }"
TYPENAME = "query T { __typename }"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def apq(digest: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": digest}}


async def post(client: httpx.AsyncClient, body: dict[str, Any], **headers: str) -> Any:
    response = await client.post("/graphql", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


# --- automatic persisted queries ---------------------------------------------------------


async def test_apq_unknown_hash_then_registration_then_hash_alone(client: httpx.AsyncClient):
    digest = sha(TYPENAME)
    missing = await post(client, {"extensions": apq(digest)})
    assert codes(missing) == ["PERSISTED_QUERY_NOT_FOUND"]
    assert missing["errors"][0]["message"] == "PersistedQueryNotFound"  # what Apollo matches
    assert "data" not in missing
    registered = await post(client, {"query": TYPENAME, "extensions": apq(digest)})
    assert registered == {"data": {"__typename": "Query"}}
    assert await post(client, {"extensions": apq(digest)}) == {"data": {"__typename": "Query"}}


async def test_apq_hash_mismatch_is_bad_user_input_and_stores_nothing(client: httpx.AsyncClient):
    wrong = sha("something else")
    body = await post(client, {"query": TYPENAME, "extensions": apq(wrong)})
    assert codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["extensions"]["field"] == "extensions.persistedQuery.sha256Hash"
    assert codes(await post(client, {"extensions": apq(wrong)})) == ["PERSISTED_QUERY_NOT_FOUND"]


@pytest.mark.parametrize(
    "extension",
    [
        {"persistedQuery": {"version": 2, "sha256Hash": "0" * 64}},
        {"persistedQuery": {"version": 1, "sha256Hash": "xyz"}},
        {"persistedQuery": "nope"},
    ],
)
async def test_apq_malformed_is_bad_user_input(client: httpx.AsyncClient, extension: Any):
    body = await post(client, {"extensions": extension})
    assert codes(body) == ["BAD_USER_INPUT"]


async def test_apq_not_found_is_a_request_error_under_graphql_response_json(client):
    response = await client.post(
        "/graphql",
        json={"extensions": apq(sha("{ me { id } }"))},
        headers={"Accept": "application/graphql-response+json"},
    )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/graphql-response+json")
    assert codes(response.json()) == ["PERSISTED_QUERY_NOT_FOUND"]


@pytest.mark.skipif(TEST_REDIS_URL is None, reason="needs STAFFGRAPH_TEST_REDIS_URL")
async def test_apq_registrations_are_shared_through_redis(db, database_url, redis_url):
    query = "query Shared { __typename }"
    async with (
        app_client(database_url, redis_url=redis_url) as one,
        app_client(database_url, redis_url=redis_url) as two,
    ):
        await post(one, {"query": query, "extensions": apq(sha(query))})
        assert await post(two, {"extensions": apq(sha(query))}) == {"data": {"__typename": "Query"}}


# --- trusted documents ---------------------------------------------------------------------


def codegen_manifest(path: Path, *documents: str) -> Path:
    path.write_text(json.dumps({sha(d): d for d in documents}), encoding="utf-8")
    return path


def apollo_manifest(path: Path, *documents: str) -> Path:
    operations = [
        {"id": sha(d), "name": d.split()[1], "type": d.split()[0], "body": d} for d in documents
    ]
    manifest = {"format": "apollo-persisted-query-manifest", "version": 1, "operations": operations}
    path.write_text(json.dumps(manifest), encoding="utf-8")
    return path


@pytest.fixture(params=["codegen", "apollo"])
def manifest(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    write = codegen_manifest if request.param == "codegen" else apollo_manifest
    return write(tmp_path / "manifest.json", ME, TYPENAME)


async def test_trusted_documents_by_document_id_and_by_apq(app, database_url, manifest):
    user = await make_user("ada@example.com")
    auth = {"Authorization": f"Bearer {await token_for(app, user)}"}
    async with app_client(
        database_url, trusted_documents=str(manifest), trusted_documents_only=True
    ) as client:
        by_id = await post(client, {"documentId": f"sha256:{sha(ME)}"}, **auth)
        assert by_id == {"data": {"me": {"email": "ada@example.com"}}}
        by_apq = await post(client, {"extensions": apq(sha(ME))}, **auth)
        assert by_apq == by_id
        # the text itself is fine too, when it is one of the manifest's
        assert await post(client, {"query": TYPENAME}) == {"data": {"__typename": "Query"}}


async def test_trusted_only_refuses_any_other_document_before_parsing(
    db, database_url, manifest, monkeypatch
):
    parsed: list[str] = []
    real_parse = strawberry_schema.parse
    monkeypatch.setattr(
        strawberry_schema, "parse", lambda text, **kw: parsed.append(text) or real_parse(text, **kw)
    )
    async with app_client(
        database_url, trusted_documents=str(manifest), trusted_documents_only=True
    ) as client:
        for body in (
            {"query": "{ __typename }"},  # not byte for byte the manifest's text
            {"query": "{ this is not even graphql"},
            {"documentId": f"sha256:{sha('{ me { id } }')}"},
            {"extensions": apq(sha("{ me { id } }"))},
        ):
            assert codes(await post(client, body)) == ["PERSISTED_QUERY_NOT_IN_LIST"]
        # no registration either: the hash stays unknown after the text was sent with it
        other = "query Other { __typename }"
        await post(client, {"query": other, "extensions": apq(sha(other))})
        assert codes(await post(client, {"extensions": apq(sha(other))})) == [
            "PERSISTED_QUERY_NOT_IN_LIST"
        ]
    assert parsed == []


async def test_trusted_only_holds_on_websocket_operations_too(db, database_url, manifest):
    # the refusal sits in the request guard, which every transport runs
    from staffgraph.schema import build_schema

    app = create_app(
        settings_for_tests(
            database_url=database_url, trusted_documents=str(manifest), trusted_documents_only=True
        ),
        manage_orm=False,
    )
    services = app.state.services
    schema = build_schema()
    from staffgraph.context import Context
    from staffgraph.loaders import Loaders

    result = await schema.execute("{ __typename }", context_value=Context(services, Loaders()))
    assert [e.extensions["code"] for e in result.errors or []] == ["PERSISTED_QUERY_NOT_IN_LIST"]
    allowed = await schema.execute(TYPENAME, context_value=Context(services, Loaders()))
    assert allowed.data == {"__typename": "Query"}


def test_manifest_errors_name_the_file_and_problem(tmp_path: Path):
    bad_hash = tmp_path / "bad.json"
    bad_hash.write_text(json.dumps({"0" * 64: "{ __typename }"}))
    with pytest.raises(ManifestError, match="is not the SHA-256 of its document"):
        load_manifest(bad_hash)
    not_json = tmp_path / "broken.json"
    not_json.write_text("{")
    with pytest.raises(ManifestError, match="not JSON"):
        load_manifest(not_json)
    with pytest.raises(ManifestError, match="cannot be read"):
        load_manifest(tmp_path / "missing.json")
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"format": "apollo-persisted-query-manifest", "version": 2}))
    with pytest.raises(ManifestError, match="version 1"):
        load_manifest(old)


def test_settings_refuse_an_unusable_manifest(tmp_path: Path):
    with pytest.raises(SettingsError) as info:
        settings_for_tests(
            database_url="sqlite://:memory:", trusted_documents=str(tmp_path / "missing.json")
        )
    assert info.value.problems[0].startswith("STAFFGRAPH_TRUSTED_DOCUMENTS: ")
    with pytest.raises(SettingsError) as info:
        settings_for_tests(database_url="sqlite://:memory:", trusted_documents_only=True)
    assert "STAFFGRAPH_TRUSTED_DOCUMENTS_ONLY" in info.value.problems[0]


# --- the document cache ------------------------------------------------------------------


@pytest.fixture
def parse_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    real_parse = strawberry_schema.parse
    monkeypatch.setattr(
        strawberry_schema, "parse", lambda text, **kw: calls.append(text) or real_parse(text, **kw)
    )
    return calls


async def test_a_known_document_is_parsed_once(client: httpx.AsyncClient, parse_calls):
    for _ in range(3):
        assert await post(client, {"query": TYPENAME}) == {"data": {"__typename": "Query"}}
    assert parse_calls == [TYPENAME]


async def test_a_cached_document_still_meets_the_variables_limits(client, app, parse_calls):
    user = await make_user("ada@example.com")
    auth = {"Authorization": f"Bearer {await token_for(app, user)}"}
    nested = "edges { node { reports { reports { id } } } }"
    query = "query Page($n: Int!) { users(first: $n) { " + nested + " } }"
    small = await post(client, {"query": query, "variables": {"n": 2}}, **auth)
    assert "errors" not in small, small
    big = await post(client, {"query": query, "variables": {"n": 100}}, **auth)
    assert big["errors"][0]["extensions"]["limit"] == "cost"
    bad_string = await post(
        client,
        {
            "query": "query F($s: String) { users(filter: {search: $s}) { totalCount } }",
            "variables": {"s": "a\x00b"},
        },
        **auth,
    )
    assert codes(bad_string) == ["BAD_USER_INPUT"]
    assert parse_calls.count(query) == 1


async def test_a_cached_introspection_is_still_judged_per_viewer(app, database_url, parse_calls):
    user = await make_user("ada@example.com")
    auth = {"Authorization": f"Bearer {await token_for(app, user)}"}
    query = "{ __schema { queryType { name } } }"
    async with app_client(database_url, introspection="authenticated") as client:
        allowed = await post(client, {"query": query}, **auth)
        assert allowed["data"]["__schema"]["queryType"]["name"] == "Query"
        refused = await post(client, {"query": query})
        assert refused["errors"][0]["extensions"]["limit"] == "introspection"
    assert parse_calls.count(query) == 1
