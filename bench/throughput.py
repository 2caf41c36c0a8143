"""End-to-end throughput as a ratio to a raw Starlette endpoint on the same core.

Starts, each pinned to core 0 with ``taskset``: a raw Starlette endpoint that reads the request
body and returns fixed JSON (the floor, under the same uvicorn, uvloop and httptools), and
``staffgraph serve`` in production on SQLite and, when PostgreSQL answers, on a new PostgreSQL
database. Seeds an organisation (a MANAGER over 3 leads over 60 people in 4 departments, HR),
then drives every (server, query) pair with wrk pinned to core 1, in an order shuffled anew in
each round, and prints each pair's req/s, p99 latency, the server's CPU time per request and its
ratio to the floor measured in the same round (the median over the rounds).

Queries: ``me`` (the signed-in user's name, title and email), and a page of 50 users (7 of their
fields, their manager and department) as HR and as their MANAGER (phone and salary through the
management chain). Every response is checked once before it is measured.

    .venv/bin/python bench/throughput.py [--rounds 3] [--duration 10] [--connections 32]
        [--postgres postgres://postgres@127.0.0.1:5432/postgres | --no-postgres]
        [--profile DIR]

``--profile DIR`` runs each staffgraph query once more under ``py-spy record`` and writes its
collapsed stacks to DIR, then prints the functions holding the most samples (self and total).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.live_server import free_port, staffgraph_command  # noqa: E402

SECRET = "bench-throughput-secret-0123456789abcdef0123456789"
SERVER_CORE, LOAD_CORE = "0", "1"

ME = "{ me { id displayName email jobTitle } }"
PAGE = (
    "{ users(first: 50) { edges { node { id displayName email jobTitle createdAt phone salary "
    "manager { id displayName } department { id name } } } } }"
)
#: query name -> (document, viewer)
QUERIES = {
    "me": (ME, "hr"),
    "page-hr": (PAGE, "hr"),
    "page-manager": (PAGE, "boss"),
}

FLOOR_APP = """
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

BODY = {"data": {"me": {"id": "7d1f0c2e-3a54-4c4e-9a53-5b0e8b1f9e21", "displayName": "Floor",
                        "email": "floor@example.com", "jobTitle": "Constant"}}}

async def graphql(request):
    await request.body()
    return JSONResponse(BODY)

app = Starlette(routes=[Route("/graphql", graphql, methods=["POST"])])
"""

WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = {body}
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = {authorization}
"""


