"""The HTTP surface of a production server: security headers, body limits, refused bodies,
methods and content types, CORS. Everything refused is a GraphQL-shaped JSON error, never a 500.
"""

from __future__ import annotations

import collections
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.datastructures import MutableHeaders

from staffgraph.app import create_app
from staffgraph.http.headers import API_CSP, HSTS, secured
from tests.conftest import test_settings as settings_for_tests
from tests.live_server import LiveServer, live_server

pytestmark = pytest.mark.slow

FRONTEND = "https://app.example.com"
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(
        tmp_path_factory.mktemp("http"),
        STAFFGRAPH_CORS_ORIGINS=FRONTEND,
        STAFFGRAPH_CORS_ALLOW_HEADERS="X-Custom-Trace",
        STAFFGRAPH_RATE_LIMIT="1000/minute",
    ) as s:
        yield s


@pytest.fixture
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        yield client


def graphql_error(response: httpx.Response, status: int, code: str = "BAD_USER_INPUT") -> Any:
    """The response is a GraphQL-shaped error with this status and code."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == [code]
    return body


def assert_security_headers(response: httpx.Response) -> None:
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert "strict-transport-security" not in response.headers  # plain HTTP


def test_security_headers_on_every_response(http: httpx.Client) -> None:
    responses = [
        http.get("/healthz"),
        http.post("/graphql", json={"query": "{ __typename }"}),
        http.post("/graphql", content=b"{", headers={"Content-Type": "application/json"}),
        http.put("/graphql"),
        http.get("/nowhere"),
        http.post(
            "/graphql", content=b"x" * (MIB + 1), headers={"Content-Type": "application/json"}
        ),
    ]
    assert [r.status_code for r in responses] == [200, 200, 400, 405, 404, 413]
    for response in responses:
        assert_security_headers(response)
    ids = {r.headers["x-request-id"] for r in responses}
    assert len(ids) == len(responses)


def _as_mutable_headers_set_them(
    raw: list[tuple[bytes, bytes]], tls: bool
) -> collections.Counter[tuple[bytes, bytes]]:
    # how the security headers were written with Starlette's MutableHeaders: the reference
    message: dict[str, Any] = {"headers": list(raw)}
    headers = MutableHeaders(scope=message)
    headers["X-Request-ID"] = "r-0123456789"
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    headers["X-Frame-Options"] = "DENY"
    headers.setdefault("Content-Security-Policy", API_CSP)
    headers.setdefault("Cache-Control", "no-store")
    if tls:
        headers["Strict-Transport-Security"] = HSTS
    return collections.Counter(message["headers"])


@pytest.mark.parametrize("tls", [False, True])
@pytest.mark.parametrize(
    "raw",
    [
        [],
        [(b"content-type", b"application/json"), (b"content-length", b"2")],
        [(b"cache-control", b"public, max-age=300"), (b"content-security-policy", b"x")],
        [(b"x-request-id", b"theirs"), (b"x-frame-options", b"SAMEORIGIN")],
        [(b"x-frame-options", b"a"), (b"x-frame-options", b"b"), (b"set-cookie", b"c=1")],
        [(b"set-cookie", b"a=1"), (b"set-cookie", b"b=2"), (b"strict-transport-security", b"x")],
    ],
)
def test_security_headers_are_set_as_mutable_headers_sets_them(
    raw: list[tuple[bytes, bytes]], tls: bool
) -> None:
    got = collections.Counter(secured(raw, "r-0123456789", tls))
    assert got == _as_mutable_headers_set_them(raw, tls)


def test_request_id_kept_only_when_well_formed(http: httpx.Client) -> None:
    kept = http.get("/healthz", headers={"X-Request-ID": "edge-7f3a.91_b"})
    assert kept.headers["x-request-id"] == "edge-7f3a.91_b"
    for bad in ("short", "has space in it", "x" * 129, "semi;colon-here", "<script>alert(1)"):
        replaced = http.get("/healthz", headers={"X-Request-ID": bad})
        assert re.fullmatch(r"[0-9a-f]{32}", replaced.headers["x-request-id"]), bad


def test_body_over_one_mib_with_content_length(http: httpx.Client) -> None:
    # not even JSON: refused for its size before anything parses it
    response = http.post(
        "/graphql", content=b"{" * (MIB + 1), headers={"Content-Type": "application/json"}
    )
    body = graphql_error(response, 413)
    assert body["errors"][0]["extensions"]["field"] == "body"


def test_chunked_body_over_one_mib_is_cut_off(http: httpx.Client) -> None:
    sent = 0

    def chunks() -> Iterator[bytes]:
        nonlocal sent
        yield b'{"query": "{ __typename }", "pad": "'
        for _ in range(64):  # 4 MiB in 64 KiB pieces
            sent += 1
            yield b"x" * 65536
        yield b'"}'

    response = http.post("/graphql", content=chunks(), headers={"Content-Type": "application/json"})
    graphql_error(response, 413)
    assert response.request.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in response.request.headers


def test_body_just_under_the_limit_is_served(http: httpx.Client) -> None:
    prefix = b'{"query": "{ __typename }"'
    padding = b" " * (MIB - len(prefix) - 1)
    response = http.post(
        "/graphql", content=prefix + padding + b"}", headers={"Content-Type": "application/json"}
    )
    assert response.json() == {"data": {"__typename": "Query"}}


@pytest.mark.parametrize(
    "raw",
    [
        b"{",
        b"null",
        b"123",
        b'"{ __typename }"',
        b'[{"query": "{ __typename }"}]',
        b"\xff\xfe\x00",
        b"{}",
        b'{"query": 5}',
        b'{"query": "{ __typename }", "variables": [1]}',
        b'{"query": "{ __typename }", "extensions": "x"}',
        b"[" * 100_000 + b"]" * 100_000,
    ],
)
def test_bodies_that_are_not_a_graphql_request(http: httpx.Client, raw: bytes) -> None:
    response = http.post("/graphql", content=raw, headers={"Content-Type": "application/json"})
    graphql_error(response, 400)


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None],
)
def test_wrong_content_type(http: httpx.Client, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = http.post("/graphql", content=b'{"query": "{ __typename }"}', headers=headers)
    body = graphql_error(response, 415)
    assert body["errors"][0]["extensions"]["field"] == "Content-Type"


def test_form_post_with_a_query(http: httpx.Client) -> None:
    response = http.post("/graphql", data={"query": "{ __typename }"})
    graphql_error(response, 415)


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"])
def test_unused_methods(http: httpx.Client, method: str) -> None:
    response = http.request(method, "/graphql")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    if method != "HEAD":
        graphql_error(response, 405)


def test_queries_over_get_refused(http: httpx.Client) -> None:
    response = http.get("/graphql", params={"query": "{ __typename }"})
    graphql_error(response, 405)
    assert response.headers["allow"] == "POST"


def test_other_routes_answer_json_too(http: httpx.Client) -> None:
    graphql_error(http.get("/nowhere"), 404, "NOT_FOUND")
    wrong_method = http.post("/healthz")
    graphql_error(wrong_method, 405)
    assert "GET" in wrong_method.headers["allow"]


def test_cors_preflight_for_the_allowed_origin(http: httpx.Client) -> None:
    response = http.options(
        "/graphql",
        headers={
            "Origin": FRONTEND,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == FRONTEND
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "authorization" in response.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in response.headers


def test_cors_preflight_for_another_origin(http: httpx.Client) -> None:
    for origin in ("https://evil.example.com", "https://app.example.com.evil.com", "null"):
        response = http.options(
            "/graphql",
            headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
        )
        graphql_error(response, 400)
        assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize(
    "header",
    [
        "traceparent",
        "tracestate",
        "baggage",
        "sentry-trace",
        "apollographql-client-name",
        "apollographql-client-version",
        "x-request-id",
        "X-Custom-Trace",
    ],
)
def test_cors_preflight_allows_the_headers_clients_send(http: httpx.Client, header: str) -> None:
    response = http.options(
        "/graphql",
        headers={
            "Origin": FRONTEND,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": f"authorization, content-type, {header}",
        },
    )
    assert response.status_code == 200, response.text
    assert header.lower() in response.headers["access-control-allow-headers"].lower()


def test_cors_preflight_refusing_a_header_answers_json(http: httpx.Client) -> None:
    response = http.options(
        "/graphql",
        headers={
            "Origin": FRONTEND,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-not-allowed",
        },
    )
    error = graphql_error(response, 400)["errors"][0]
    assert error["extensions"]["field"] == "Access-Control-Request-Headers"


def test_cors_on_actual_requests(http: httpx.Client) -> None:
    allowed = http.post("/graphql", json={"query": "{ __typename }"}, headers={"Origin": FRONTEND})
    assert allowed.headers["access-control-allow-origin"] == FRONTEND
    assert "x-request-id" in allowed.headers["access-control-expose-headers"].lower()
    other = http.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"Origin": "https://evil.example"}
    )
    assert "access-control-allow-origin" not in other.headers


def test_no_server_errors_in_the_log(server: LiveServer) -> None:
    assert '"level": "ERROR"' not in server.logs(), server.logs()


# --- in process: GraphiQL's page and HSTS behind a proxy --------------------------------------


async def test_graphiql_page_has_a_nonce_csp(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    csp = response.headers["content-security-policy"]
    nonce = re.search(r"'nonce-([^']+)'", csp)
    assert nonce is not None
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp
    scripts = re.findall(r"<script\b[^>]*>", response.text)
    assert scripts
    for tag in scripts:
        assert f'nonce="{nonce.group(1)}"' in tag
        src = re.search(r'src="([^"]+)"', tag)
        if src:  # every script comes from this server, pinned by SRI
            assert src.group(1).startswith("/graphql/assets/")
            assert "integrity=" in tag
    again = await client.get("/graphql", headers={"Accept": "text/html"})
    assert again.headers["content-security-policy"] != csp  # a fresh nonce per page


async def test_hsts_only_over_tls_from_a_trusted_proxy(database_url: str, db: Any) -> None:
    settings = settings_for_tests(database_url=database_url, trusted_proxies=["10.0.0.0/8"])
    app = create_app(settings, manage_orm=False)
    await app.state.services.start()
    try:
        for peer, proto, expected in [
            ("10.0.0.5", "https", True),
            ("10.0.0.5", "http", False),
            ("192.0.2.9", "https", False),  # anyone can send the header: not believed
        ]:
            transport = httpx.ASGITransport(app=app, client=(peer, 50000))
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                response = await client.get("/healthz", headers={"X-Forwarded-Proto": proto})
            assert ("strict-transport-security" in response.headers) is expected, (peer, proto)
    finally:
        await app.state.services.stop()


async def test_an_unhandled_exception_is_a_graphql_shaped_500(
    app: Any, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    from starlette.routing import Route

    async def boom(request: Any) -> Any:
        raise RuntimeError("connection string postgres://u:p@db/x")

    app.router.routes.append(Route("/boom", boom))
    response = await client.get("/boom", headers={"X-Request-ID": "boom-request-0001"})
    body = graphql_error(response, 500, "INTERNAL_SERVER_ERROR")
    assert body["errors"][0]["message"] == "Internal server error"
    assert body["errors"][0]["extensions"]["requestId"] == "boom-request-0001"
    assert "postgres" not in response.text
    assert response.headers["x-request-id"] == "boom-request-0001"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert any("boom-request-0001" in r.getMessage() and r.exc_info for r in caplog.records)
