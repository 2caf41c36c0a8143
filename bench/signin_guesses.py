"""How many parallel wrong guesses at one account are checked against a failed-login limit of N
when two instances share one Redis (API.md §9: exactly N).

Starts a private ``redis-server`` on a free port (or uses ``--redis-url``) and two
``staffgraph serve`` processes sharing it, each on its own throw-away SQLite database, fires
``--guesses`` wrong passwords at once, alternating between the instances, and counts the
answers: ``UNAUTHENTICATED`` is a guess that was checked, ``RATE_LIMITED`` one refused before
any check. Everything is bounded in count and time, and every process is stopped at the end.

    .venv/bin/python bench/signin_guesses.py [--limit 10] [--guesses 24] [--workers 1]

Prints the number of guesses checked; it must be the limit. ``parallel_guesses(limit,
guesses)`` does the same for other scripts and returns that number.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx

LOGIN = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }"
START_TIMEOUT_SECONDS = 60.0


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def private_redis(directory: Path) -> Iterator[str]:
    """A ``redis-server`` of our own on a free port, without persistence; its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed (or pass --redis-url)")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=directory,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            if time.monotonic() > deadline:
                raise SystemExit("redis-server did not start")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        _stop(process)


@contextlib.contextmanager
def instance(directory: Path, redis_url: str, limit: int, workers: int) -> Iterator[str]:
    """One ``staffgraph serve`` on its own SQLite file, sharing ``redis_url``; its base URL."""
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STAFFGRAPH_")}
    env.update(
        STAFFGRAPH_ENV="production",
        STAFFGRAPH_JWT_SECRET="signin-guesses-bench-secret-" + "x" * 40,
        STAFFGRAPH_DATABASE_URL=f"sqlite://{directory / 'bench.db'}",
        STAFFGRAPH_AUTO_MIGRATE="true",
        STAFFGRAPH_BCRYPT_ROUNDS="10",
        STAFFGRAPH_REDIS_URL=redis_url,
        STAFFGRAPH_LOGIN_RATE_LIMIT=f"{limit}/15 minutes",
    )
    command = [str(Path(sys.executable).with_name("staffgraph")), "serve", "--port", str(port)]
    if workers > 1:
        command += ["--workers", str(workers)]
    log = (directory / "server.log").open("wb")
    process = subprocess.Popen(
        command, cwd=directory, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            if process.poll() is not None:
                raise SystemExit(f"the server exited early, see {directory / 'server.log'}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise SystemExit("the server did not start")
            time.sleep(0.1)
        yield base_url
    finally:
        _stop(process)
        log.close()


async def fire(base_urls: list[str], guesses: int) -> Counter[str]:
    """``guesses`` wrong passwords for one fresh account at once; the answers' error codes."""
    email = f"target-{uuid.uuid4().hex[:8]}@example.com"
    limits = httpx.Limits(max_connections=guesses, max_keepalive_connections=guesses)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:

        async def guess(index: int) -> str:
            response = await client.post(
                f"{base_urls[index % len(base_urls)]}/graphql",
                json={"query": LOGIN, "variables": {"e": email, "p": f"wrong guess {index}"}},
            )
            errors = response.json().get("errors") or [{"extensions": {"code": "OK"}}]
            code: str = errors[0]["extensions"].get("code", "?")
            return code

        return Counter(await asyncio.gather(*(guess(i) for i in range(guesses))))


def parallel_guesses(
    limit: int,
    guesses: int,
    *,
    instances: int = 2,
    workers: int = 1,
    redis_url: str | None = None,
) -> int:
    """How many of ``guesses`` parallel wrong guesses were checked (answered
    ``UNAUTHENTICATED``) with a limit of ``limit``, across ``instances`` servers sharing one
    Redis (a private one unless ``redis_url`` is given)."""
    with (
        tempfile.TemporaryDirectory(prefix="signin-guesses-") as tmp,
        contextlib.ExitStack() as stack,
    ):
        directory = Path(tmp)
        url = redis_url or stack.enter_context(private_redis(directory))
        base_urls = [
            stack.enter_context(instance(directory / f"i{n}", url, limit, workers))
            for n in range(instances)
        ]
        codes = asyncio.run(fire(base_urls, guesses))
        for log in sorted(directory.glob("i*/server.log")):
            for line in log.read_text(errors="replace").splitlines():
                if "WARNING" in line or "ERROR" in line:
                    print(f"{log.parent.name}: {line[:200]} ... {line[-300:]}", file=sys.stderr)
    unexpected = set(codes) - {"UNAUTHENTICATED", "RATE_LIMITED"}
    if unexpected:
        raise RuntimeError(f"unexpected answers: {dict(codes)}")
    return codes["UNAUTHENTICATED"]


def main() -> None:
    """Run once and print the count next to the limit."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=10)
    parser.add_argument("--guesses", type=int, default=24)
    parser.add_argument("--instances", type=int, default=2)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--redis-url", default=None, help="an existing Redis (default: a private one)"
    )
    args = parser.parse_args()
    checked = parallel_guesses(
        args.limit,
        args.guesses,
        instances=args.instances,
        workers=args.workers,
        redis_url=args.redis_url,
    )
    print(
        f"{args.guesses} parallel wrong guesses over {args.instances} instances "
        f"x {args.workers} workers, limit {args.limit}: {checked} checked"
    )
    print(checked)


if __name__ == "__main__":
    main()
