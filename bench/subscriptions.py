"""Subscription fan-out: delivery latency to many subscribers, and what they cost a mutation.

Starts real servers (production settings, SQLite, ``tests/live_server.py``), opens N
graphql-transport-ws connections each subscribed to ``userUpdated`` of one user, then runs the
same ``updateUser`` mutation a few times and prints, per round, the mutation's own latency and
the p50/p99/max delay from the mutation being sent to each subscriber receiving its event;
then the mutation's latency with no subscriber at all. With ``--redis-url``, two instances
share Redis and the subscribers are split between them (the mutation runs on the first).

    .venv/bin/python bench/subscriptions.py [--subscribers 1000] [--rounds 5]
        [--redis-url redis://127.0.0.1:6379/9]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.live_server import LiveServer, create_user, live_server
from tests.ws_client import Socket, ws_session

PASSWORD = "fan out to a thousand subscribers"
WATCH = "subscription ($id: ID!) { userUpdated(id: $id) { displayName jobTitle } }"
UPDATE = "mutation ($id: ID!, $t: String) { updateUser(id: $id, input: {jobTitle: $t}) { id } }"


def create(server: LiveServer, directory: Path, email: str, role: str) -> str:
    return create_user(server, directory, email, email.split("@")[0], PASSWORD, (role,))


async def sign_in(server: LiveServer, email: str) -> str:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        body = (
            await client.post(
                "/graphql",
                json={
                    "query": "mutation ($e: String!, $p: String!) { login(email: $e, password: $p) "
                    "{ accessToken } }",
                    "variables": {"e": email, "p": PASSWORD},
                },
            )
        ).json()
    token: str = body["data"]["login"]["accessToken"]
    return token


async def mutate(client: httpx.AsyncClient, token: str, target: str, title: str) -> float:
    started = time.perf_counter()
    response = await client.post(
        "/graphql",
        json={"query": UPDATE, "variables": {"id": target, "t": title}},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert "errors" not in response.json(), response.text
    return time.perf_counter() - started


async def arrival(socket: Socket, operation: str, sent: float) -> float:
    """Seconds from ``sent`` until this subscriber's next event arrived."""
    await socket.next_message(operation, within=60)
    return time.perf_counter() - sent


async def run(
    servers: list[LiveServer],
    target: str,
    hr_token: str,
    colleague_tokens: list[str],
    subscribers: int,
    rounds: int,
) -> None:
    async with contextlib.AsyncExitStack() as stack:
        sockets: list[tuple[Socket, str]] = []
        for index in range(subscribers):
            server = servers[index % len(servers)]
            token = colleague_tokens[index % len(servers)]
            socket = await stack.enter_async_context(ws_session(server.base_url, token))
            sockets.append((socket, await socket.subscribe(WATCH, {"id": target})))
        await asyncio.sleep(1.0)
        async with httpx.AsyncClient(base_url=servers[0].base_url, timeout=60) as client:
            for round_number in range(rounds):
                sent = time.perf_counter()
                own = await mutate(client, hr_token, target, f"Round {round_number}")

                delays = sorted(await asyncio.gather(*(arrival(s, op, sent) for s, op in sockets)))
                p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))]
                print(
                    f"round {round_number}: mutation {own * 1000:.1f} ms; delivery to "
                    f"{len(delays)}: p50 {statistics.median(delays) * 1000:.0f} ms, "
                    f"p99 {p99 * 1000:.0f} ms, max {delays[-1] * 1000:.0f} ms",
                    flush=True,
                )
    async with httpx.AsyncClient(base_url=servers[0].base_url, timeout=60) as client:
        alone = [await mutate(client, hr_token, target, f"Alone {n}") for n in range(rounds)]
    print(f"no subscriber: mutation p50 {statistics.median(alone) * 1000:.1f} ms")


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--redis-url")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        first_dir, second_dir = Path(tmp, "one"), Path(tmp, "two")
        first_dir.mkdir()
        second_dir.mkdir()
        env: dict[str, Any] = {"STAFFGRAPH_RATE_LIMIT": "100000/minute"}
        if args.redis_url:
            env["STAFFGRAPH_REDIS_URL"] = args.redis_url
        with live_server(first_dir, **env) as one:
            target = create(one, first_dir, "target@example.com", "EMPLOYEE")
            create(one, first_dir, "hr@example.com", "HR")
            create(one, first_dir, "colleague@example.com", "EMPLOYEE")
            servers = [one]
            with contextlib.ExitStack() as stack:
                if args.redis_url:
                    servers.append(
                        stack.enter_context(
                            live_server(
                                second_dir,
                                STAFFGRAPH_DATABASE_URL=one.env["STAFFGRAPH_DATABASE_URL"],
                                **env,
                            )
                        )
                    )

                async def go() -> None:
                    hr = await sign_in(one, "hr@example.com")
                    colleagues = [await sign_in(s, "colleague@example.com") for s in servers]
                    await run(servers, target, hr, colleagues, args.subscribers, args.rounds)

                print(f"{args.subscribers} subscribers on {len(servers)} instance(s)")
                asyncio.run(go())


if __name__ == "__main__":
    main()
