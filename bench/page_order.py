"""Pages of a large directory: what the index on the page order saves, at every depth.

Seeds a directory of ``--users`` people (a tenth deactivated) into a new SQLite file and, when
reachable, a new PostgreSQL database, migrated as ``staffgraph migrate`` does (PostgreSQL is
then analysed, as its autovacuum would; SQLite is not, as nothing analyses it in service).
Then reads pages of 50 through the directory's own page function (``fetch_page``, the
statement ``users`` runs): the first page, one from a cursor in the middle and the last one
from a cursor, for everyone (HR) and for the active people (anyone else). Each is timed as the
median of ``--repeat`` reads:

- as now: the migrations' indexes, and a cursor's bound written ``stamp >= t AND (stamp > t
  OR id > i)``;
- as before: the same bound written ``stamp > t OR (stamp = t AND id > i)``, which selects the
  same rows;
- as before, without the two indexes on the page order (``(created_at, id)`` and
  ``(is_active, created_at, id)``): the schema before them.

The pages read must be the same every time.

    .venv/bin/python bench/page_order.py [--users 10000] [--repeat 30] [--no-postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from throughput import postgres_database  # noqa: E402

PAGE = 50


async def _seed(count: int) -> None:
    from tortoise import connections

    client = connections.get("default")
    postgres = client.capabilities.dialect == "postgres"
    columns = ["id", "email", "display_name", "job_title", "salary", "is_active", "created_at"]
    columns += ["updated_at", "security_stamp"]
    marks = ", ".join(f"${n + 1}" if postgres else "?" for n in range(len(columns)))
    sql = f"INSERT INTO users ({', '.join(columns)}) VALUES ({marks})"  # noqa: S608
    start = datetime(2020, 1, 1, tzinfo=UTC)
    rows = []
    for n in range(count):
        # a few people share a second, so the id decides within it
        at = start + timedelta(seconds=n // 3)
        person_id: Any = uuid.uuid4()
        row = [person_id, f"person{n:06d}@example.com", f"Person {n}", "Engineer", 50_000 + n]
        row += [n % 10 != 0, at, at, uuid.uuid4().hex]
        if not postgres:  # SQLite holds ids and times as Tortoise writes them: text
            row[0], row[6], row[7] = str(person_id), at.isoformat(), at.isoformat()
        rows.append(row)
    await client.execute_many(sql, rows)


def _beyond_as_before(stamp: str, position: Any, later: bool, inclusive: bool = False) -> Any:
    """A cursor's bound as ``pagination._beyond`` wrote it before: the same rows."""
    from tortoise.expressions import Q

    at, row_id = position
    op = "gt" if later else "lt"
    id_op = f"{op}e" if inclusive else op
    return Q(**{f"{stamp}__{op}": at}) | Q(**{stamp: at, f"id__{id_op}": row_id})


async def _pages(everyone: bool, repeat: int) -> dict[str, tuple[float, list[Any]]]:
    """Each page's median read time in ms, and the ids it holds."""
    from staffgraph.models import User
    from staffgraph.resolvers.pagination import PageRequest, fetch_page

    async def count() -> int:
        return 0

    query = User.all() if everyone else User.filter(is_active=True)
    ordered = [
        (row["created_at"], row["id"])
        for row in await query.order_by("created_at", "id").values("created_at", "id")
    ]
    requests = {
        "first page": PageRequest(PAGE),
        "from the middle": PageRequest(PAGE, after=ordered[len(ordered) // 2]),
        "last page": PageRequest(PAGE, after=ordered[-PAGE - 1]),
    }
    found: dict[str, tuple[float, list[Any]]] = {}
    for name, request in requests.items():
        times = []
        ids: list[Any] = []
        for _ in range(repeat):
            fresh = User.all() if everyone else User.filter(is_active=True)
            began = time.perf_counter()
            _, rows = await fetch_page(fresh, request, "created_at", count)
            times.append(time.perf_counter() - began)
            ids = [row.id for row in rows]
        assert len(ids) == PAGE, (name, len(ids))
        found[name] = (1000 * statistics.median(times), ids)
    return found


async def _measure(database_url: str, users: int, repeat: int) -> None:
    from tortoise import Tortoise, connections

    from staffgraph.db import apply_migrations, tortoise_config
    from staffgraph.resolvers import pagination

    await apply_migrations(database_url)
    await Tortoise.init(config=tortoise_config(database_url))
    try:
        await _seed(users)
        client = connections.get("default")
        dialect = client.capabilities.dialect
        if dialect == "postgres":
            await client.execute_script("ANALYZE users")
        now = pagination._beyond
        states = ("now", "cursors as before", "before")
        results = {}
        for state in states:
            if state == "before":
                for index in await _page_order_indexes(client):
                    await client.execute_script(f'DROP INDEX "{index}"')
                if dialect == "postgres":
                    await client.execute_script("ANALYZE users")
            pagination._beyond = now if state == "now" else _beyond_as_before
            try:
                for everyone in (True, False):
                    results[(state, everyone)] = await _pages(everyone, repeat)
            finally:
                pagination._beyond = now
        print(f"\n{dialect}, {users} users, pages of {PAGE}, median of {repeat} reads (ms):")
        print(f"  {'viewer':<8} {'page':<16}" + "".join(f"{s:>19}" for s in states))
        for everyone in (True, False):
            viewer = "HR" if everyone else "others"
            for name, (_, ids) in results[("now", everyone)].items():
                line = f"  {viewer:<8} {name:<16}"
                for state in states:
                    ms, same = results[(state, everyone)][name]
                    assert same == ids, (state, name)  # the same page every time
                    line += f"{ms:>19.2f}"
                print(line)
    finally:
        await Tortoise.close_connections()


async def _page_order_indexes(client: Any) -> list[str]:
    """The names of the indexes on ``users`` that lead with ``created_at, id`` or
    ``is_active, created_at, id``."""
    if client.capabilities.dialect == "postgres":
        rows = await client.execute_query_dict(
            "SELECT indexname AS name, indexdef AS sql FROM pg_indexes WHERE tablename = 'users'"
        )
    else:
        rows = await client.execute_query_dict(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'users'"
        )
    wanted = ('("created_at", "id")', '("is_active", "created_at", "id")')
    plain = ("(created_at, id)", "(is_active, created_at, id)")
    return [
        row["name"]
        for row in rows
        if row["sql"] and any(w in row["sql"] for w in (*wanted, *plain))
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="page-order-") as work:
        asyncio.run(_measure(f"sqlite://{Path(work) / 'pages.db'}", args.users, args.repeat))
    if not args.no_postgres:
        with postgres_database(args.postgres) as url:
            if url is not None:
                asyncio.run(_measure(url, args.users, args.repeat))


if __name__ == "__main__":
    main()
