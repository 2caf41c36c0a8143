"""Goodput and p99 of the 50-user page at 32 and 256 concurrent clients (wrk).

Starts a real ``staffgraph serve`` in production mode on a throw-away SQLite database seeded
with 60 users, pinned to one core (``taskset``), and drives it with ``wrk`` pinned to the other
core: ``users(first: 50)`` with manager and department, as HR (every guarded field readable).
Each connection count runs ``--repeats`` times, interleaved, after a warm-up.

    .venv/bin/python bench/overload.py [--seconds 10] [--repeats 3] [--connections 32,256]
        [--env STAFFGRAPH_MAX_CONCURRENCY=100000] [--profile DIR]

Goodput is 2xx responses per second; on a shared machine it moves with the CPU the server is
given, so each run also reports 2xx responses per CPU second the server used (user + system,
from /proc), which the neighbours do not change. "p99 served" is the 99th percentile latency
of the 2xx responses: wrk reports one distribution for every response, so it is read at the
percentile that skips the refused (503) share, assuming refusals (answered at once, well under
a millisecond of work) are faster than any served page. Target: goodput at 256 at least 90% of
goodput at 32, p99 served at 256 at most 3x the one at 32.

Needs ``wrk`` (Debian package) and ``taskset``; ``--profile`` needs ``py-spy``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

SECRET = "overload-bench-secret-" + "x" * 40
PAGE = (
    "{ users(first: 50) { edges { node { id displayName email jobTitle phone salary "
    "manager { displayName } department { name } } } } }"
)
USERS = 60
#: goodput /s, p99 served ms, refused share, other failures, served per server CPU second
Run = tuple[float, float, float, int, float]

WRK_SCRIPT = r"""
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")

local counts = {}
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  statuses = {}
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local merged = {}
  for _, thread in ipairs(threads) do
    local s = thread:get("statuses")
    for code, n in pairs(s) do merged[code] = (merged[code] or 0) + n end
  end
  local parts = {}
  for code, n in pairs(merged) do table.insert(parts, string.format('"%d": %d', code, n)) end
  local pct = {}
  for i = 0, 1000 do
    local p = 90 + i / 100
    if p > 100 then break end
    table.insert(pct, string.format('"%.2f": %d', p, latency:percentile(p)))
  end
  for p = 1, 89 do table.insert(pct, string.format('"%.2f": %d', p, latency:percentile(p))) end
  io.write(string.format(
    'BENCH {"duration_us": %d, "requests": %d, "statuses": {%s}, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}, ' ..
    '"latency_us": {%s}}\n',
    summary.duration, summary.requests, table.concat(parts, ", "),
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout,
    table.concat(pct, ", ")))
