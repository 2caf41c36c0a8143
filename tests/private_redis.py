"""A private ``redis-server`` a test owns: on a free port, no persistence, in a temporary
directory, so the test may freeze (SIGSTOP), thaw (SIGCONT) or kill it. The shared Redis of the
other tests is never touched.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from tests.live_server import free_port

STARTUP_TIMEOUT_SECONDS = 10.0


@dataclass
class PrivateRedis:
    """A running private Redis: its URL and process."""

    url: str
    process: subprocess.Popen[bytes]

    def freeze(self) -> None:
        """SIGSTOP: connections are accepted by the kernel, nothing is answered."""
        os.kill(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT: answer again, with every key it held."""
        os.kill(self.process.pid, signal.SIGCONT)

    def client(self) -> redis.Redis:
        """A synchronous client, for the test's own look at the keys."""
        return redis.Redis.from_url(self.url, socket_timeout=2)


@contextmanager
def private_redis(directory: Path) -> Iterator[PrivateRedis]:
    """Start ``redis-server`` on a free port until the block ends; skips when it is absent."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    directory.mkdir(parents=True, exist_ok=True)
    log = (directory / f"redis-{port}.log").open("wb")
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=directory,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = PrivateRedis(f"redis://127.0.0.1:{port}/0", process)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while True:
            try:
                if server.client().ping():
                    break
            except redis.RedisError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(f"redis-server did not start on port {port}") from None
                time.sleep(0.05)
        yield server
    finally:
        if process.poll() is None:
            server.thaw()  # a stopped process would not act on SIGTERM
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()
