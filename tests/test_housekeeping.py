"""Pruning: ended sessions and expired sign-in codes go; anything still usable stays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from staffgraph.models import OAuthLoginCode, RefreshToken, Session
from staffgraph.resolvers.housekeeping import Pruned, prune_expired
from tests.conftest import make_user

TTL = 900


async def test_prune_removes_only_what_nothing_can_use(db):
    user = await make_user("ada@example.com")
    now = datetime.now(UTC)

    async def session(expires_in: timedelta, tokens: int = 2) -> Session:
        row = await Session.create(user=user, expires_at=now + expires_in)
        for n in range(tokens):
            await RefreshToken.create(session=row, token_hash=f"{row.id.hex}{n}".ljust(64, "0"))
        return row

    ended_long_ago = await session(-timedelta(seconds=TTL + 60))
    # expired, but an access token refreshed just before its end may still be alive
    ended_recently = await session(-timedelta(seconds=TTL - 60))
    open_session = await session(timedelta(days=1))
    revoked_but_tokens_alive = await session(timedelta(days=1))
    revoked_but_tokens_alive.revoked_at = now
    await revoked_but_tokens_alive.save()

    async def code(expires_in: timedelta, name: str) -> None:
        await OAuthLoginCode.create(
            user=user, provider="corp", code_hash=name.ljust(64, "0"), expires_at=now + expires_in
        )

    await code(-timedelta(seconds=1), "expired")
    await code(timedelta(seconds=60), "fresh")

    assert await prune_expired(TTL, now) == Pruned(sessions=1, login_codes=1)

    remaining = set(await Session.all().values_list("id", flat=True))
    assert remaining == {ended_recently.id, open_session.id, revoked_but_tokens_alive.id}
    assert await RefreshToken.filter(session_id=ended_long_ago.id).count() == 0
    assert await RefreshToken.all().count() == 6
    assert await OAuthLoginCode.all().values_list("code_hash", flat=True) == [
        "fresh".ljust(64, "0")
    ]

    assert await prune_expired(TTL, now) == Pruned(sessions=0, login_codes=0)


async def test_prune_works_through_many_batches(db, monkeypatch):
    from staffgraph.resolvers import housekeeping

    monkeypatch.setattr(housekeeping, "BATCH_SIZE", 2)
    user = await make_user("ada@example.com")
    long_ago = datetime.now(UTC) - timedelta(days=40)
    for _ in range(5):
        await Session.create(user=user, expires_at=long_ago)
    await Session.create(user=user, expires_at=datetime.now(UTC) + timedelta(days=1))

    assert await prune_expired(TTL) == Pruned(sessions=5, login_codes=0)
    assert await Session.all().count() == 1
