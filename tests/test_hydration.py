"""Rows become the same model instances with the fast timestamp path as with Tortoise's own.

Every model, every column, rows with every nullable column filled and with none, on whichever
database the suite runs on: each attribute must be equal, of the same type, and for timestamps
in the same zone with the same text.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from tortoise import Tortoise, connections
from tortoise.expressions import Q
from tortoise.models import Model

from staffgraph.db_reads import models_of
from staffgraph.models import (
    AuditAction,
    AuditEvent,
    Department,
    OAuthAccount,
    OAuthLoginCode,
    RefreshToken,
    Review,
    Role,
    Session,
    User,
)
from staffgraph.models.hydration import hydrate
from tests.conftest import make_user


async def _rows(model: type[Model]) -> list[dict[str, Any]]:
    table = model._meta.db_table
    rows: list[dict[str, Any]] = await connections.get("default").execute_query_dict(
        f'SELECT * FROM "{table}"'  # noqa: S608 - a table name of our own models
    )
    return rows


def _same(fast: Any, slow: Any, name: str) -> None:
    assert type(fast) is type(slow), (name, fast, slow)
    assert fast == slow, (name, fast, slow)
    if isinstance(slow, datetime):
        assert fast.utcoffset() == slow.utcoffset(), name
        assert fast.isoformat() == slow.isoformat(), name


def _same_instance(fast: Model, slow: Model) -> None:
    """Every column and every flag Tortoise sets on a loaded instance, alike."""
    model = type(slow)
    for name in model._meta.fields_db_projection:
        _same(getattr(fast, name), getattr(slow, name), f"{model.__name__}.{name}")
    for flag in ("_partial", "_saved_in_db", "_custom_generated_pk", "_await_when_save"):
        assert getattr(fast, flag) == getattr(slow, flag), flag


async def _fill_every_model() -> None:
    now = datetime.now(UTC)
    department = await Department.create(name="Research")
    boss = await make_user("boss@example.com", (Role.MANAGER,), password=None)
    user = await make_user(
        "full@example.com",
        (Role.EMPLOYEE, Role.HR),
        job_title="Engineer",
        department=department,
        manager=boss,
        phone="+1 555 0100",
        home_address="1 Main St",
        date_of_birth=date(1990, 2, 3),
        salary=123_456,
        last_login_at=now - timedelta(microseconds=1),
        is_active=False,
    )
    department.head = boss
    await department.save()
    await Review.create(subject=user, reviewer=boss, period="2026-H1", rating=4, summary="ok")
    session = await Session.create(
        user=user,
        expires_at=now + timedelta(days=1),
        last_used_at=now,
        revoked_at=now.replace(microsecond=0),
        revoke_reason="logout",
        user_agent="test",
        ip_address="127.0.0.1",
    )
    await Session.create(user=boss, expires_at=now + timedelta(hours=1))
    await RefreshToken.create(session=session, token_hash="a" * 64, used_at=now)
    await AuditEvent.create(action=AuditAction.USER_CREATED, actor=boss, target_id=user.id)
    await AuditEvent.create(action=AuditAction.LOGIN_FAILED, detail="wrong password")
    await OAuthAccount.create(user=user, provider="github", subject="1", email=None)
    await OAuthLoginCode.create(
        code_hash="b" * 64, user=user, provider="github", expires_at=now, used_at=None
    )


async def test_every_model_hydrates_as_tortoise_would(db):
    await _fill_every_model()
    tortoise_init = Model._init_from_db.__func__  # type: ignore[attr-defined]
    checked = 0
    for model in Tortoise.apps["models"].values():
        rows = await _rows(model)
        for row in rows:
            fast = model._init_from_db(**row)
            slow = tortoise_init(model, **row)
            _same_instance(fast, slow)
            checked += 1
    assert checked >= 12


async def test_rows_by_position_hydrate_as_tortoise_would(db):
    # hydrate() reads the rows of a statement by position (SQLite's and asyncpg's own rows)
    await _fill_every_model()
    tortoise_init = Model._init_from_db.__func__  # type: ignore[attr-defined]
    client = connections.get("default")
    checked = 0
    for model in Tortoise.apps["models"].values():
        sql = model.all().sql()
        _, rows = await client.execute_query(sql)
        assert rows, model.__name__
        made = hydrate(model, rows)
        for row, fast in zip(rows, made, strict=True):
            slow = tortoise_init(model, **dict(row))
            _same_instance(fast, slow)
            checked += 1
    assert checked >= 12


def _with_subject() -> Any:
    return Review.all().select_related("subject")


@pytest.mark.parametrize(
    "make_query",
    [
        lambda: User.all().order_by("created_at", "id").limit(3),
        lambda: User.filter(is_active=True, email__icontains="E").order_by("-created_at"),
        lambda: User.filter(Q(job_title="Engineer") | Q(salary__gt=100)).offset(1).limit(5),
        lambda: Session.filter(revoked_at__isnull=False),
        lambda: User.all().only("id", "email"),  # partial rows: awaited as they are
        _with_subject,
        lambda: User.all().prefetch_related("roles"),
        lambda: User.filter(email="nobody@example.com"),
    ],
)
async def test_models_of_a_query_are_those_of_awaiting_it(db, make_query):
    await _fill_every_model()
    expected = list(await make_query())
    got = await models_of(make_query())
    assert [type(m) for m in got] == [type(m) for m in expected]
    model = type(expected[0]) if expected else User
    for fast, slow in zip(got, expected, strict=True):
        for name in model._meta.fields_db_projection:
            if hasattr(slow, name):
                _same(getattr(fast, name), getattr(slow, name), name)
        assert fast._partial == slow._partial
        if make_query is _with_subject:  # the related rows are read too, as Tortoise reads them
            assert isinstance(fast.subject, User)
            assert fast.subject.email == slow.subject.email


async def test_timestamps_of_every_shape_parse_alike(db):
    """Text timestamps as SQLite may hold them: with and without fraction or zone."""
    tortoise_init = Model._init_from_db.__func__  # type: ignore[attr-defined]
    await make_user("someone@example.com", password=None)
    [row] = await _rows(User)
    for text in (
        "2026-12-01 12:00:00+00:00",
        "2026-12-01 12:00:00.000001+00:00",
        "2026-12-01T12:00:00.5+02:00",
        "2026-12-01 12:00:00",
        "2026-12-01T23:59:59.999999-14:00",
    ):
        shaped = {**row, "created_at": text} if isinstance(row["created_at"], str) else row
        fast = User._init_from_db(**shaped)
        slow = tortoise_init(User, **shaped)
        _same(fast.created_at, slow.created_at, text)


async def test_a_partial_row_still_hydrates(db):
    user = await make_user("partial@example.com", password=None)
    found = await User.filter(id=user.id).only("id", "email").first()
    assert found is not None
    assert (found.id, found.email) == (user.id, "partial@example.com")
    assert found._partial is True
    assert isinstance(found.id, uuid.UUID)


async def test_rows_read_again_after_the_memos_fill_hydrate_alike(db, monkeypatch):
    # the texts of UUIDs and timestamps are remembered, bounded; a memo that starts again
    # while a page is read must not change a value
    from staffgraph.models import hydration

    monkeypatch.setattr(hydration, "MAX_REMEMBERED", 3)
    await _fill_every_model()
    tortoise_init = Model._init_from_db.__func__  # type: ignore[attr-defined]
    client = connections.get("default")
    _, rows = await client.execute_query(User.all().order_by("email").sql())
    for _ in range(3):
        made = hydrate(User, rows)
        for row, fast in zip(rows, made, strict=True):
            _same_instance(fast, tortoise_init(User, **dict(row)))
        assert len(hydration._uuids) <= 3
        assert len(hydration._timestamps) <= 3
        assert len(hydration._moments) <= 3
    # two instances of one row are two objects, each with its own flags
    first, again = hydrate(User, rows[:1])[0], hydrate(User, rows[:1])[0]
    assert first is not again
    assert first._await_when_save is not again._await_when_save


async def test_a_timestamp_read_again_is_the_value_made_of_it_before(db, monkeypatch):
    # a directory reads the same rows again and again: on either database (SQLite's texts,
    # PostgreSQL's own timestamps) a row's timestamps read again are the values made before,
    # each as Tortoise makes it, and a column never set stays None
    from staffgraph.models import hydration

    for memo in ("_uuids", "_timestamps", "_moments"):
        monkeypatch.setattr(hydration, memo, {})
    await make_user("again@example.com", password=None)
    tortoise_init = Model._init_from_db.__func__  # type: ignore[attr-defined]
    _, rows = await connections.get("default").execute_query(User.all().sql())
    [first] = hydrate(User, rows)
    [again] = hydrate(User, rows)
    assert first is not again
    assert again.created_at is first.created_at
    assert again.updated_at is first.updated_at
    assert first.last_login_at is None
    assert again.last_login_at is None
    _same_instance(again, tortoise_init(User, **dict(rows[0])))


async def test_timestamps_in_utc_are_kept_as_read_where_the_zone_is_utc(db, monkeypatch):
    # PostgreSQL's timestamps arrive aware, in UTC: in staffgraph's zone (UTC) the value read
    # is the value (Tortoise would give it an equal zone); in another zone, its time there
    from staffgraph.models import hydration

    await make_user("zoned@example.com", password=None)
    _, rows = await connections.get("default").execute_query(User.all().sql())
    read = rows[0]["created_at"]
    [user] = hydrate(User, rows)
    if not isinstance(read, datetime):
        assert isinstance(read, str)  # SQLite's text, parsed (the tests above)
        return
    assert user.created_at is read
    berlin = ZoneInfo("Europe/Berlin")
    # as in a process configured so: the zone is read once per process, as Tortoise reads it
    monkeypatch.setattr(hydration, "get_default_timezone", lambda: berlin)
    monkeypatch.setattr(hydration, "_moments", {})
    monkeypatch.setattr(hydration, "_readers", {})
    [moved] = hydrate(User, rows)
    assert moved.created_at == read
    assert moved.created_at.tzinfo is berlin
    assert moved.created_at.isoformat() == read.astimezone(berlin).isoformat()


async def test_an_attribute_with_a_descriptor_is_set_through_it(db, monkeypatch):
    # rows are written into an instance's __dict__ only where object.__setattr__ would do
    # the same; a descriptor on a column's attribute must see every value
    from staffgraph.models import hydration

    seen: list[Any] = []

    class Recorded:
        def __get__(self, instance: Any, owner: Any) -> Any:
            return self if instance is None else instance.__dict__["phone"]

        def __set__(self, instance: Any, value: Any) -> None:
            seen.append(value)
            instance.__dict__["phone"] = value

    await make_user("one@example.com", password=None, phone="+1 555 0101")
    await make_user("two@example.com", password=None, phone="+1 555 0102")
    _, rows = await connections.get("default").execute_query(User.all().order_by("email").sql())
    monkeypatch.setattr(hydration, "_readers", {})
    monkeypatch.setattr(User, "phone", Recorded(), raising=False)
    made = hydrate(User, rows)
    assert seen == ["+1 555 0101", "+1 555 0102"]
    assert [u.phone for u in made] == seen


def test_ids_are_the_uuids_text_whatever_their_kind(monkeypatch):
    # to_id remembers the text of standard-library UUIDs, bounded; asyncpg's write their own
    from asyncpg.pgproto import pgproto

    from staffgraph import uuid_texts
    from staffgraph.schema.scalars import to_id

    monkeypatch.setattr(uuid_texts, "_texts", {})
    monkeypatch.setattr(uuid_texts, "MAX_TEXTS", 2)
    values = [uuid.uuid4() for _ in range(5)]
    for _ in range(2):
        for value in values:
            assert to_id(value) == str(value)
            assert to_id(pgproto.UUID(str(value))) == str(value)
            assert type(to_id(value)) is str
        assert len(uuid_texts._texts) <= 2
