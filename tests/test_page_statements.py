"""A page's statement is written once per shape of its query: later pages of that shape run the
text Tortoise wrote with their own parameters, and answer what Tortoise's query answers."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from pypika_tortoise.queries import QueryBuilder
from tortoise import connections
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from staffgraph import db_reads
from staffgraph.db_reads import models_of
from staffgraph.models import Department, Role, User
from tests.conftest import ON_POSTGRES, gql, make_user, token_for


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The statements Tortoise writes while the test runs."""
    written: list[str] = []
    original = QueryBuilder.get_parameterized_sql

    def counting(self: QueryBuilder, *args: Any, **kwargs: Any) -> Any:
        sql, params = original(self, *args, **kwargs)
        written.append(sql)
        return sql, params

    monkeypatch.setattr(QueryBuilder, "get_parameterized_sql", counting)
    db_reads._page_statements.clear()
    yield written
    db_reads._page_statements.clear()


async def _people(count: int) -> tuple[list[User], Department]:
    department = await Department.create(name="Shapes")
    boss = await make_user("boss@example.com", password=None, salary=100)
    people = [boss]
    for n in range(count):
        people.append(
            await make_user(
                f"person{n:02d}@example.com",
                password=None,
                manager_id=boss.id if n % 2 else None,
                department_id=department.id if n % 3 else None,
                is_active=n % 4 != 0,
                salary=100 if n % 5 == 0 else 50 + n,
            )
        )
    return people, department


async def test_a_page_of_a_known_shape_is_not_written_again(db: Any, built: list[str]) -> None:
    await _people(6)
    first = await models_of(User.all().order_by("created_at", "id").limit(4))
    assert len(built) == 1
    second = await models_of(User.all().order_by("created_at", "id").limit(3))
    assert len(built) == 1  # the same shape: Tortoise's text, this page's limit
    assert [u.id for u in second] == [u.id for u in first][:3]
    active = await models_of(User.filter(is_active=True).order_by("created_at", "id").limit(9))
    assert len(built) == 2  # another shape
    assert all(u.is_active for u in active)


async def test_every_shape_answers_what_tortoise_answers(db: Any, built: list[str]) -> None:
    people, department = await _people(12)
    middle = people[6]
    at, row_id = middle.created_at, middle.id
    moved = at + datetime.timedelta(microseconds=1)

    def queries() -> list[Any]:
        return [
            User.all().order_by("created_at", "id").limit(5),
            User.filter(is_active=True).order_by("-created_at", "-id").limit(7),
            User.filter(is_active=False).order_by("created_at", "id").limit(7),
            User.filter(department_id=department.id).order_by("created_at", "id").limit(20),
            User.filter(manager_id=people[0].id, is_active=True).order_by("created_at", "id"),
            User.filter(manager_id=None).order_by("created_at", "id").limit(20),
            User.filter(department_id=None, is_active=True).order_by("created_at", "id"),
            # the value is written into the statement, not given as a parameter
            User.filter(manager_id__isnull=True).order_by("created_at", "id"),
            User.filter(manager_id__isnull=False).order_by("created_at", "id"),
            # cursors: one time in two places, then the id
            User.filter(Q(created_at__gt=at) | Q(created_at=at, id__gte=row_id))
            .order_by("created_at", "id")
            .limit(4),
            User.filter(is_active=True)
            .filter(Q(created_at__lt=moved) | Q(created_at=moved, id__lt=row_id))
            .order_by("-created_at", "-id")
            .limit(4),
            # a search: its pattern is not the value given, so its statement is not kept
            User.filter(Q(email__icontains="PERSON0") | Q(display_name__icontains="x"))
            .order_by("created_at", "id")
            .limit(6),
        ]

    for _ in range(3):  # written, then read from the cache, twice
        for mine, tortoises in zip(queries(), queries(), strict=True):
            expected = [u.id for u in await tortoises]
            assert [u.id for u in await models_of(mine)] == expected
    kept = list(db_reads._page_statements.values())
    assert not any("LIKE" in sql for sql in kept)
    assert len(kept) == 11  # all but the search


async def test_one_value_in_two_places_does_not_teach_a_shape(db: Any, built: list[str]) -> None:
    """Two parameters of one value could be read the wrong way round: such a query does not
    decide its shape's statement; one with two values does."""
    await _people(12)

    def between(low: int, high: int) -> Any:
        return User.filter(salary__gte=low, salary__lte=high).order_by("created_at", "id")

    for low, high, kept in ((100, 100, 0), (100, 100, 0), (60, 100, 1), (100, 100, 1)):
        assert [u.id for u in await models_of(between(low, high))] == [
            u.id for u in await between(low, high)
        ]
        assert len(db_reads._page_statements) == kept


