"""The client libraries frontends use, against real servers: the Node test project in clients/.

Apollo Client (HttpLink, an ErrorLink refreshing on ``token_expired``, PersistedQueryLink,
relayStylePagination), graphql-ws, a trusted-documents manifest written by graphql-codegen's
client preset and enforced with ``TRUSTED_DOCUMENTS_ONLY``, graphql-inspector against
``GET /graphql/schema.graphql``, and graphql-http's GraphQL-over-HTTP audit. ``npm ci`` in
clients/ installs them from the committed lock file (CI does; here a missing install skips,
under CI it fails).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import jwt
import pytest

from tests.conftest import JWT_SECRET
from tests.live_server import LiveServer, live_server, staffgraph_command

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = ROOT / "clients"
EMAIL = "node.client@example.com"
PASSWORD = "node clients page through the staff directory"

pytestmark = pytest.mark.slow


def _require_node() -> str:
    node = shutil.which("node")
    missing = None
    if node is None:
        missing = "node is not installed"
    elif not (CLIENTS / "node_modules").is_dir():
        missing = "run `npm ci` in clients/ first"
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"the Node client tests cannot run under CI: {missing}")
        pytest.skip(missing)
    assert node is not None
    return node


def create_user(server: LiveServer, directory: Path, email: str, name: str) -> str:
    done = subprocess.run(
        [
            staffgraph_command(),
            "create-user",
            "--email",
            email,
            "--name",
            name,
            "--password",
            PASSWORD,
            "--role",
            "HR",
        ],
        cwd=directory,
        env=server.env,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.stdout.strip()


def expired_token(user_id: str) -> str:
    """A token the servers signed (same secret) whose ``exp`` has passed."""
    now = int(time.time())
    claims = {
        "iss": "staffgraph",
        "aud": "staffgraph",
        "sub": user_id,
        "sid": str(uuid.uuid4()),
        "jti": uuid.uuid4().hex,
        "roles": ["HR"],
        "iat": now - 3600,
        "exp": now - 60,
    }
    return jwt.encode(claims, JWT_SECRET, algorithm="HS256", headers={"typ": "at+jwt"})


def test_node_client_libraries(tmp_path: Path) -> None:
    node = _require_node()
    codegen = subprocess.run(
        [node, "node_modules/.bin/graphql-codegen", "--config", "codegen.yml"],
        cwd=CLIENTS,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert codegen.returncode == 0, codegen.stdout + codegen.stderr
    manifest = CLIENTS / "generated" / "persisted-documents.json"
    assert manifest.is_file()
    plain_dir, trusted_dir = tmp_path / "plain", tmp_path / "trusted"
    plain_dir.mkdir()
    trusted_dir.mkdir()
    with (
        live_server(plain_dir) as plain,
        live_server(
            trusted_dir,
            STAFFGRAPH_TRUSTED_DOCUMENTS=str(manifest),
            STAFFGRAPH_TRUSTED_DOCUMENTS_ONLY="true",
        ) as trusted,
    ):
        user_id = create_user(plain, plain_dir, EMAIL, "Node Client")
        for n in range(6):  # enough people to page through two at a time
            create_user(plain, plain_dir, f"colleague{n}@example.com", f"Colleague {n}")
        create_user(trusted, trusted_dir, EMAIL, "Node Client")
        env = {
            **os.environ,
            "STAFFGRAPH_URL": plain.base_url,
            "STAFFGRAPH_TRUSTED_URL": trusted.base_url,
            "STAFFGRAPH_EMAIL": EMAIL,
            "STAFFGRAPH_PASSWORD": PASSWORD,
            "STAFFGRAPH_EXPIRED_TOKEN": expired_token(user_id),
            "STAFFGRAPH_SCHEMA_FILE": str(ROOT / "schema.graphql"),
            "STAFFGRAPH_MANIFEST_FILE": str(manifest),
        }
        run = subprocess.run(
            [node, "--test", "--test-reporter=spec"],
            cwd=CLIENTS,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    print(run.stdout)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
