"""A private ``redis-server`` a test owns: its own port, no persistence, stopped afterwards.

For tests that need Redis whatever ``STAFFGRAPH_TEST_REDIS_URL`` says (``serve --workers N``
refuses to start without one). Skips the test when the binary is absent.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from redis import Redis
from redis.exceptions import RedisError

from tests.live_server import free_port

START_TIMEOUT_SECONDS = 15.0


@contextmanager
def private_redis(directory: Path) -> Iterator[str]:
    """``redis://127.0.0.1:PORT/0`` of a redis-server running until the block ends."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=directory,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            try:
                if Redis(port=port, socket_timeout=1).ping():
                    break
            except RedisError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server on port {port} did not start")
            time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
