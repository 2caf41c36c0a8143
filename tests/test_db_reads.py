"""``rows_by`` answers what the Tortoise query it stands for answers, on either database."""

from __future__ import annotations

import uuid

from tortoise.transactions import in_transaction

from staffgraph.db_reads import rows_by
from staffgraph.models import Role, User, UserRole
from tests.conftest import make_user


def _attrs(user: User) -> dict[str, object]:
    return {name: getattr(user, name) for name in User._meta.fields_db_projection}


async def test_rows_by_matches_the_query_set(db):
    boss = await make_user("boss@example.com", (Role.MANAGER,), password=None)
    people = [
        await make_user(f"p{i}@example.com", (Role.EMPLOYEE,), password=None, manager=boss)
        for i in range(5)
    ]
    ids = [p.id for p in people]
    for keys in ([ids[0]], ids[:3], ids, [ids[1], ids[1], uuid.uuid4()]):
        fast = sorted(await rows_by(User, "id", keys), key=lambda u: str(u.id))
        slow = sorted(await User.filter(id__in=keys), key=lambda u: str(u.id))
        assert [_attrs(u) for u in fast] == [_attrs(u) for u in slow]
    reports = await rows_by(User, "manager_id", [boss.id])
    assert {u.id for u in reports} == set(ids)
    assert await rows_by(User, "id", []) == []


async def test_rows_by_keeps_the_order_asked(db):
    user = await make_user("many@example.com", (Role.HR, Role.ADMIN, Role.MANAGER), password=None)
    roles = await rows_by(UserRole, "user_id", [user.id], order_by=["role"])
    expected = await UserRole.filter(user_id=user.id).order_by("role")
    assert [r.role for r in roles] == [r.role for r in expected]
    assert [r.role for r in roles] == sorted(r.role for r in roles)


async def test_rows_by_reads_inside_the_running_transaction(db):
    async with in_transaction():
        user = await make_user("uncommitted@example.com", password=None)
        [found] = await rows_by(User, "id", [user.id])
        assert found.email == "uncommitted@example.com"
