"""Real ``staffgraph serve`` processes, for the behaviour that belongs to the HTTP layer.

Each server gets its own database: a fresh SQLite file, or a fresh PostgreSQL database next to
``STAFFGRAPH_TEST_DATABASE_URL`` (dropped afterwards), migrated by ``serve`` itself. It runs in
production mode unless told otherwise, from an empty directory (no ``.env``), with its output in
a log file the test can read.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import jwt

from staffgraph.auth.tokens import TokenService
from staffgraph.models import Role
from tests.conftest import JWT_SECRET, ON_POSTGRES, TEST_DATABASE_URL
from tests.conftest import test_settings as settings_for_tests

STARTUP_TIMEOUT_SECONDS = 30.0


@dataclass
class LiveServer:
    """A running server: its base URL, environment, process and log file."""

    base_url: str
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    log_path: Path

    def logs(self) -> str:
        """Everything the process has written so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_for_line(self, *fragments: str, timeout: float = 5.0) -> str:
        """The first log line holding every fragment, waiting for it: the access line of a
        request is written just after its response has gone out."""
        deadline = time.monotonic() + timeout
        while True:
            for line in self.logs().splitlines():
                if all(fragment in line for fragment in fragments):
                    return line
            if time.monotonic() > deadline:
                raise AssertionError(f"no log line with {fragments}:\n{self.logs()}")
            time.sleep(0.02)


def mint_token(user_id: uuid.UUID | None = None, roles: frozenset[Role] = frozenset()) -> str:
    """An access token the live servers accept (same signing secret), for a user that need not
    exist: enough for everything decided before a resolver reads the database."""
    tokens = TokenService(settings_for_tests(database_url="sqlite://:memory:"))
    return tokens.issue(user_id or uuid.uuid4(), uuid.uuid4(), roles)


def token_lasting(user_id: str, seconds: int, roles: tuple[str, ...] = ("EMPLOYEE",)) -> str:
    """An access token the live servers accept for ``user_id`` in a session of its own, whose
    ``exp`` is ``seconds`` from now (negative: expired already)."""
    now = int(time.time())
    claims = {
        "iss": "staffgraph",
        "aud": "staffgraph",
        "sub": user_id,
        "sid": str(uuid.uuid4()),
        "jti": uuid.uuid4().hex,
        "roles": list(roles),
        "iat": min(now, now + seconds - 60),
        "exp": now + seconds,
    }
    return jwt.encode(claims, JWT_SECRET, algorithm="HS256", headers={"typ": "at+jwt"})


def create_user(
    server: LiveServer,
    directory: Path,
    email: str,
    name: str,
    password: str,
    roles: tuple[str, ...] = (),
    manager: str | None = None,
) -> str:
    """``staffgraph create-user`` against ``server``'s database; the new user's id."""
    command = [staffgraph_command(), "create-user", "--email", email, "--name", name]
    command += ["--password", password]
    for role in roles:
        command += ["--role", role]
    if manager is not None:
        command += ["--manager", manager]
    done = subprocess.run(
        command,
        cwd=directory,
        env=server.env,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.stdout.strip()


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def staffgraph_command() -> str:
    """The installed console script, next to the interpreter running the tests."""
    script = Path(sys.executable).parent / "staffgraph"
    return str(script) if script.exists() else shutil.which("staffgraph") or "staffgraph"


def server_env(database_url: str, **overrides: str) -> dict[str, str]:
    """A clean environment: no inherited ``STAFFGRAPH_*``, production, the test secret."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STAFFGRAPH_")}
    env.update(
        {
            "STAFFGRAPH_ENV": "production",
            "STAFFGRAPH_JWT_SECRET": JWT_SECRET,
            "STAFFGRAPH_DATABASE_URL": database_url,
            "STAFFGRAPH_AUTO_MIGRATE": "true",
            "STAFFGRAPH_BCRYPT_ROUNDS": "10",
        }
    )
    env.update(overrides)
    return env


@contextmanager
def fresh_database(directory: Path) -> Iterator[str]:
    """A database URL nobody else uses: a SQLite file, or a new PostgreSQL database."""
    if not ON_POSTGRES:
        yield f"sqlite://{directory / 'live.db'}"
        return
    import asyncpg

    parts = urlsplit(TEST_DATABASE_URL)
    name = f"{parts.path.lstrip('/') or 'staffgraph'}_live_{uuid.uuid4().hex[:8]}"
    admin = urlunsplit(("postgresql", parts.netloc, parts.path, "", ""))

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    try:
        yield urlunsplit((parts.scheme, parts.netloc, "/" + name, "", ""))
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextmanager
def live_server(
    directory: Path,
    *args: str,
    scheme: str = "http",
    verify: ssl.SSLContext | bool = False,
    database_url: str | None = None,
    unset: tuple[str, ...] = (),
    **env_overrides: str,
) -> Iterator[LiveServer]:
    """``staffgraph serve`` on a free port until the block ends; ready when it yields.

    ``database_url`` shares a database between servers (instances of one deployment); by
    default each server gets a fresh one.

    ``unset`` names variables of :func:`server_env` to leave out (``STAFFGRAPH_JWT_SECRET``).
    """
    port = free_port()
    given = contextlib.nullcontext(database_url) if database_url else None
    with given or fresh_database(directory) as database_url:
        env = server_env(database_url, **env_overrides)
        for name in unset:
            env.pop(name, None)
        log_path = directory / f"server-{port}.log"
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                [staffgraph_command(), "serve", "--port", str(port), *args],
                cwd=directory,
                env=env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        server = LiveServer(f"{scheme}://127.0.0.1:{port}", env, process, log_path)
        try:
            _wait_until_ready(server, verify)
            yield server
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_ready(server: LiveServer, verify: ssl.SSLContext | bool) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"staffgraph serve exited early:\n{server.logs()}")
        try:
            response = httpx.get(f"{server.base_url}/healthz", verify=verify, timeout=1.0)
            if response.status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"staffgraph serve did not answer in time:\n{server.logs()}")
