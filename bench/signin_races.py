"""Sign-in under concurrency, measured against real ``staffgraph serve`` processes.

``stale_sessions``: logins of one account fired while ``changePassword`` runs (see
tests/signin_races.py for the schedule), for a fixed number of rounds; prints how many
sessions obtained by a login that started before the change answered still work afterwards
(access token on a field that needs a user, or refresh token). Must print 0.

``parallel_guesses`` (bench/signin_guesses.py): wrong guesses fired in parallel at one account
across 2 instances sharing a private Redis; prints how many were checked against a limit of N.
Must print N.

    .venv/bin/python bench/signin_races.py [--rounds 20] [--limit 10] [--guesses 24]

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

from signin_guesses import parallel_guesses


def stale_sessions(rounds: int) -> int:
    """Stale sessions left by ``rounds`` rounds of logins racing ``changePassword``."""
    with tempfile.TemporaryDirectory() as directory, race_server(Path(directory)) as server:
        counts, _ = asyncio.run(run_races(server, Path(directory), {"changePassword": rounds}))
    return counts["changePassword"]


def main() -> None:
    """Run each measurement and print its figure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20, help="login-vs-changePassword rounds")
    parser.add_argument("--limit", type=int, default=10, help="LOGIN_RATE_LIMIT per pair")
    parser.add_argument("--guesses", type=int, default=24, help="parallel wrong guesses")
    args = parser.parse_args()
    stale = stale_sessions(args.rounds)
    print(f"stale sessions after {args.rounds} rounds of logins racing changePassword: {stale}")
    checked = parallel_guesses(args.limit, args.guesses)
    print(
        f"{args.guesses} parallel wrong guesses over 2 instances sharing Redis, limit "
        f"{args.limit}: {checked} checked"
    )


if __name__ == "__main__":
    main()