end
"""


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def staffgraph() -> str:
    """The console script next to this interpreter."""
    return str(Path(sys.executable).with_name("staffgraph"))


async def seed(database_url: str) -> uuid.UUID:
    """60 users in 4 departments, each but the first with a manager; the HR user's id."""
    from tortoise import Tortoise

    from staffgraph.db import apply_migrations, tortoise_config
    from staffgraph.models import Department, Role, User, UserRole

    await apply_migrations(database_url)
    await Tortoise.init(config=tortoise_config(database_url))
    try:
        departments = [await Department.create(name=f"Department {i}") for i in range(4)]
        people: list[User] = []
        for i in range(USERS):
            people.append(
                await User.create(
                    email=f"person{i}@example.com",
                    display_name=f"Person {i}",
                    job_title="Engineer",
                    phone=f"+44 20 7946 {i:04d}",
                    salary=50_000 + i * 1000,
                    department_id=departments[i % 4].id,
                    manager_id=people[(i - 1) // 3].id if i else None,
                )
            )
        hr = people[-1]
        for role in (Role.EMPLOYEE, Role.HR):
            await UserRole.create(user_id=hr.id, role=role)
        return hr.id
    finally:
        await Tortoise.close_connections()


def hr_token(user_id: uuid.UUID, env: dict[str, str]) -> str:
    """An access token of the HR user, signed with the server's secret."""
    from staffgraph.auth.tokens import TokenService
    from staffgraph.models import Role
    from staffgraph.settings import load_settings

    settings = load_settings(
        _env_file=None, env="production", jwt_secret=SECRET, access_token_ttl=3600
    )
    return TokenService(settings).issue(user_id, uuid.uuid4(), frozenset({Role.EMPLOYEE, Role.HR}))


def wait_ready(base: str, process: subprocess.Popen[bytes]) -> None:
    """Until /healthz answers, or fail after 30 s."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("the server exited")
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise SystemExit("the server did not start")


def run_wrk(
    url: str, connections: int, seconds: float, script: Path, token: str, core: str
) -> dict[str, object]:
    """One wrk run; its figures."""
    env = dict(os.environ, BENCH_TOKEN=token, BENCH_BODY=json.dumps({"query": PAGE}))
    command = ["taskset", "-c", core, "wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s"]
    command += ["--timeout", "30s", "-s", str(script), url]
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    line = next(line for line in out.splitlines() if line.startswith("BENCH "))
    result: dict[str, object] = json.loads(line[len("BENCH ") :])
    return result


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) ``pid`` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def drain(pid: int, limit: float = 120.0) -> None:
    """Until the server is idle: requests abandoned by the last run (wrk closes its sockets,
    the server finishes what it started) must not count against the next one."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        before = cpu_seconds(pid)
        time.sleep(0.5)
        if cpu_seconds(pid) - before < 0.05:
            return


def figures(result: dict[str, object]) -> tuple[float, float, float, int, float]:
    """(goodput /s, p99 of served ms, refused share, other failures, served count) of one run."""
    statuses = {int(k): v for k, v in result["statuses"].items()}  # type: ignore[attr-defined]
    seconds = result["duration_us"] / 1e6  # type: ignore[operator]
    served = sum(n for code, n in statuses.items() if 200 <= code < 300)
    refused = statuses.get(503, 0)
    total = sum(statuses.values())
    others = total - served - refused + sum(result["errors"].values())  # type: ignore[attr-defined]
    share = refused / total if total else 0.0
    # the served requests are the slowest (1 - share) of all: their p99 sits at this point
    point = 100 * (share + 0.99 * (1 - share))
    latency = {float(k): v for k, v in result["latency_us"].items()}  # type: ignore[attr-defined]
    nearest = min((p for p in latency if p >= point - 1e-9), default=100.0)
    return served / seconds, latency[nearest] / 1000, share, others, served


def start_profile(out: Path, pid: int, seconds: float) -> subprocess.Popen[bytes]:
    """py-spy sampling ``pid`` (native frames: the collector shows as ``gc_collect_main``)."""
    command = ["py-spy", "record", "--native", "--format", "raw", "-r", "200"]
    command += ["-d", str(int(seconds)), "-o", str(out), "-p", str(pid)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> None:
    """Seed, start the server, run wrk at each connection count, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--connections", default="32,256")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the server")
    parser.add_argument("--server-core", default="0")
    parser.add_argument("--client-core", default="1")
    parser.add_argument("--profile", help="record py-spy profiles of the server into this dir")
    args = parser.parse_args()
    counts = [int(c) for c in args.connections.split(",")]
    if not (
        0 < args.seconds <= 60 and 0 < args.repeats <= 10 and all(0 < c <= 1024 for c in counts)
    ):
        raise SystemExit("keep it bounded: seconds <= 60, repeats <= 10, connections <= 1024")
    for tool in ("wrk", "taskset"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed (apt-get install -y {tool})")

    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        database_url = f"sqlite://{directory / 'overload.db'}"
        user_id = asyncio.run(seed(database_url))
        env = {k: v for k, v in os.environ.items() if not k.startswith("STAFFGRAPH_")}
        env.update(
            STAFFGRAPH_ENV="production",
            STAFFGRAPH_DATABASE_URL=database_url,
            STAFFGRAPH_JWT_SECRET=SECRET,
            STAFFGRAPH_RATE_LIMIT="100000000/minute",  # the limiter must not be what refuses
            STAFFGRAPH_LOG_LEVEL="WARNING",  # shipped INFO writes an access line per request
        )
        for item in args.env:
            name, _, value = item.partition("=")
            env[name] = value
        token = hr_token(user_id, env)
        script = directory / "page.lua"
        script.write_text(WRK_SCRIPT)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        log = (directory / "server.log").open("wb")
        server = subprocess.Popen(
            ["taskset", "-c", args.server_core, staffgraph(), "serve", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_ready(base, server)
            check = httpx.post(
                base + "/graphql",
                json={"query": PAGE},
                headers={"Authorization": f"Bearer {token}"},
            )
            edges = check.json()["data"]["users"]["edges"]
            assert len(edges) == 50, check.text
            assert edges[1]["node"]["salary"] is not None, check.text
            run_wrk(base + "/graphql", 32, 3, script, token, args.client_core)  # warm-up
            drain(server.pid)
            results: dict[int, list[Run]] = {c: [] for c in counts}
            for round_ in range(args.repeats):
                for c in counts:
                    spy = None
                    if args.profile and round_ == 0:
                        out = Path(args.profile) / f"profile-{c}.txt"
                        spy = start_profile(out, server.pid, args.seconds)
                    cpu = cpu_seconds(server.pid)
                    result = run_wrk(
                        base + "/graphql", c, args.seconds, script, token, args.client_core
                    )
                    cpu = cpu_seconds(server.pid) - cpu
                    drain(server.pid)
                    if spy is not None:
                        spy.wait(timeout=60)
                    good, p99, share, others, served = figures(result)
                    results[c].append((good, p99, share, others, served / cpu))
                    print(
                        f"  run {round_ + 1} c={c:<4} goodput {good:7.1f}/s  "
                        f"p99 served {p99:8.1f} ms  refused {share:6.1%}  other failures {others}  "
                        f"served per server CPU second {served / cpu:5.1f}",
                        flush=True,
                    )
        finally:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
            log.close()
            if server.returncode not in (0, -15):
                sys.stderr.write((directory / "server.log").read_text()[-4000:])

    print(f"settings: {' '.join(args.env) or 'defaults'}; load average {os.getloadavg()[0]:.2f}")
    for c in counts:
        goods = [r[0] for r in results[c]]
        p99s = [r[1] for r in results[c]]
        per_cpu = [r[4] for r in results[c]]
        print(
            f"c={c:<4} goodput median {statistics.median(goods):7.1f}/s "
            f"(runs {', '.join(f'{g:.0f}' for g in goods)})  "
            f"p99 served median {statistics.median(p99s):8.1f} ms  "
            f"served per CPU second median {statistics.median(per_cpu):.1f}"
        )
    if len(counts) == 2:
        low, high = counts
        pairs = list(zip(results[low], results[high], strict=True))
        ratios = [h[0] / max(lo[0], 1e-9) for lo, h in pairs]
        p99_ratios = [h[1] / max(lo[1], 1e-9) for lo, h in pairs]
        print(
            f"goodput {high}/{low}: {', '.join(f'{r:.2f}' for r in ratios)} "
            f"(median {statistics.median(ratios):.2f}, target >= 0.90)"
        )
        cpu_ratios = [h[4] / max(lo[4], 1e-9) for lo, h in pairs]
        print(
            f"p99 served {high}/{low}: {', '.join(f'{r:.2f}' for r in p99_ratios)} "
            f"(median {statistics.median(p99_ratios):.2f}, target <= 3)"
        )
        print(
            f"served per server CPU second {high}/{low}: "
            f"{', '.join(f'{r:.2f}' for r in cpu_ratios)} "
            f"(median {statistics.median(cpu_ratios):.2f})"
        )


if __name__ == "__main__":
    main()
