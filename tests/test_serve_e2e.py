"""``staffgraph serve`` as a user starts it: a real process, from an empty directory, on the
default SQLite database, in development mode."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.live_server import free_port, staffgraph_command

pytestmark = pytest.mark.slow

PASSWORD = "a long enough passphrase"
STARTUP_SECONDS = 30.0


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STAFFGRAPH_")}
    env["STAFFGRAPH_BCRYPT_ROUNDS"] = "4"  # development accepts it; keeps the test quick
    return env


def _wait_for_health(base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"serve exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"serve did not answer in {STARTUP_SECONDS} s:\n{log.read_text()}")


def test_serve_from_an_empty_directory(tmp_path: Path):
    workdir = tmp_path / "empty"
    workdir.mkdir()
    env = _environment()
    created = subprocess.run(
        [
            staffgraph_command(),
            "create-user",
            "--email",
            "ada@example.com",
            "--name",
            "Ada",
            "--password",
            PASSWORD,
            "--role",
            "HR",
        ],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert created.returncode == 0, created.stderr
    assert (workdir / "staffgraph.db").exists()  # the default database, next to the caller

    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    started = time.monotonic()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [staffgraph_command(), "serve", "--port", str(port)],
            cwd=workdir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for_health(base_url, process, log)
        startup = time.monotonic() - started
        with httpx.Client(base_url=base_url, timeout=10) as http:
            typename = http.post("/graphql", json={"query": "{ __typename }"})
            assert typename.status_code == 200
            assert typename.json() == {"data": {"__typename": "Query"}}

            ide = http.get("/graphql", headers={"Accept": "text/html"})
            assert ide.status_code == 200
            assert ide.headers["content-type"].startswith("text/html")
            assert "graphiql" in ide.text.lower()

            ready = http.get("/readyz")
            assert ready.status_code == 200, ready.text

            login = http.post(
                "/graphql",
                json={
                    "query": "mutation($e: String!, $p: String!) "
                    "{ login(email: $e, password: $p) { accessToken user { email } } }",
                    "variables": {"e": "ada@example.com", "p": PASSWORD},
                },
            )
            assert login.status_code == 200, login.text
            token = login.json()["data"]["login"]["accessToken"]
            me = http.post(
                "/graphql",
                json={"query": "{ me { email roles } }"},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert me.json() == {"data": {"me": {"email": "ada@example.com", "roles": ["HR"]}}}
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            status = process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise
    # uvicorn shuts down cleanly, then re-raises SIGTERM so the parent sees why it stopped
    assert status in (0, -signal.SIGTERM), log.read_text()
    assert "Application shutdown complete" in log.read_text()
    assert startup < 15, f"serve took {startup:.1f} s to answer"
