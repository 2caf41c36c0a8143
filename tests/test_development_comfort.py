"""Development with no settings at all: ``serve`` says where GraphiQL is, and a restart keeps
everyone signed in (the generated secret is kept in ``.staffgraph-secret``)."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.live_server import live_server, staffgraph_command

pytestmark = pytest.mark.slow

DEVELOPMENT = {"STAFFGRAPH_ENV": "development"}
NO_SECRET = ("STAFFGRAPH_JWT_SECRET",)
PASSWORD = "a long enough passphrase for development"
LOGIN = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }"


def test_a_restart_keeps_tokens_valid_and_serve_names_graphiql(tmp_path: Path) -> None:
    with live_server(tmp_path, unset=NO_SECRET, **DEVELOPMENT) as first:
        first.wait_for_line(f"GraphiQL: {first.base_url}/graphql")
        command = ["create-user", "--email", "dev@example.com", "--name", "Dev"]
        created = subprocess.run(
            [staffgraph_command(), *command, "--password", PASSWORD],
            env=first.env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=False,
        )
        assert created.returncode == 0, created.stderr
        signed_in = httpx.post(
            f"{first.base_url}/graphql",
            json={"query": LOGIN, "variables": {"e": "dev@example.com", "p": PASSWORD}},
        ).json()
        token = signed_in["data"]["login"]["accessToken"]

    kept = tmp_path / ".staffgraph-secret"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600

    with live_server(tmp_path, unset=NO_SECRET, **DEVELOPMENT) as second:
        answer = httpx.post(
            f"{second.base_url}/graphql",
            json={"query": "{ users(first: 1) { totalCount } }"},
            headers={"Authorization": f"Bearer {token}"},
        ).json()
    assert "errors" not in answer, answer  # not `invalid_token`: the same secret signs


def test_production_names_graphiql_only_when_it_is_on(tmp_path: Path) -> None:
    with live_server(tmp_path) as server:
        assert "GraphiQL" not in server.logs()
    with live_server(tmp_path, STAFFGRAPH_GRAPHIQL="true") as server:
        server.wait_for_line(f"GraphiQL: {server.base_url}/graphql")
