"""Sign-ins racing credential changes against a real ``staffgraph serve``.

One round fires a handful of logins of one account, a few milliseconds apart, and in their
midst one credential change (``changePassword``, ``deactivateUser`` or ``setRoles``). Once the
change has answered, every token obtained by a login that started before that answer must be
refused: the access token on a field that needs a user, the refresh token on ``refreshToken``.
A token that still works is a *stale session*, something a client could exploit. Shared by
``tests/test_auth_races.py`` and ``bench/signin_races.py``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import TEST_REDIS_URL
from tests.live_server import LiveServer, live_server, staffgraph_command

LOGIN = """mutation($email: String!, $password: String!) {
  login(email: $email, password: $password) { accessToken refreshToken }
}"""
REFRESH = "mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken refreshToken } }"
#: a field that needs a signed-in user
NEEDS_USER = "{ users(first: 1) { totalCount } }"
#: no limit of the server may refuse the test's own traffic
UNLIMITED = "1000000/minute"
ADMIN_EMAIL = "admin@race.example"

#: when the logins of a round start, in login durations from the start of the change. bcrypt
#: runs one check at a time: a login is stale (on code that does not look again) when it read
#: the account before the change committed and opened its session after
#: changePassword runs two bcrypt jobs (the current password, the new hash) and commits after them
DURING_PASSWORD_CHANGE = (1.3, 1.8, 2.3, 2.8)
#: deactivateUser and setRoles commit at once: the logins read the account just before
BEFORE_QUICK_CHANGE = (-0.6, -0.4, -0.2, -0.05)


def strong_password() -> str:
    """A random password any password policy accepts."""
    return "race-" + secrets.token_urlsafe(18)


@dataclass
class Attempt:
    """One login of a round: when it was sent and the tokens it got, if any."""

    started: float
    access: str | None = None
    refresh: str | None = None


@dataclass
class Race:
    """A server to race against, a client and the ADMIN's access token."""

    server: LiveServer
    client: httpx.AsyncClient
    admin_token: str = ""
    login_seconds: float = 0.1
    stale: list[str] = field(default_factory=list)

    async def gql(self, query: str, token: str | None = None, **variables: Any) -> dict[str, Any]:
        """POST one operation and return the decoded body."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = await self.client.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
        body: dict[str, Any] = response.json()
        return body

    async def login(self, email: str, password: str) -> tuple[str, str]:
        """Sign in, or fail the run: the tokens of a login that must succeed."""
        body = await self.gql(LOGIN, email=email, password=password)
        assert "errors" not in body, body
        return body["data"]["login"]["accessToken"], body["data"]["login"]["refreshToken"]

    async def create_user(self, roles: list[str] | None = None) -> tuple[str, str, str]:
        """A new account made by the ADMIN: (id, email, password)."""
        email = f"u{secrets.token_hex(6)}@race.example"
        password = strong_password()
        body = await self.gql(
            "mutation($i: CreateUserInput!) { createUser(input: $i) { id } }",
            self.admin_token,
            i={"email": email, "displayName": "Race Target", "password": password, "roles": roles},
        )
        assert "errors" not in body, body
        return body["data"]["createUser"]["id"], email, password

    async def _attempt(self, email: str, password: str, delay: float) -> Attempt:
        await asyncio.sleep(delay)
        attempt = Attempt(time.monotonic())
        body = await self.gql(LOGIN, email=email, password=password)
        if body.get("data") and body["data"].get("login"):
            attempt.access = body["data"]["login"]["accessToken"]
            attempt.refresh = body["data"]["login"]["refreshToken"]
        return attempt

    async def calibrate(self, email: str, password: str) -> None:
        """Time a successful login: the unit of the rounds' schedules (mostly one bcrypt check)."""
        took = []
        for _ in range(2):
            started = time.monotonic()
            await self.login(email, password)
            took.append(time.monotonic() - started)
        self.login_seconds = min(took)

    async def round(
        self,
        email: str,
        password: str,
        change: Callable[[], Awaitable[None]],
        offsets: tuple[float, ...],
    ) -> tuple[list[Attempt], float]:
        """Fire the change and logins ``offsets`` login-durations from it (negative: before);
        returns the attempts and when the change answered."""
        unit = self.login_seconds
        first = min(0.0, *offsets)

        async def timed_change() -> float:
            await asyncio.sleep(-first * unit)
            await change()
            return time.monotonic()

        logins = [self._attempt(email, password, (o - first) * unit) for o in offsets]
        *attempts, answered = await asyncio.gather(*logins, timed_change())
        return list(attempts), answered

    async def count_stale(
        self,
        attempts: list[Attempt],
        answered: float,
        what: str,
        roles: list[str] | None = None,
    ) -> int:
        """How many logins started before ``answered`` hold a token that still works.

        With ``roles``, a token that works is stale only when it does not carry exactly these
        roles (a login that read the account after a roles change is rightly signed in).
        """
        stale = 0
        for attempt in attempts:
            if attempt.started >= answered or attempt.access is None:
                continue
            works = []
            body = await self.gql(NEEDS_USER, attempt.access)
            if not body.get("errors") and token_roles(attempt.access) != roles:
                works.append("access token")
            body = await self.gql(REFRESH, t=attempt.refresh)
            if not body.get("errors"):
                minted = body["data"]["refreshToken"]["accessToken"]
                if token_roles(minted) != roles:
                    works.append("refresh token")
            if works:
                stale += 1
                self.stale.append(f"{what}: {' and '.join(works)} still work")
        return stale


def token_roles(access_token: str) -> list[str]:
    """The ``roles`` claim of an access token, sorted (read, not verified)."""
    payload = access_token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return sorted(claims["roles"])


