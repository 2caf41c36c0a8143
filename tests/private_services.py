"""A PostgreSQL cluster and a Redis server owned by one test, for fault tests.

They run on free ports in a temporary directory, so a test may kill, freeze (SIGSTOP),
thaw and restart them without touching the services every other test uses. ``initdb`` refuses
to run as root: as root, the cluster belongs to the ``postgres`` OS user (``runuser``).
Fixtures skip, with the reason, only when the binaries are absent.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live_server import free_port

READY_TIMEOUT_SECONDS = 30.0


def _wait_for_port(port: int, timeout: float = READY_TIMEOUT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout:.0f}s")


class PrivateRedis:
    """``redis-server`` on a free port, no persistence; :meth:`kill` and :meth:`start` again
    on the same port, :meth:`freeze` / :meth:`thaw` with SIGSTOP / SIGCONT."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, db: int = 0) -> str:
        """The ``redis://`` URL of database ``db``."""
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        """Start (or restart) the server, empty, and wait until it accepts connections."""
        binary = shutil.which("redis-server")
        assert binary is not None
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_for_port(self.port)

    def kill(self) -> None:
        """SIGKILL: the server and everything in it are gone."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def freeze(self) -> None:
        """SIGSTOP: connections stay open, nothing answers."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT after :meth:`freeze`."""
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)


class PrivatePostgres:
    """A PostgreSQL cluster of its own (``initdb`` + ``pg_ctl``) on a free port, trust auth.

    :meth:`freeze` / :meth:`thaw` SIGSTOP / SIGCONT the postmaster and every backend; :meth:`kill`
    is an immediate shutdown (a crash: no checkpoint, clients cut), :meth:`start` brings it back.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="staffgraph-pg-"))
        self.data = self.directory / "data"
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            user = pwd.getpwnam("postgres")
            os.chown(self.directory, user.pw_uid, user.pw_gid)

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if self._as_postgres else []
        subprocess.run(
            [*prefix, *command], check=True, capture_output=True, timeout=READY_TIMEOUT_SECONDS
        )

    def url(self, database: str = "postgres") -> str:
        """A Tortoise URL of ``database`` in this cluster."""
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def init(self) -> None:
        """Create the cluster (a few seconds)."""
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync")

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.directory / "server.log"),
            "-w",
            "-o",
            f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off",
            "start",
        )
        _wait_for_port(self.port)

    def kill(self) -> None:
        """An immediate shutdown: every backend dies at once, as in a crash."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def stop(self) -> None:
        """A fast shutdown (quiet when it is not running)."""
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def _pids(self) -> list[int]:
        pid_file = self.data / "postmaster.pid"
        postmaster = int(pid_file.read_text().splitlines()[0])
        children = subprocess.run(
            ["pgrep", "-P", str(postmaster)], capture_output=True, text=True, check=False
        ).stdout.split()
        return [postmaster, *(int(pid) for pid in children)]

    def freeze(self) -> None:
        """SIGSTOP the postmaster and its backends: sockets stay open, nothing answers."""
        for pid in self._pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT after :meth:`freeze`."""
        for pid in self._pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)

    def remove(self) -> None:
        """Stop the server and delete the cluster."""
        with contextlib.suppress(Exception):
            self.thaw()
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


def needs_binaries(*names: str) -> None:
    """Skip the calling test when one of these programs is not installed."""
    missing = [name for name in names if shutil.which(name) is None]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)}")


@contextlib.contextmanager
def private_redis(directory: Path) -> Iterator[PrivateRedis]:
    """A started :class:`PrivateRedis`, killed at the end."""
    needs_binaries("redis-server")
    directory.mkdir(parents=True, exist_ok=True)
    server = PrivateRedis(directory)
    server.start()
    try:
        yield server
    finally:
        with contextlib.suppress(Exception):
            server.thaw()
        server.kill()


@contextlib.contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """A started :class:`PrivatePostgres`, removed at the end."""
    needs_binaries("initdb", "pg_ctl", "pgrep")
    if os.geteuid() == 0:
        needs_binaries("runuser")
    cluster = PrivatePostgres()
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.remove()
