"""Credential changes win every race (API.md §9), against a real server process.

Logins of one account are fired a few milliseconds apart while ``changePassword``,
``deactivateUser`` or ``setRoles`` runs; once the change has answered, no token obtained by a
login that started before the answer may work, and a token minted after ``setRoles`` answered
carries the new roles. SQLite, or PostgreSQL when ``STAFFGRAPH_TEST_DATABASE_URL`` is set.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.signin_races import race_server, run_races

#: rounds per kind of change (four logins each): before the security stamp, two rounds left
#: 6 to 8 stale sessions of 8 for changePassword and deactivateUser; setRoles, which commits
#: at once and whose sessions were ended anyway, checks that no token carries old roles
ROUNDS = {"changePassword": 2, "deactivateUser": 2, "setRoles": 1}


def test_no_session_outlives_a_credential_change_it_raced(tmp_path: Path):
    with race_server(tmp_path) as server:
        counts, stale = asyncio.run(run_races(server, tmp_path, ROUNDS))
    assert counts == {"changePassword": 0, "deactivateUser": 0, "setRoles": 0}, stale