async def test_a_cached_statement_sees_new_rows_and_other_values(db: Any, built: list[str]) -> None:
    _, department = await _people(4)
    query = User.filter(department_id=department.id).order_by("created_at", "id")
    before = {u.id for u in await models_of(query)}
    newcomer = await make_user("new@example.com", password=None, department_id=department.id)
    other = await Department.create(name="Other")
    assert {u.id for u in await models_of(query.all())} == before | {newcomer.id}
    assert await models_of(User.filter(department_id=other.id).order_by("created_at", "id")) == []
    assert await models_of(User.filter(department_id=uuid.uuid4()).order_by("created_at")) == []


PAGES = """query($first: Int, $after: String, $last: Int, $before: String) {
  users(first: $first, after: $after, last: $last, before: $before) {
    edges { node { id } } pageInfo { startCursor endCursor }
  }
}"""


async def _plan_of(sql: str, params: list[Any]) -> str:
    """The database's plan for a statement, as text. PostgreSQL is told to read in order from
    an index wherever one serves, as it would for a table larger than a test's: for a few rows
    it finds a sort cheaper; it still sorts when no index can give the order."""
    client = connections.get("default")
    if not ON_POSTGRES:
        _, rows = await client.execute_query(f"EXPLAIN QUERY PLAN {sql}", params)
        return "\n".join(row["detail"] for row in rows)
    async with in_transaction() as tx:
        for method in ("seqscan", "bitmapscan", "sort"):
            await tx.execute_script(f"SET LOCAL enable_{method} = off")
        _, rows = await tx.execute_query(f"EXPLAIN {sql}", params)
    return "\n".join(row["QUERY PLAN"] for row in rows)


async def test_a_page_of_users_is_read_in_index_order_from_its_cursor(
    app: Any, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Everyone's pages (HR) and the active people's (anyone else), first and last, and on
    from a cursor either way: each statement reads an index in the page's order from the
    cursor on, and sorts nothing (a sort is of every matching user, for every page)."""
    people, _ = await _people(12)
    hr = await make_user("hr@example.com", [Role.EMPLOYEE, Role.HR], password=None)
    statements: list[tuple[str, list[Any]]] = []
    kind = type(connections.get("default"))
    original = kind.execute_query

    async def recording(self: Any, sql: str, values: list[Any] | None = None) -> Any:
        if sql.startswith("SELECT") and 'FROM "users"' in sql and "ORDER BY" in sql:
            statements.append((sql, list(values or [])))
        return await original(self, sql, values)

    monkeypatch.setattr(kind, "execute_query", recording)
    for viewer, expected in ((hr, 14), (people[1], 11)):  # 3 of the 14 are deactivated
        token = await token_for(app, viewer)
        seen: list[str] = []
        first = await gql(client, PAGES, {"first": 4}, token)
        page = first["data"]["users"]
        seen += [e["node"]["id"] for e in page["edges"]]
        while len(page["edges"]) == 4:
            after = {"first": 4, "after": page["pageInfo"]["endCursor"]}
            page = (await gql(client, PAGES, after, token))["data"]["users"]
            seen += [e["node"]["id"] for e in page["edges"]]
        assert len(seen) == len(set(seen)) == expected
        last = (await gql(client, PAGES, {"last": 3}, token))["data"]["users"]
        before = {"last": 3, "before": last["pageInfo"]["startCursor"]}
        earlier = (await gql(client, PAGES, before, token))["data"]["users"]
        assert [e["node"]["id"] for e in earlier["edges"] + last["edges"]] == seen[-6:]
    monkeypatch.setattr(kind, "execute_query", original)
    assert len(statements) >= 10
    for sql, params in statements:
        plan = await _plan_of(sql, params)
        assert "TEMP B-TREE" not in plan, (sql, plan)  # SQLite's sort
        assert "Sort" not in plan, (sql, plan)  # PostgreSQL's
        conditions = sql.partition(" WHERE ")[2].partition(" ORDER BY ")[0]
        if '"created_at"' in conditions:  # on from a cursor
            # the index is searched for the cursor's time, not read from its start
            bounds = [
                line for line in plan.splitlines() if "SEARCH" in line or "Index Cond" in line
            ]
            assert any("created_at" in line for line in bounds), (sql, plan)
