"""Sign-in under concurrency, measured against real ``staffgraph serve`` processes.

``stale_sessions``: logins of one account fired while ``changePassword`` runs (see
tests/signin_races.py for the schedule), for a fixed number of rounds; prints how many
sessions obtained by a login that started before the change answered still work afterwards
(access token on a field that needs a user, or refresh token). Must print 0.

    .venv/bin/python bench/signin_races.py [--rounds 20]

SQLite by default; PostgreSQL when ``STAFFGRAPH_TEST_DATABASE_URL`` names a database (each
server gets a fresh one beside it), with ``STAFFGRAPH_TEST_REDIS_URL`` shared when set.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.signin_races import race_server, run_races


def stale_sessions(rounds: int) -> int:
    """Stale sessions left by ``rounds`` rounds of logins racing ``changePassword``."""
    with tempfile.TemporaryDirectory() as directory, race_server(Path(directory)) as server:
        counts, _ = asyncio.run(run_races(server, Path(directory), {"changePassword": rounds}))
    return counts["changePassword"]


def main() -> None:
    """Run each measurement and print its figure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20, help="login-vs-changePassword rounds")
    args = parser.parse_args()
    stale = stale_sessions(args.rounds)
    print(f"stale sessions after {args.rounds} rounds of logins racing changePassword: {stale}")


if __name__ == "__main__":
    main()
