"""``staffgraph serve`` without automatic migrations on a database that was never migrated:
one line saying to run ``staffgraph migrate``, a non-zero exit, no traceback."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.live_server import free_port, fresh_database, server_env, staffgraph_command

pytestmark = pytest.mark.slow


def run(
    command: str, database_url: str, directory: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    """A ``staffgraph`` command in production, automatic migrations off, expected to exit."""
    return subprocess.run(
        [staffgraph_command(), command, *args],
        cwd=directory,
        env=server_env(database_url, STAFFGRAPH_AUTO_MIGRATE="false"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_serve_on_an_unmigrated_database_says_to_migrate(tmp_path: Path) -> None:
    with fresh_database(tmp_path) as database_url:
        result = run("serve", database_url, tmp_path, "--port", str(free_port()))
        assert result.returncode == 1, result.stderr
        output = (result.stdout + result.stderr).strip().splitlines()
        assert len(output) == 1, output
        assert output[0].startswith("staffgraph: error: the database needs 'staffgraph migrate'")
        assert "Traceback" not in result.stderr
        assert run("migrate", database_url, tmp_path).returncode == 0
