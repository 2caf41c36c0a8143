"""What the field rules cost on a page of 50 users.

The same query runs through the production schema in three ways, interleaved so drift hits
each alike:

- ``rules``: as served, every guarded field checking its rule;
- ``bypassed``: every guarded field's resolver swapped (by a context manager of this bench,
  nothing production can turn on) for one that reads the value with no check at all;
- ``strawberry path``: the rules, but called through strawberry's generic resolver path, as
  the schema would run without ``install_guards`` (what a naive per-field permission costs).

Each is measured twice: end to end on SQLite (the page, manager and department queries, and
the viewer's management subtree for a manager), and with the rows already in memory, which
isolates GraphQL execution and makes the rules' share as large as it can be.

    .venv/bin/python bench/rules_overhead.py [--repeats 7] [--number 40]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import random
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from strawberry.schema.schema_converter import GraphQLCoreConverter
from tortoise.context import TortoiseContext

from staffgraph.context import Context, Viewer
from staffgraph.db import apply_migrations, tortoise_config
from staffgraph.loaders import Loaders
from staffgraph.models import Department, Role, User, UserRole
from staffgraph.permissions.guard import Guard
from staffgraph.permissions.install import guarded_fields
from staffgraph.resolvers import directory
from staffgraph.resolvers.pagination import Connection, Edge, PageInfo, PageRequest, encode_cursor
from staffgraph.schema import StaffSchema, build_schema
from staffgraph.schema.mutations import Mutation
from staffgraph.schema.queries import Query
from staffgraph.services import Services
from staffgraph.settings import load_settings

#: every field the viewer may read, so both modes return the same data and no error
PAGES = {
    "HR": """{ users(first: 50) { edges { node {
        id displayName email jobTitle createdAt isActive roles
        phone homeAddress dateOfBirth salary
        manager { id displayName } department { id name }
    } } } }""",
    "MANAGER": """{ users(first: 50) { edges { node {
        id displayName email jobTitle createdAt
        phone salary
        manager { id displayName phone salary } department { id name }
    } } } }""",
}


@contextlib.contextmanager
def rules_bypassed(schema: StaffSchema) -> Iterator[None]:
    """Every guarded field without arguments resolves with no rule evaluated, and the
    management chain the rules would need is not loaded."""
    saved: list[tuple[Any, Callable[..., Any]]] = []
    chain_fields, schema.chain_fields = schema.chain_fields, None
    info_class = schema.config.info_class
    for _, _, graphql_field, guard in guarded_fields(schema):
        if guard is None or guard.resolve is None or graphql_field.args:
            continue
        saved.append((graphql_field, graphql_field.resolve))
        definition = graphql_field.extensions[GraphQLCoreConverter.DEFINITION_BACKREF]
        graphql_field.resolve = _unchecked(guard, definition, info_class)
    try:
        yield
    finally:
        schema.chain_fields = chain_fields
        for graphql_field, resolve in saved:
            graphql_field.resolve = resolve


def _unchecked(guard: Guard, definition: Any, info_class: type) -> Callable[..., Any]:
    if guard.attr is not None:
        attr, convert = guard.attr, guard.convert

        def read(root: Any, info: Any) -> Any:
            value = getattr(root, attr)
            return value if convert is None or value is None else convert(value)

        return read
    resolver = guard.resolver
    assert resolver is not None

    def call(root: Any, info: Any) -> Any:
        return resolver(root=root, info=info_class(_raw_info=info, _field=definition))

    return call


@contextlib.contextmanager
def strawberry_path(schema: StaffSchema) -> Iterator[None]:
    """The rules, called through strawberry's generic resolver path (as before install)."""
    plain = StaffSchema(query=Query, mutation=Mutation)  # built without install_guards
    saved = []
    slow = {(t, f): g.resolve for t, f, g, _ in guarded_fields(plain)}
    for type_name, field_name, graphql_field, _ in guarded_fields(schema):
        if (type_name, field_name) in slow:
            saved.append((graphql_field, graphql_field.resolve))
            graphql_field.resolve = slow[(type_name, field_name)]
    try:
        yield
    finally:
        for graphql_field, resolve in saved:
            graphql_field.resolve = resolve


async def seed() -> dict[str, User]:
    """A MANAGER over 3 leads over 60 people in 4 departments, and an HR person."""
    departments = [await Department.create(name=f"Dept {i}") for i in range(4)]
    people: dict[str, User] = {}

    async def person(key: str, roles: tuple[Role, ...], **fields: Any) -> User:
        user = await User.create(email=f"{key}@example.com", display_name=key.title(), **fields)
        await UserRole.bulk_create([UserRole(user=user, role=r) for r in roles])
        people[key] = user
        return user

    boss = await person("boss", (Role.EMPLOYEE, Role.MANAGER), salary=200_000)
    leads = [
        await person(f"lead{i}", (Role.EMPLOYEE, Role.MANAGER), manager=boss, department=d)
        for i, d in enumerate(departments[:3])
    ]
    for i in range(60):
        await person(
            f"person{i:02d}",
            (Role.EMPLOYEE,),
            manager=leads[i % 3],
            department=departments[i % 4],
            job_title="Engineer",
            phone=f"+44 20 7946 {i:04d}",
            home_address=f"{i} Bench Street",
            date_of_birth=date(1980, 1 + i % 12, 1 + i % 28),
            salary=50_000 + i,
            last_login_at=datetime(2026, 1, 1, tzinfo=UTC),
        )
    await person("hr", (Role.EMPLOYEE, Role.HR))
    return people


