"""The client libraries frontends use, against real servers: the Node test project in clients/.

Apollo Client (HttpLink, an ErrorLink refreshing on ``token_expired``, PersistedQueryLink,
relayStylePagination), graphql-ws, a trusted-documents manifest written by graphql-codegen's
client preset and enforced with ``TRUSTED_DOCUMENTS_ONLY``, graphql-inspector against
``GET /graphql/schema.graphql``, and graphql-http's GraphQL-over-HTTP audit. ``npm ci`` in
clients/ installs them from the committed lock file (CI does; here a missing install skips,
under CI it fails).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from tests.live_server import create_user, live_server, token_lasting

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
        user_id = create_user(plain, plain_dir, EMAIL, "Node Client", PASSWORD, ("HR",))
        for n in range(6):  # enough people to page through two at a time
            create_user(plain, plain_dir, f"colleague{n}@example.com", f"Colleague {n}", PASSWORD)
        create_user(trusted, trusted_dir, EMAIL, "Node Client", PASSWORD, ("HR",))
        env = {
            **os.environ,
            "STAFFGRAPH_URL": plain.base_url,
            "STAFFGRAPH_TRUSTED_URL": trusted.base_url,
            "STAFFGRAPH_EMAIL": EMAIL,
            "STAFFGRAPH_PASSWORD": PASSWORD,
            "STAFFGRAPH_EXPIRED_TOKEN": token_lasting(user_id, -60, ("HR",)),
            "STAFFGRAPH_SCHEMA_FILE": str(ROOT / "schema.graphql"),
            "STAFFGRAPH_MANIFEST_FILE": str(manifest),
        }
        # its own process group: on a timeout every test file's process goes, not just the runner
        runner = subprocess.Popen(
            [node, "--test", "--test-reporter=spec", "--test-timeout=120000"],
            cwd=CLIENTS,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            stdout, stderr = runner.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            os.killpg(runner.pid, signal.SIGKILL)
            stdout, stderr = runner.communicate()
            pytest.fail(f"the Node tests did not finish in 300 s:\n{stdout[-6000:]}")
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(runner.pid, signal.SIGKILL)
    print(stdout)
    assert runner.returncode == 0, stdout[-6000:] + stderr[-3000:]