@dataclass
class Server:
    """A server process pinned to the server core, and the tokens its queries run with."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    tokens: dict[str, str]


@dataclass
class Figure:
    """One wrk run: requests per second, 99th percentile latency, CPU per request."""

    rps: float
    p99_ms: float
    cpu_ms: float


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process and its threads, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def settle(pid: int) -> None:
    """Wait until the server has answered what a finished wrk left in flight (those requests
    would otherwise count against ``MAX_CONCURRENCY`` beside the next run's)."""
    last = cpu_seconds(pid)
    while True:
        time.sleep(0.25)
        now = cpu_seconds(pid)
        if now - last < 0.01:
            return
        last = now


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited:\n{log.read_text()[-3000:]}")
        try:
            httpx.post(url, json={"query": "{ __typename }"}, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"server not ready:\n{log.read_text()[-3000:]}")


def staffgraph_env(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STAFFGRAPH_")}
    env.update(
        {
            "STAFFGRAPH_ENV": "production",
            "STAFFGRAPH_JWT_SECRET": SECRET,
            "STAFFGRAPH_DATABASE_URL": database_url,
            "STAFFGRAPH_AUTO_MIGRATE": "true",
            # counted per viewer on every request as in production (a moving window of about as
            # many entries as 300/minute holds), never reached
            "STAFFGRAPH_RATE_LIMIT": "1000000/second",
        }
    )
    return env


@contextmanager
def pinned(command: list[str], env: dict[str, str], log: Path, cwd: Path) -> Iterator[Any]:
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["taskset", "-c", SERVER_CORE, *command], env=env, cwd=cwd, stdout=out, stderr=out
        )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def seed(database_url: str) -> dict[str, uuid.UUID]:
    """The organisation every query reads: the ids of HR and of the MANAGER at its top."""
    from tortoise import Tortoise

    from staffgraph.db import tortoise_config
    from staffgraph.models import Department, Role, User, UserRole

    await Tortoise.init(config=tortoise_config(database_url))
    try:
        departments = [await Department.create(name=f"Department {i}") for i in range(4)]

        async def person(email: str, roles: tuple[Role, ...], **fields: Any) -> User:
            user = await User.create(
                email=email, display_name=email.split("@")[0].title(), **fields
            )
            await UserRole.bulk_create([UserRole(user=user, role=r) for r in roles])
            return user

        # created first, so the first page of 50 holds the MANAGER and the people below them
        boss = await person(
            "boss@example.com",
            (Role.EMPLOYEE, Role.MANAGER),
            job_title="Director",
            salary=200_000,
            phone="+1 555 0100",
            department_id=departments[0].id,
        )
        leads = [
            await person(
                f"lead{i}@example.com",
                (Role.EMPLOYEE, Role.MANAGER),
                job_title="Lead",
                manager_id=boss.id,
                department_id=departments[i].id,
                salary=120_000,
                phone=f"+1 555 020{i}",
            )
            for i in range(3)
        ]
        for i in range(60):
            await person(
                f"person{i:02d}@example.com",
                (Role.EMPLOYEE,),
                job_title="Engineer",
                manager_id=leads[i % 3].id,
                department_id=departments[i % 4].id,
                salary=50_000 + i,
                phone=f"+1 555 03{i:02d}",
            )
        hr = await person("hr@example.com", (Role.EMPLOYEE, Role.HR), job_title="People")
        return {"hr": hr.id, "boss": boss.id}
    finally:
        await Tortoise.close_connections()


def tokens_for(people: dict[str, uuid.UUID]) -> dict[str, str]:
    from staffgraph.auth.tokens import TokenService
    from staffgraph.models import Role
    from staffgraph.settings import Settings

    service = TokenService(
        Settings(jwt_secret=SECRET, access_token_ttl=86_400, database_url="sqlite://:memory:")
    )
    roles = {"hr": {Role.EMPLOYEE, Role.HR}, "boss": {Role.EMPLOYEE, Role.MANAGER}}
    return {
        who: service.issue(user_id, uuid.uuid4(), frozenset(roles[who]))
        for who, user_id in people.items()
    }


@contextmanager
def postgres_database(admin_url: str) -> Iterator[str | None]:
    """A new PostgreSQL database for the run (dropped afterwards), or None when none answers."""
    import asyncpg

    parts = urlsplit(admin_url)
    name = f"staffgraph_bench_{uuid.uuid4().hex[:8]}"
    admin = urlunsplit(("postgresql", parts.netloc, parts.path, "", ""))

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(admin, timeout=3)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    try:
        asyncio.run(run(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"PostgreSQL not measured: {exc}", file=sys.stderr)
        yield None
        return
    try:
        yield urlunsplit(("postgres", parts.netloc, "/" + name, "", ""))
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def start_staffgraph(stack: ExitStack, name: str, database_url: str, work: Path) -> Server:
    env = staffgraph_env(database_url)
    subprocess.run(
        [staffgraph_command(), "migrate"], env=env, cwd=work, check=True, capture_output=True
    )
    # in a process of its own: Tortoise keeps one dialect's statements per model per process
    seeded = subprocess.run(
        [sys.executable, __file__, "--seed", database_url],
        env=env,
        cwd=work,
        check=True,
        capture_output=True,
        text=True,
    )
    people = {who: uuid.UUID(value) for who, value in json.loads(seeded.stdout).items()}
    port = free_port()
    log = work / f"{name}.log"
    command = [staffgraph_command(), "serve", "--port", str(port)]
    process = stack.enter_context(pinned(command, env, log, work))
    url = f"http://127.0.0.1:{port}/graphql"
    wait_ready(url, process, log)
    return Server(name, url, process, tokens_for(people))


def start_floor(stack: ExitStack, work: Path) -> Server:
    (work / "floor_app.py").write_text(FLOOR_APP)
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "floor_app:app",
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    log = work / "floor.log"
    process = stack.enter_context(pinned(command, dict(os.environ), log, work))
    url = f"http://127.0.0.1:{port}/graphql"
    wait_ready(url, process, log)
    return Server("floor", url, process, {"hr": "floor"})


def check_answer(server: Server, query: str, viewer: str) -> None:
    """Refuse to measure a query that does not answer fully (an error is cheaper)."""
    response = httpx.post(
        server.url,
        json={"query": query},
        headers={"Authorization": f"Bearer {server.tokens[viewer]}"},
        timeout=10,
    )
    body = response.json()
    if response.status_code != 200 or body.get("errors"):
        raise SystemExit(f"{server.name}: {query[:40]}... answered {response.status_code} {body}")
    if "users" in body["data"]:
        nodes = [edge["node"] for edge in body["data"]["users"]["edges"]]
        if len(nodes) != 50 or any(n["salary"] is None for n in nodes):
            raise SystemExit(f"{server.name}: the page is not 50 readable users")


def run_wrk(server: Server, query: str, viewer: str, seconds: int, connections: int) -> Figure:
    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    script.write_text(
        WRK_SCRIPT.format(
            body=json.dumps(json.dumps({"query": query})),
            authorization=json.dumps(f"Bearer {server.tokens[viewer]}"),
        )
    )
    base = ["taskset", "-c", LOAD_CORE, "wrk", "-t1", f"-c{connections}", "--timeout", "30s"]
    base += ["-s", str(script)]
    # a short warm-up, unmeasured: connections open, caches fill
    subprocess.run([*base, "-d2s", server.url], check=True, capture_output=True)
    settle(server.process.pid)
    before = cpu_seconds(server.process.pid)
    done = subprocess.run(
        [*base, f"-d{seconds}s", "--latency", server.url],
        check=True,
        capture_output=True,
        text=True,
    )
    spent = cpu_seconds(server.process.pid) - before
    script.unlink()
    output = done.stdout
    if "Non-2xx" in output or "Socket errors" in output:
        raise SystemExit(f"{server.name}: failed requests under load:\n{output}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", output)
    assert p99 is not None, output
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    return Figure(rps, float(p99.group(1)) * scale, 1000 * spent / max(total, 1))


def profile(server: Server, query: str, viewer: str, seconds: int, out: Path) -> None:
    """Collapsed stacks of the server while wrk drives ``query``, and the busiest functions."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    recorder = subprocess.Popen(
        [
            py_spy,
            "record",
            "--pid",
            str(server.process.pid),
            "--format",
            "raw",
            "--rate",
            "250",
            "--duration",
            str(seconds + 1),
            "--output",
            str(out),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.5)
    run_wrk(server, query, viewer, seconds, 32)
    recorder.wait(timeout=60)
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue  # a line py-spy left unfinished
        frames = [re.sub(r" \(.*/(site-packages|src)/", " (", f) for f in stack.split(";")]
        n = int(count)
        samples += n
        own[frames[-1]] += n
        for frame in set(frames):
            total[frame] += n
    print(f"\n{out.name}: {samples} samples; most self time:")
    for frame, n in own.most_common(12):
        print(f"  {100 * n / samples:5.1f}%  {frame}")
    print("  most total time (outside the event loop's own frames):")
    shown = 0
    for frame, n in total.most_common(60):
        if any(s in frame for s in ("<module>", "run (", "run_forever", "_run_once", "_run (")):
            continue
        print(f"  {100 * n / samples:5.1f}%  {frame}")
        shown += 1
        if shown == 25:
            break


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--queries", default=",".join(QUERIES), help="comma-separated")
    parser.add_argument("--profile", type=Path, help="write py-spy profiles here")
    parser.add_argument("--seed", help=argparse.SUPPRESS)  # seeds this database, prints ids
    args = parser.parse_args()
    if args.seed:
        people = asyncio.run(seed(args.seed))
        print(json.dumps({who: str(user_id) for who, user_id in people.items()}))
        return
    if not shutil.which("wrk") or not shutil.which("taskset"):
        raise SystemExit("needs wrk and taskset (Debian: apt-get install wrk util-linux)")
    queries = [q for q in args.queries.split(",") if q]
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="throughput-")))
        servers = [start_floor(stack, work)]
        servers.append(start_staffgraph(stack, "sqlite", f"sqlite://{work / 'bench.db'}", work))
        if not args.no_postgres:
            url = stack.enter_context(postgres_database(args.postgres))
            if url is not None:
                servers.append(start_staffgraph(stack, "postgres", url, work))
        floor = servers[0]
        pairs = [("floor", floor, ME, "hr")]
        for server in servers[1:]:
            for name in queries:
                query, viewer = QUERIES[name]
                check_answer(server, query, viewer)
                pairs.append((f"{server.name} {name}", server, query, viewer))
        print(
            f"{len(pairs)} pairs x {args.rounds} rounds of {args.duration} s, wrk -c"
            f"{args.connections} on core {LOAD_CORE}, servers on core {SERVER_CORE}; "
            f"load average {os.getloadavg()[0]:.2f}",
            flush=True,
        )
        results: dict[str, list[Figure]] = collections.defaultdict(list)
        ratios: dict[str, list[float]] = collections.defaultdict(list)
        for round_number in range(args.rounds):
            order = pairs[:]
            random.shuffle(order)
            figures = {}
            for label, server, query, viewer in order:
                figures[label] = run_wrk(server, query, viewer, args.duration, args.connections)
                results[label].append(figures[label])
            for label, figure in figures.items():
                ratios[label].append(figure.rps / figures["floor"].rps)
            print(
                f"round {round_number + 1}: "
                + ", ".join(f"{k} {v.rps:.0f}" for k, v in figures.items()),
                flush=True,
            )
        print(f"\n{'pair':<24} {'req/s':>8} {'p99 ms':>8} {'CPU ms/req':>11} {'ratio':>7}")
        for label, *_ in pairs:
            figures_of = results[label]
            print(
                f"{label:<24} {statistics.median(f.rps for f in figures_of):>8.0f} "
                f"{statistics.median(f.p99_ms for f in figures_of):>8.1f} "
                f"{statistics.median(f.cpu_ms for f in figures_of):>11.3f} "
                f"{statistics.median(ratios[label]):>6.3f}x"
            )
        if args.profile:
            args.profile.mkdir(parents=True, exist_ok=True)
            for label, server, query, viewer in pairs[1:]:
                out = args.profile / (label.replace(" ", "-") + ".txt")
                profile(server, query, viewer, args.duration, out)


if __name__ == "__main__":
    main()
