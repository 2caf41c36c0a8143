"""Production mode: ``serve`` refuses unsafe settings and names each; GraphiQL off and
introspection for signed-in users only, unless set otherwise."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from staffgraph.app import create_app
from tests.conftest import error_codes
from tests.conftest import test_settings as settings_for_tests
from tests.live_server import free_port, server_env, staffgraph_command


def serve(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``staffgraph serve`` that is expected to refuse to start."""
    return subprocess.run(
        [staffgraph_command(), "serve", "--port", str(free_port())],
        cwd=tmp_path,
        env=server_env(f"sqlite://{tmp_path / 'x.db'}", **env),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.slow
def test_serve_refuses_unsafe_settings_naming_each(tmp_path: Path) -> None:
    env = server_env("sqlite://x")
    assert env["STAFFGRAPH_ENV"] == "production"
    result = serve(
        tmp_path,
        STAFFGRAPH_JWT_SECRET="",
        STAFFGRAPH_BCRYPT_ROUNDS="8",
        STAFFGRAPH_CORS_ORIGINS="https://app.example.com,*",
    )
    assert result.returncode == 2, result.stderr
    for name in ("STAFFGRAPH_JWT_SECRET", "STAFFGRAPH_BCRYPT_ROUNDS", "STAFFGRAPH_CORS_ORIGINS"):
        assert name in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1  # one line, every problem named
    assert not (tmp_path / "x.db").exists()  # nothing touched


@pytest.mark.slow
def test_serve_refuses_a_short_jwt_secret(tmp_path: Path) -> None:
    result = serve(tmp_path, STAFFGRAPH_JWT_SECRET="too-short-secret")
    assert result.returncode == 2
    assert "STAFFGRAPH_JWT_SECRET is shorter than 32 bytes" in result.stderr


def production(database_url: str, **overrides: Any) -> Any:
    return settings_for_tests(
        database_url=database_url, env="production", bcrypt_rounds=10, **overrides
    )


async def test_production_defaults(database_url: str, db: Any) -> None:
    settings = production(database_url)
    assert settings.graphiql is False
    assert settings.introspection == "authenticated"
    app = create_app(settings, manage_orm=False)
    await app.state.services.start()
    try:
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            page = await client.get("/graphql", headers={"Accept": "text/html"})
            assert page.status_code == 405
            body = (
                await client.post("/graphql", json={"query": "{ __schema { __typename } }"})
            ).json()
            assert error_codes(body) == ["GRAPHQL_VALIDATION_FAILED"]
    finally:
        await app.state.services.stop()


async def test_production_can_opt_in(database_url: str, db: Any) -> None:
    settings = production(database_url, graphiql=True, introspection="public")
    app = create_app(settings, manage_orm=False)
    await app.state.services.start()
    try:
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            page = await client.get("/graphql", headers={"Accept": "text/html"})
            assert page.status_code == 200
            assert "graphiql" in page.text.lower()
            body = (
                await client.post("/graphql", json={"query": "{ __schema { __typename } }"})
            ).json()
            assert body == {"data": {"__schema": {"__typename": "__Schema"}}}
    finally:
        await app.state.services.stop()