class InMemory:
    """Serves the page, managers, departments and the subtree from memory (bench only)."""

    def __init__(self, rows: list[User], everyone: list[User], departments: list[Department]):
        self.rows = rows
        self.users = {u.id: u for u in everyone}
        self.departments = {d.id: d for d in departments}

    def prime(self, ctx: Context, subordinates: frozenset[uuid.UUID] | None) -> None:
        ctx.loaders.user.prime_many(self.users)
        ctx.loaders.department.prime_many(self.departments)
        roles = {u: [Role.EMPLOYEE] for u in self.users}
        ctx.loaders.roles.prime_many(roles)
        if subordinates is not None:
            ctx._subordinates = subordinates

    @contextlib.contextmanager
    def serving(self) -> Iterator[None]:
        real = directory.list_users

        async def page(ctx: Context, request: PageRequest, **_: Any) -> Any:
            async def count() -> int:
                return len(self.rows)

            rows = self.rows[: request.size]
            edges = [Edge(row, encode_cursor(row.created_at, row.id)) for row in rows]
            more = len(self.rows) > request.size
            cursors = (edges[0].cursor, edges[-1].cursor) if edges else (None, None)
            return Connection(edges, PageInfo(more, False, *cursors), count)

        directory.list_users = page  # type: ignore[assignment]
        try:
            yield
        finally:
            directory.list_users = real  # type: ignore[assignment]


async def run(
    query: str,
    schema: StaffSchema,
    services: Services,
    viewer: Viewer,
    number: int,
    memory: InMemory | None,
    subordinates: frozenset[uuid.UUID] | None,
) -> float:
    """CPU seconds per page (this process, its database thread included), over ``number``
    pages, each with a fresh request context: other work on the machine does not count."""
    elapsed = 0.0
    gc.collect()
    gc.disable()  # as timeit does: a collection landing in one mode would skew it
    try:
        elapsed = await _pages(query, schema, services, viewer, number, memory, subordinates)
    finally:
        gc.enable()
    return elapsed / number


async def _pages(
    query: str,
    schema: StaffSchema,
    services: Services,
    viewer: Viewer,
    number: int,
    memory: InMemory | None,
    subordinates: frozenset[uuid.UUID] | None,
) -> float:
    elapsed = 0.0
    for _ in range(number):
        ctx = Context(services=services, loaders=Loaders(), viewer=viewer, client_ip="127.0.0.1")
        if memory is not None:
            memory.prime(ctx, subordinates)
        started = time.process_time()
        result = await schema.execute(query, context_value=ctx)
        elapsed += time.process_time() - started
        assert not result.errors, result.errors
    return elapsed


MODES: dict[str, Callable[[StaffSchema], contextlib.AbstractContextManager[None]]] = {
    "rules": lambda schema: contextlib.nullcontext(),
    "bypassed": rules_bypassed,
    "strawberry path": strawberry_path,
}


async def measure(repeats: int, number: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite://{Path(tmp) / 'bench.db'}"
        await apply_migrations(url)
        orm = TortoiseContext()
        async with orm:
            await orm.init(config=tortoise_config(url))
            people = await seed()
            settings = load_settings(
                _env_file=None, database_url=url, jwt_secret="bench-" + "x" * 40
            )
            services = Services.build(settings)
            schema = build_schema()
            everyone = list(await User.all())
            memory = InMemory(
                list(await User.all().order_by("created_at", "id").limit(51)),
                everyone,
                list(await Department.all()),
            )
            boss_subtree = frozenset(u.id for u in everyone if u.id != people["boss"].id)
            viewers = {
                "HR": (Viewer(people["hr"].id, uuid.uuid4(), frozenset({Role.HR})), None),
                "MANAGER": (
                    Viewer(people["boss"].id, uuid.uuid4(), frozenset({Role.MANAGER})),
                    boss_subtree,
                ),
            }
            for where in ("SQLite", "in memory"):
                for label, (viewer, subtree) in viewers.items():
                    times: dict[str, list[float]] = {mode: [] for mode in MODES}
                    order = list(MODES.items())
                    for _ in range(repeats):
                        random.shuffle(order)  # no mode always runs first, or last
                        for mode, switch in order:
                            with switch(schema):
                                serving = memory.serving() if where == "in memory" else None
                                with serving or contextlib.nullcontext():
                                    source = memory if where == "in memory" else None
                                    query = PAGES[label]
                                    await run(query, schema, services, viewer, 3, source, subtree)
                                    seconds = await run(
                                        query, schema, services, viewer, number, source, subtree
                                    )
                            times[mode].append(seconds)
                    report(where, label, {m: min(t) for m, t in times.items()})
            await services.stop()


def report(where: str, viewer: str, medians: dict[str, float]) -> None:
    base = medians["bypassed"]
    cells = "  ".join(
        f"{mode}: {seconds * 1000:6.2f} ms ({seconds / base:4.2f}x)"
        for mode, seconds in medians.items()
    )
    print(f"{where:<10} as {viewer:<8} {cells}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--number", type=int, default=40)
    args = parser.parse_args()
    asyncio.run(measure(args.repeats, args.number))


if __name__ == "__main__":
    main()
