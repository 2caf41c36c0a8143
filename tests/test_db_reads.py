"""``rows_by`` and ``models_with`` answer what the Tortoise queries they stand for answer, on
either database."""

from __future__ import annotations

import uuid
from typing import Any

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from staffgraph.db_reads import Once, models_with, rows_by
from staffgraph.models import Department, Role, User, UserRole
from staffgraph.resolvers.hierarchy import load_subordinate_ids, subtree_expression, subtree_ids
from tests.conftest import ON_POSTGRES, gql, make_user, token_for
from tests.test_n_plus_one import statements


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


async def _staff_in_departments() -> tuple[list[User], list[Department]]:
    departments = [await Department.create(name=f"Dept {i}") for i in range(3)]
    boss = await make_user("boss@example.com", (Role.MANAGER,), password=None)
    people = [boss]
    for i in range(9):
        people.append(
            await make_user(
                f"p{i}@example.com",
                password=None,
                manager=boss,
                # two of three in a department, the third in none; one of four deactivated
                department=departments[i % 3] if i % 3 != 2 else None,
                is_active=i % 4 != 1,
            )
        )
    departments[0].head = boss
    await departments[0].save(update_fields=["head_id"])
    return people, departments


def _department_attrs(department: Department) -> dict[str, object]:
    return {name: getattr(department, name) for name in Department._meta.fields_db_projection}


async def test_a_query_joined_with_its_departments_answers_what_tortoise_answers(db):
    people, _ = await _staff_in_departments()
    middle = sorted(people, key=lambda u: (u.created_at, u.id))[4]
    at, row_id = middle.created_at, middle.id

    def queries() -> list[Any]:
        return [
            User.all().order_by("created_at", "id").limit(6),
            User.filter(is_active=True).order_by("created_at", "id").limit(50),
            User.filter(Q(created_at__lte=at) & (Q(created_at__lt=at) | Q(id__lt=row_id)))
            .order_by("-created_at", "-id")
            .limit(3),
            User.filter(department_id=None).order_by("created_at", "id"),
            User.filter(Q(email__icontains="P1") | Q(display_name__icontains="P2")).order_by(
                "created_at", "id"
            ),
            User.filter(email="nobody@example.com").order_by("created_at", "id"),
            User.filter(is_active=True),  # in the model's own order (Meta.ordering)
        ]

    for _ in range(2):  # the joined statements written, then kept
        for mine, tortoises in zip(queries(), queries(), strict=True):
            expected = list(await tortoises)
            found = await models_with(mine, "department")
            assert found is not None
            users, departments, _ = found
            assert [_attrs(u) for u in users] == [_attrs(u) for u in expected]
            wanted = {u.department_id for u in expected} - {None}
            assert sorted(str(d.id) for d in departments) == sorted(str(i) for i in wanted)
            for department in departments:
                stored = await Department.get(id=department.id)
                assert _department_attrs(department) == _department_attrs(stored)
                assert department._saved_in_db


async def test_a_value_read_once_beside_the_rows_is_its_own_statements_value(db):
    people, _ = await _staff_in_departments()
    boss = people[0]
    boss_id = User._meta.fields_map["id"].to_db_value(boss.id, User)  # SQLite's is text
    count = Once("reports", '(SELECT COUNT(*) FROM "users" WHERE "manager_id"={})', boss_id)
    ordered = sorted(people, key=lambda u: (u.created_at, u.id))
    for relation in ("department", None):
        for _ in range(2):  # the statement written, then kept
            # a filter's parameter before the value's: each where its placeholder is
            query = User.filter(email__startswith="p").order_by("created_at", "id").limit(4)
            found = await models_with(query, relation, count)
            assert found is not None
            assert [u.id for u in found.rows] == [u.id for u in ordered if u is not boss][:4]
            assert found.once == 9
            assert bool(found.related) == (relation is not None)
    empty = await models_with(User.filter(email="nobody@example.com"), None, count)
    assert empty == ([], [], None)  # no row to carry the value


async def test_a_page_reads_a_managers_subtree_as_the_subtree_statement_does(db):
    people, _ = await _staff_in_departments()
    boss = people[0]
    lead = people[1]
    for person in people[4:7]:  # a second level under the first report
        person.manager = lead
        await person.save(update_fields=["manager_id"])
    dialect = User._choose_db().capabilities.dialect
    expression = subtree_expression(dialect)
    if expression is None:
        assert dialect == "sqlite"  # it has no arrays: the subtree keeps its own statement
        return
    for manager in (boss, lead, people[8]):
        found = await models_with(
            User.all().limit(3), "department", Once("s", expression, manager.id)
        )
        assert found is not None
        assert subtree_ids(found.once) == await load_subordinate_ids(manager.id)
    assert subtree_ids(found.once) == frozenset()  # nobody below people[8]


async def test_a_query_that_cannot_be_joined_reads_nothing(db, monkeypatch):
    await _staff_in_departments()
    with statements(monkeypatch) as sent:
        for query, relation in (
            (User.all().only("id", "email"), "department"),
            (User.all().select_related("department"), "department"),
            (User.all().order_by("department__name"), "department"),
            (User.all(), "roles"),  # not a foreign key of the rows
            (User.all(), "email"),
        ):
            assert await models_with(query, relation) is None
    assert sent == []


async def test_a_page_and_its_departments_cost_one_statement_where_reads_wait_for_a_server(
    app, client, monkeypatch
):
    # on PostgreSQL the page joins its users' departments; on SQLite, whose reads run on the
    # event loop's own thread, the departments' own statement costs less
    people, departments = await _staff_in_departments()
    hr = await make_user("hr@example.com", (Role.EMPLOYEE, Role.HR), password=None)
    token = await token_for(app, hr)
    query = "{ users(first: 20) { edges { node { email department { id name } } } } }"
    with statements(monkeypatch) as sent:
        body = await gql(client, query, token=token)
    assert "errors" not in body
    names = {d.id: d.name for d in departments}
    expected = {
        p.email: {"id": str(p.department_id), "name": names[p.department_id]}
        if p.department_id
        else None
        for p in [*people, hr]
    }
    edges = body["data"]["users"]["edges"]
    assert {e["node"]["email"]: e["node"]["department"] for e in edges} == expected
    reads = [sql for sql in sent if sql.lstrip().upper().startswith("SELECT")]
    assert len(reads) == (1 if ON_POSTGRES else 2), reads
