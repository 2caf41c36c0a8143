"""W3C trace context, and OpenTelemetry spans with the ``otel`` extra (in-memory exporter)."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import textwrap
from typing import Any

import httpx
import pytest

from staffgraph.logging_setup import configure_logging
from staffgraph.observability.tracing import parse_traceparent
from tests.conftest import error_codes, make_user, token_for

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
VALID = f"00-{TRACE_ID}-{PARENT}-01"


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        f"00-{TRACE_ID.upper()}-{PARENT}-01",  # uppercase hex
        f"00-{'0' * 32}-{PARENT}-01",  # all-zero trace id
        f"00-{TRACE_ID}-{'0' * 16}-01",  # all-zero parent id
        f"ff-{TRACE_ID}-{PARENT}-01",  # the forbidden version
        f"00-{TRACE_ID}-{PARENT}-01-extra",  # version 00 has exactly four fields
        f"00-{TRACE_ID[:-1]}-{PARENT}-01",
        f"0-{TRACE_ID}-{PARENT}-01",
        f"00_{TRACE_ID}_{PARENT}_01",
    ],
)
def test_invalid_traceparents_are_ignored(header: str | None) -> None:
    assert parse_traceparent(header) is None


def test_valid_traceparents() -> None:
    parsed = parse_traceparent(VALID)
    assert parsed is not None
    assert (parsed.trace_id, parsed.parent_id, parsed.flags) == (TRACE_ID, PARENT, "01")
    later = parse_traceparent(f"cc-{TRACE_ID}-{PARENT}-00-what-comes-later")
    assert later is not None
    assert later.trace_id == TRACE_ID


async def test_the_trace_id_is_in_every_log_line_and_the_response(
    client: httpx.AsyncClient,
) -> None:
    stream = io.StringIO()
    handler = configure_logging(level="INFO", stream=stream)
    try:
        response = await client.post(
            "/graphql",
            json={"query": "query Traced { __typename }"},
            headers={"traceparent": VALID},
        )
        logging.getLogger("staffgraph.test").info("inside no request")
    finally:
        logging.getLogger().removeHandler(handler)
    version, trace_id, span_id, flags = response.headers["traceparent"].split("-")
    assert (version, trace_id, flags) == ("00", TRACE_ID, "01")
    assert span_id != PARENT
    assert len(span_id) == 16
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    access = [line for line in lines if line["logger"] == "staffgraph.access"]
    assert len(access) == 1
    assert access[0]["trace_id"] == TRACE_ID
    assert access[0]["operation"] == "Traced"
    assert "trace_id" not in lines[-1]  # logged outside the request


async def test_a_new_trace_without_a_valid_traceparent(client: httpx.AsyncClient) -> None:
    seen = set()
    for header in ({}, {"traceparent": f"00-{'0' * 32}-{PARENT}-01"}):
        response = await client.get("/healthz", headers=header)
        parsed = parse_traceparent(response.headers["traceparent"])
        assert parsed is not None
        seen.add(parsed.trace_id)
    assert len(seen) == 2
    assert TRACE_ID not in seen
    # two traceparent headers: the specification says to start anew
    response = await client.get("/healthz", headers=[("traceparent", VALID)] * 2)
    assert TRACE_ID not in response.headers["traceparent"]


NO_OTEL = textwrap.dedent(
    """
    import sys
    {blocker}
    from staffgraph.app import create_app
    from staffgraph.configuration import load_configuration
    app = create_app(load_configuration(_env_file=None, jwt_secret="s" * 40))
    names = [type(m.cls).__name__ if not isinstance(m.cls, type) else m.cls.__name__
             for m in app.user_middleware]
    print(",".join(sorted(
        name for name in sys.modules
        if name.startswith(("opentelemetry.instrumentation", "opentelemetry.sdk.trace",
                            "opentelemetry.exporter", "staffgraph.observability.otel"))
    )) or "-")
    print(",".join(names))
    """
)
BLOCKER = textwrap.dedent(
    """
    class NoOtel:
        def find_spec(self, name, path=None, target=None):
            if name == "opentelemetry" or name.startswith("opentelemetry."):
                raise ModuleNotFoundError(name)
    sys.meta_path.insert(0, NoOtel())
    """
)


def _run_app(blocker: str, **env: str) -> tuple[list[str], str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "STAFFGRAPH_"))}
    result = subprocess.run(
        [sys.executable, "-c", NO_OTEL.format(blocker=blocker)],
        env={**clean, "STAFFGRAPH_DATABASE_URL": "sqlite://:memory:", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    modules, middleware = result.stdout.strip().splitlines()
    return [modules, middleware], result.stderr


def test_without_an_endpoint_nothing_of_opentelemetry_is_set_up() -> None:
    (modules, middleware), _ = _run_app("")
    assert modules == "-"
    assert "OpenTelemetryMiddleware" not in middleware


def test_without_the_extra_the_app_starts_and_says_why_there_are_no_spans() -> None:
    (modules, middleware), stderr = _run_app(
        BLOCKER, OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:4318"
    )
    assert modules == "-"
    assert "OpenTelemetryMiddleware" not in middleware
    assert "otel extra is not installed" in stderr


def test_with_an_endpoint_and_the_extra_the_app_is_instrumented() -> None:
    pytest.importorskip("opentelemetry.instrumentation.asgi", reason="the otel extra is absent")
    (modules, middleware), _ = _run_app("", OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9")
    assert "staffgraph.observability.otel" in modules
    assert middleware.startswith("OpenTelemetryMiddleware")


@pytest.fixture
async def traced(db: Any, settings: Any) -> Any:
    pytest.importorskip("opentelemetry.sdk", reason="the otel extra is absent")
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from staffgraph.app import create_app
    from staffgraph.observability import otel

    exporter = InMemorySpanExporter()
    app = create_app(settings, manage_orm=False)
    otel.setup(app, processor=SimpleSpanProcessor(exporter))
    await app.state.services.start()
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50003))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield app, client, exporter
    finally:
        otel.teardown()
        await app.state.services.stop()


async def test_the_spans_of_one_request(traced: Any) -> None:
    app, client, exporter = traced
    user = await make_user("traced@example.com")
    other = await make_user("other.traced@example.com", salary=50_000)
    token = await token_for(app, user)
    exporter.clear()
    # the user is loaded from the database, then its salary is denied (a nullable field: the
    # rest of the answer stands)
    response = await client.post(
        "/graphql",
        json={
            "query": "query Mixed($id: ID!) { user(id: $id) { displayName salary } }",
            "variables": {"id": str(other.id)},
        },
        headers={"traceparent": VALID, "Authorization": f"Bearer {token}"},
    )
    body = response.json()
    assert error_codes(body) == ["FORBIDDEN"]
    assert body["data"]["user"]["displayName"]
    spans = exporter.get_finished_spans()
    by_name = {span.name: span for span in spans}
    assert {span.context.trace_id for span in spans} == {int(TRACE_ID, 16)}
    server = next(
        span for span in spans if span.parent is not None and span.parent.span_id == int(PARENT, 16)
    )
    assert server.name.startswith("POST")
    # the response names the server span: logs, header and spans agree
    assert response.headers["traceparent"] == f"00-{TRACE_ID}-{server.context.span_id:016x}-01"
    operation = by_name["query Mixed"]
    assert operation.parent.span_id == server.context.span_id
    assert operation.attributes["graphql.operation.name"] == "Mixed"
    denied = by_name["denied salary"]
    assert denied.parent.span_id == operation.context.span_id
    assert denied.attributes["staffgraph.field"] == "salary"
    database = [span for span in spans if span.name.startswith("db ")]
    assert database, [span.name for span in spans]
    assert all(span.attributes["db.system"] in ("sqlite", "postgresql") for span in database)
    assert all("traced@example.com" not in str(dict(span.attributes)) for span in spans)
    inside = {span.context.span_id for span in spans}
    assert all(span.parent is not None and span.parent.span_id in inside for span in database)