async def change_password_rounds(race: Race, rounds: int) -> int:
    """Logins racing ``changePassword`` of the same account; stale sessions left."""
    _, email, password = await race.create_user()
    own_access, _ = await race.login(email, password)
    stale = 0
    for n in range(rounds):
        new = strong_password()

        async def change(old: str = password, new: str = new) -> None:
            body = await race.gql(
                "mutation($c: String!, $n: String!) "
                "{ changePassword(currentPassword: $c, newPassword: $n) }",
                own_access,
                c=old,
                n=new,
            )
            assert body.get("data", {}).get("changePassword") is True, body

        attempts, answered = await race.round(email, password, change, DURING_PASSWORD_CHANGE)
        stale += await race.count_stale(attempts, answered, f"changePassword round {n}")
        password = new
    return stale


async def deactivate_rounds(race: Race, rounds: int) -> int:
    """Logins racing ``deactivateUser`` of the account (a new one each round)."""
    stale = 0
    for n in range(rounds):
        user_id, email, password = await race.create_user(["EMPLOYEE", "HR"])

        async def change(user_id: str = user_id) -> None:
            body = await race.gql(
                "mutation($u: ID!) { deactivateUser(userId: $u) { isActive } }",
                race.admin_token,
                u=user_id,
            )
            assert body.get("data", {}).get("deactivateUser") == {"isActive": False}, body

        attempts, answered = await race.round(email, password, change, BEFORE_QUICK_CHANGE)
        stale += await race.count_stale(attempts, answered, f"deactivateUser round {n}")
    return stale


async def _refresh(race: Race, refresh_token: str) -> Attempt:
    attempt = Attempt(time.monotonic())
    body = await race.gql(REFRESH, t=refresh_token)
    if body.get("data") and body["data"].get("refreshToken"):
        attempt.access = body["data"]["refreshToken"]["accessToken"]
        attempt.refresh = body["data"]["refreshToken"]["refreshToken"]
    return attempt


async def set_roles_rounds(race: Race, rounds: int) -> int:
    """Logins (and a refresh) racing ``setRoles``; a token minted once ``setRoles`` answered
    must carry the new roles, and every older one must be refused."""
    user_id, email, password = await race.create_user()
    roles = ["EMPLOYEE"]
    stale = 0
    for n in range(rounds):
        wanted = ["EMPLOYEE", "MANAGER"] if roles == ["EMPLOYEE"] else ["EMPLOYEE"]
        _, earlier_refresh = await race.login(email, password)
        refreshed: list[Attempt] = []

        async def set_roles(wanted: list[str] = wanted) -> None:
            body = await race.gql(
                "mutation($u: ID!, $r: [Role!]!) { setRoles(userId: $u, roles: $r) { id } }",
                race.admin_token,
                u=user_id,
                r=wanted,
            )
            assert body.get("data", {}).get("setRoles"), body

        async def change(earlier: str = earlier_refresh, into: list[Attempt] = refreshed) -> None:
            _, attempt = await asyncio.gather(set_roles(), _refresh(race, earlier))
            into.append(attempt)

        attempts, answered = await race.round(email, password, change, BEFORE_QUICK_CHANGE)
        for attempt in attempts:
            later = attempt.started >= answered and attempt.access is not None
            if later and token_roles(attempt.access or "") != sorted(wanted):
                stale += 1
                race.stale.append(f"setRoles round {n}: a later login got the old roles")
        what = f"setRoles round {n}"
        stale += await race.count_stale(attempts, answered, what, sorted(wanted))
        # the session that existed before the change must have ended, refreshed or not
        stale += await race.count_stale(refreshed, answered, what + " (refreshed)")
        roles = wanted
    return stale


def _create_admin(server: LiveServer, directory: Path, password: str) -> None:
    subprocess.run(
        [
            *(staffgraph_command(), "create-user", "--email", ADMIN_EMAIL),
            *("--name", "Race Admin", "--password-stdin", "--role", "ADMIN"),
        ],
        input=password.encode(),
        cwd=directory,
        env=server.env,
        check=True,
        capture_output=True,
        timeout=60,
    )


@contextmanager
def race_server(directory: Path) -> Iterator[LiveServer]:
    """A production server on a fresh database whose limits never refuse the race's traffic,
    sharing the test Redis when there is one."""
    extra = {"STAFFGRAPH_REDIS_URL": TEST_REDIS_URL} if TEST_REDIS_URL else {}
    with live_server(
        directory,
        STAFFGRAPH_RATE_LIMIT=UNLIMITED,
        STAFFGRAPH_LOGIN_RATE_LIMIT=UNLIMITED,
        STAFFGRAPH_LOGIN_ACCOUNT_RATE_LIMIT=UNLIMITED,
        STAFFGRAPH_LOGIN_ADDRESS_RATE_LIMIT=UNLIMITED,
        **extra,
    ) as server:
        yield server


async def run_races(
    server: LiveServer, directory: Path, rounds: dict[str, int]
) -> tuple[dict[str, int], list[str]]:
    """Stale sessions per kind of change (``changePassword``, ``deactivateUser``,
    ``setRoles``) after the given number of rounds of each, and what was stale."""
    password = strong_password()
    _create_admin(server, directory, password)
    runs = {
        "changePassword": change_password_rounds,
        "deactivateUser": deactivate_rounds,
        "setRoles": set_roles_rounds,
    }
    async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as client:
        race = Race(server, client)
        race.admin_token, _ = await race.login(ADMIN_EMAIL, password)
        await race.calibrate(ADMIN_EMAIL, password)
        counts = {kind: await runs[kind](race, n) for kind, n in rounds.items()}
    return counts, race.stale
