"""p99 latency of a cheap query, idle and during a storm of logins at BCRYPT_ROUNDS=12.

Starts a real ``staffgraph serve`` (uvicorn on 127.0.0.1, a throw-away SQLite database), then
sends ``{ me { id } }`` with a valid token at a fixed rate (open loop: each request leaves at
its scheduled time, so a stalled server cannot hide its latency) for a fixed time, first with
nothing else going on, then while ``--storm`` clients log in back to back. Everything is bounded
in count and time, and the server is stopped at the end.

    .venv/bin/python bench/auth_login_storm.py [--rate 50] [--seconds 10] [--storm 8]

Target: the p99 under the storm at most 3x the idle p99.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

EMAIL = f"storm-{uuid.uuid4().hex[:8]}@example.com"  # unique: a database may be reused
PASSWORD = "storm bench passphrase 2026"
ME = {"query": "{ me { id } }"}
LOGIN = {
    "query": "mutation($e: String!, $p: String!) "
    "{ login(email: $e, password: $p) { accessToken } }",
    "variables": {"e": EMAIL, "p": PASSWORD},
}


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def staffgraph() -> str:
    """The console script next to this interpreter."""
    return str(Path(sys.executable).with_name("staffgraph"))


def server_env(directory: Path, rounds: int, database_url: str | None) -> dict[str, str]:
    """Settings for the server under test."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STAFFGRAPH_")}
    env.update(
        STAFFGRAPH_DATABASE_URL=database_url or f"sqlite://{directory / 'storm.db'}",
        STAFFGRAPH_JWT_SECRET="storm-bench-secret-" + "x" * 40,
        STAFFGRAPH_BCRYPT_ROUNDS=str(rounds),
        # the storm must reach bcrypt: no limit may stop it first
        STAFFGRAPH_LOGIN_RATE_LIMIT="1000000/minute",
        STAFFGRAPH_RATE_LIMIT="1000000/minute",
    )
    return env


async def wait_ready(client: httpx.AsyncClient, deadline: float) -> None:
    """Until /healthz answers, or fail after ``deadline`` seconds."""
    started = time.monotonic()
    while time.monotonic() - started < deadline:
        try:
            if (await client.get("/healthz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise SystemExit("the server did not start")


async def probe(client: httpx.AsyncClient, token: str, rate: float, seconds: float) -> list[float]:
    """Latencies (s) of ``{ me { id } }`` sent at ``rate`` per second for ``seconds``."""
    headers = {"Authorization": f"Bearer {token}"}
    latencies: list[float] = []
    count = int(rate * seconds)
    start = time.perf_counter() + 0.05

    async def one(at: float) -> None:
        await asyncio.sleep(max(0.0, at - time.perf_counter()))
        sent = time.perf_counter()
        response = await client.post("/graphql", json=ME, headers=headers)
        latencies.append(time.perf_counter() - sent)
        assert response.status_code == 200, response.text
        assert response.json()["data"]["me"], response.text

    await asyncio.gather(*(one(start + i / rate) for i in range(count)))
    return latencies


async def storm(client: httpx.AsyncClient, stop: asyncio.Event, done: list[float]) -> None:
    """Log in back to back until ``stop``; append each login's latency to ``done``."""
    while not stop.is_set():
        sent = time.perf_counter()
        response = await client.post("/graphql", json=LOGIN, timeout=120)
        assert "errors" not in response.json(), response.text
        done.append(time.perf_counter() - sent)


def load() -> str:
    """The machine's load averages (other processes skew latency figures)."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def p99(values: list[float]) -> float:
    """The 99th percentile."""
    return statistics.quantiles(values, n=100)[98]


async def run(base: str, rate: float, seconds: float, clients: int) -> None:
    """Measure idle, then under the storm; print the figures."""
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:
        await wait_ready(client, 30)
        token = (await client.post("/graphql", json=LOGIN)).json()["data"]["login"]["accessToken"]
        await probe(client, token, rate, 1)  # warm-up
        idle = await probe(client, token, rate, seconds)

        stop, logins = asyncio.Event(), []
        async with httpx.AsyncClient(base_url=base, timeout=120) as login_client:
            stormers = [
                asyncio.create_task(storm(login_client, stop, logins)) for _ in range(clients)
            ]
            await asyncio.sleep(1)  # let the queue fill
            busy = await probe(client, token, rate, seconds)
            stop.set()
            await asyncio.gather(*stormers)

    idle_p99, busy_p99 = p99(idle) * 1000, p99(busy) * 1000
    print(f"probe: {rate:g} req/s of {{ me {{ id }} }} for {seconds:g}s; storm: {clients} clients")
    print(f"load average after the run: {load()}")
    print(f"idle   p50 {statistics.median(idle) * 1000:7.2f} ms   p99 {idle_p99:7.2f} ms")
    print(f"storm  p50 {statistics.median(busy) * 1000:7.2f} ms   p99 {busy_p99:7.2f} ms")
    print(f"ratio  p99 storm / idle = {busy_p99 / idle_p99:.2f} (target <= 3)")
    span = seconds + 1
    print(
        f"logins during the storm: {len(logins)} ({len(logins) / span:.1f}/s), "
        f"median {statistics.median(logins):.2f}s each"
    )


def main() -> None:
    """Start the server, run the measurement, stop the server."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=50.0, help="probe requests per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    parser.add_argument("--storm", type=int, default=8, help="concurrent login clients")
    parser.add_argument("--rounds", type=int, default=12, help="BCRYPT_ROUNDS of the server")
    parser.add_argument(
        "--database-url", help="an existing database (default: a throw-away SQLite file)"
    )
    parser.add_argument("--server-log", help="keep the server's log (JSON lines) in this file")
    args = parser.parse_args()
    if not (0 < args.rate <= 500 and 0 < args.seconds <= 60 and 0 < args.storm <= 64):
        raise SystemExit("keep it bounded: rate <= 500/s, seconds <= 60, storm <= 64")

    with tempfile.TemporaryDirectory() as tmp:
        env = server_env(Path(tmp), args.rounds, args.database_url)
        subprocess.run(
            [
                staffgraph(),
                "create-user",
                "--email",
                EMAIL,
                "--name",
                "Storm",
                "--password",
                PASSWORD,
            ],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        port = free_port()
        log = open(args.server_log, "wb") if args.server_log else subprocess.DEVNULL  # noqa: SIM115
        server = subprocess.Popen(
            [staffgraph(), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=log,
        )
        try:
            asyncio.run(run(f"http://127.0.0.1:{port}", args.rate, args.seconds, args.storm))
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
            if not isinstance(log, int):
                log.close()


if __name__ == "__main__":
    main()
