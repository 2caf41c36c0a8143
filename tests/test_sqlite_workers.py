"""``serve --workers 2`` on SQLite: concurrent writes from both workers all succeed.

Two processes writing one SQLite file: a transaction that reads before it writes must not fail
with "database is locked". Runs on SQLite whatever database the suite uses, with a private
Redis (``--workers > 1`` needs one) that this test starts and stops.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.live_server import live_server, staffgraph_command
from tests.private_services import private_redis

pytestmark = pytest.mark.slow

PASSWORD = "workers share one sqlite file"
CLIENTS = 8
ROUNDS = 6
LOGIN = (
    "mutation($e: String!, $p: String!) "
    "{ login(email: $e, password: $p) { accessToken refreshToken } }"
)
# reads the token, then marks it used and opens the next one: a read-then-write transaction
REFRESH = "mutation($r: String!) { refreshToken(refreshToken: $r) { accessToken refreshToken } }"
UPDATE = "mutation($n: String!) { updateMyProfile(input: {displayName: $n}) { displayName } }"


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A Redis of this test's own, on a free port, nothing saved."""
    with private_redis(tmp_path) as server:
        yield server.url()


def test_two_workers_write_one_sqlite_file_without_errors(tmp_path: Path, redis_url: str):
    database = tmp_path / "workers.db"
    with live_server(
        tmp_path,
        "--workers",
        "2",
        STAFFGRAPH_DATABASE_URL=f"sqlite://{database}",
        STAFFGRAPH_REDIS_URL=redis_url,
        STAFFGRAPH_RATE_LIMIT="100000/minute",
        STAFFGRAPH_LOGIN_RATE_LIMIT="100000/minute",
    ) as server:
        emails = [f"writer{i}@example.com" for i in range(CLIENTS)]
        for i, email in enumerate(emails):
            command = [staffgraph_command(), "create-user", "--email", email]
            command += ["--name", f"Writer {i}", "--password", PASSWORD]
            subprocess.run(command, env=server.env, cwd=tmp_path, check=True, capture_output=True)
        failures: list[str] = []
        served = []
        start = threading.Barrier(CLIENTS)

        def writer(email: str) -> None:
            # a connection per request: the kernel spreads them over both workers
            start.wait(timeout=30)
            for round_ in range(ROUNDS):
                answers = []
                login = httpx.post(
                    f"{server.base_url}/graphql",
                    json={"query": LOGIN, "variables": {"e": email, "p": PASSWORD}},
                    timeout=60,
                )
                answers.append(login)
                if login.status_code == 200 and "errors" not in login.json():
                    refresh = login.json()["data"]["login"]["refreshToken"]
                    for _ in range(3):
                        renewed = httpx.post(
                            f"{server.base_url}/graphql",
                            json={"query": REFRESH, "variables": {"r": refresh}},
                            timeout=60,
                        )
                        answers.append(renewed)
                        if renewed.status_code != 200 or "errors" in renewed.json():
                            break
                        refresh = renewed.json()["data"]["refreshToken"]["refreshToken"]
                    token = login.json()["data"]["login"]["accessToken"]
                    for n in range(3):
                        answers.append(
                            httpx.post(
                                f"{server.base_url}/graphql",
                                json={"query": UPDATE, "variables": {"n": f"W {round_}.{n}"}},
                                headers={"Authorization": f"Bearer {token}"},
                                timeout=60,
                            )
                        )
                for answer in answers:
                    served.append(answer)
                    if answer.status_code != 200 or "errors" in answer.json():
                        failures.append(f"{answer.status_code} {answer.text[:300]}")

        threads = [threading.Thread(target=writer, args=(email,)) for email in emails]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=240)
        logs = server.logs()
    assert not any(thread.is_alive() for thread in threads)
    assert len(served) >= CLIENTS * ROUNDS
    assert failures == [], f"{len(failures)} of {len(served)} writes failed: {failures[:3]}"
    assert "database is locked" not in logs
