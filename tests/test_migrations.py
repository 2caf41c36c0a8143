"""The migrations describe exactly the models: no pending change, and applied to an empty
database they build the same tables, columns, keys and indexes as the models do."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from tortoise import connections
from tortoise.context import TortoiseContext
from tortoise.migrations.autodetector import MigrationAutodetector

from staffgraph.db import apply_migrations, tortoise_config
from tests.conftest import ON_POSTGRES, TEST_DATABASE_URL

MIGRATION_TABLE = "tortoise_migrations"


@dataclass
class Table:
    """What the database says about one table, in names only (no constraint names)."""

    columns: dict[str, tuple[str, bool]] = field(default_factory=dict)  # name -> (type, null)
    foreign_keys: set[tuple[str, str, str, str]] = field(default_factory=set)
    unique: set[tuple[str, ...]] = field(default_factory=set)
    indexes: set[tuple[str, ...]] = field(default_factory=set)
    primary_key: tuple[str, ...] = ()


async def _sqlite_schema() -> dict[str, Table]:
    conn = connections.get("default")
    rows = await conn.execute_query_dict(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    )
    schema: dict[str, Table] = {}
    for name in (r["name"] for r in rows):
        table = schema[name] = Table()
        pk: list[tuple[int, str]] = []
        for col in await conn.execute_query_dict(f'PRAGMA table_info("{name}")'):
            table.columns[col["name"]] = (col["type"].upper(), not col["notnull"] and not col["pk"])
            if col["pk"]:
                pk.append((col["pk"], col["name"]))
        table.primary_key = tuple(n for _, n in sorted(pk))
        for fk in await conn.execute_query_dict(f'PRAGMA foreign_key_list("{name}")'):
            table.foreign_keys.add((fk["from"], fk["table"], fk["to"], fk["on_delete"].upper()))
        for index in await conn.execute_query_dict(f'PRAGMA index_list("{name}")'):
            info = await conn.execute_query_dict(f'PRAGMA index_info("{index["name"]}")')
            columns = tuple(c["name"] for c in sorted(info, key=lambda c: c["seqno"]))
            if index["origin"] == "pk":
                continue
            (table.unique if index["unique"] else table.indexes).add(columns)
    return schema


_PG_COLUMNS = """
SELECT c.relname AS table, a.attname AS column, format_type(a.atttypid, a.atttypmod) AS type,
       NOT a.attnotnull AS nullable
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
"""
_PG_FOREIGN_KEYS = """
SELECT c.relname AS table, a.attname AS column, r.relname AS target, ra.attname AS target_column,
       k.confdeltype::text AS on_delete
FROM pg_constraint k
JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class r ON r.oid = k.confrelid
JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
JOIN pg_attribute ra ON ra.attrelid = k.confrelid AND ra.attnum = k.confkey[1]
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE k.contype = 'f' AND n.nspname = 'public'
"""
_PG_INDEXES = """
SELECT c.relname AS table, i.indisunique AS is_unique, i.indisprimary AS is_primary,
       array(SELECT a.attname FROM unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
             ORDER BY k.ord) AS columns
FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public'
"""
_PG_ON_DELETE = {
    "a": "NO ACTION",
    "r": "RESTRICT",
    "c": "CASCADE",
    "n": "SET NULL",
    "d": "SET DEFAULT",
}


async def _postgres_schema() -> dict[str, Table]:
    conn = connections.get("default")
    schema: dict[str, Table] = {}
    for row in await conn.execute_query_dict(_PG_COLUMNS):
        table = schema.setdefault(row["table"], Table())
        table.columns[row["column"]] = (row["type"], row["nullable"])
    for row in await conn.execute_query_dict(_PG_FOREIGN_KEYS):
        schema[row["table"]].foreign_keys.add(
            (row["column"], row["target"], row["target_column"], _PG_ON_DELETE[row["on_delete"]])
        )
    for row in await conn.execute_query_dict(_PG_INDEXES):
        table = schema[row["table"]]
        columns = tuple(row["columns"])
        if row["is_primary"]:
            table.primary_key = columns
        else:
            (table.unique if row["is_unique"] else table.indexes).add(columns)
    return schema


async def database_schema() -> dict[str, Table]:
    """Tables, columns, foreign keys, unique constraints and indexes of the open database."""
    schema = await (_postgres_schema() if ON_POSTGRES else _sqlite_schema())
    schema.pop(MIGRATION_TABLE, None)
    return schema


@pytest.fixture
async def empty_database(tmp_path: Path) -> AsyncIterator[Any]:
    """A factory of empty databases on the test backend, dropped afterwards."""
    created: list[str] = []
    admin_url = ""
    if ON_POSTGRES:
        parts = urlsplit(TEST_DATABASE_URL)
        admin_url = urlunsplit(("postgresql", parts.netloc, parts.path, "", ""))

    async def make(label: str) -> str:
        if not ON_POSTGRES:
            return f"sqlite://{tmp_path / (label + '.db')}"
        import asyncpg

        parts = urlsplit(TEST_DATABASE_URL)
        name = f"{parts.path.lstrip('/')}_{label}_{uuid.uuid4().hex[:8]}"
        admin = await asyncpg.connect(admin_url)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        created.append(name)
        return urlunsplit((parts.scheme, parts.netloc, "/" + name, "", ""))

    yield make
    if created:
        import asyncpg

        admin = await asyncpg.connect(admin_url)
        try:
            for name in created:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def migrated_schema(url: str) -> dict[str, Table]:
    await apply_migrations(url)
    async with TortoiseContext() as ctx:
        await ctx.init(config=tortoise_config(url))
        return await database_schema()


_INLINE_FK = re.compile(
    r'^(\s*"(\w+)" .*?) (REFERENCES "\w+" \("\w+"\) ON DELETE [A-Z ]+?)(,?)$', re.MULTILINE
)


def _deferred_foreign_keys(table: str, sql: str) -> tuple[str, list[str]]:
    """``sql`` without its inline REFERENCES, and the ALTER TABLEs that add them afterwards:
    PostgreSQL wants the target table to exist, and users and departments point at each other."""
    alters = [
        f'ALTER TABLE "{table}" ADD FOREIGN KEY ("{m.group(2)}") {m.group(3)};'
        for m in _INLINE_FK.finditer(sql)
    ]
    return _INLINE_FK.sub(r"\1\4", sql), alters


async def models_schema(url: str) -> dict[str, Table]:
    """The schema Tortoise generates from the models themselves.

    ``Tortoise.generate_schemas()`` refuses the users <-> departments cycle, so the tables are
    created from the generator's per-model SQL, foreign keys added last.
    """
    async with TortoiseContext() as ctx:
        await ctx.init(config=tortoise_config(url))
        conn = connections.get("default")
        generator = conn.schema_generator(conn)
        statements: list[str] = []
        foreign_keys: list[str] = []
        for model in generator._get_models_to_create():
            sql = generator._get_table_sql(model, safe=False)["table_creation_string"]
            if ON_POSTGRES:  # SQLite accepts references to tables created later
                sql, alters = _deferred_foreign_keys(model._meta.db_table, sql)
                foreign_keys += alters
            statements.append(sql)
        await conn.execute_script("\n".join(statements + foreign_keys))
        return await database_schema()


async def test_no_model_change_lacks_a_migration():
    config = tortoise_config("sqlite://:memory:")
    async with TortoiseContext() as ctx:
        await ctx.init(config=config)
        detector = MigrationAutodetector(ctx.apps, config["apps"])
        writers = await detector.changes()
    pending = [op.describe() for w in writers for op in w.operations]
    assert pending == [], "run `tortoise -c staffgraph.tortoise_conf.TORTOISE_ORM makemigrations`"


async def test_migrations_build_what_the_models_describe(empty_database):
    migrated = await migrated_schema(await empty_database("migrated"))
    expected = await models_schema(await empty_database("models"))
    assert sorted(migrated) == sorted(expected)
    for name, table in expected.items():
        got = migrated[name]
        assert got.columns == table.columns, name
        assert got.primary_key == table.primary_key, name
        assert got.foreign_keys == table.foreign_keys, name
        assert got.unique == table.unique, name
        assert got.indexes == table.indexes, name


async def test_department_head_is_a_foreign_key_to_users(empty_database):
    schema = await migrated_schema(await empty_database("head"))
    departments = schema["departments"]
    assert departments.columns["head_id"][1] is True  # nullable: a department may have no head
    assert ("head_id", "users", "id", "RESTRICT") in departments.foreign_keys


async def test_every_foreign_key_column_is_indexed(empty_database):
    schema = await migrated_schema(await empty_database("fk"))
    unindexed = []
    for name, table in schema.items():
        leading = {cols[0] for cols in table.indexes | table.unique}
        leading |= {table.primary_key[0]} if table.primary_key else set()
        unindexed += [f"{name}.{fk[0]}" for fk in table.foreign_keys if fk[0] not in leading]
    assert schema["users"].foreign_keys  # the check has something to look at
    assert unindexed == []


async def test_migrating_twice_changes_nothing(empty_database):
    url = await empty_database("twice")
    first = await migrated_schema(url)
    assert await migrated_schema(url) == first


USER_COLUMNS = "id, email, display_name, is_active, created_at, updated_at"
CREATED = "2026-01-01 00:00:00+00:00"


async def test_existing_users_get_a_security_stamp_each(empty_database):
    from tortoise.migrations.api import migrate

    url = await empty_database("stamps")
    config = tortoise_config(url)
    await migrate(config=config, target="models.0001_initial")
    async with TortoiseContext() as ctx:
        await ctx.init(config=config)
        conn = connections.get("default")
        for n in range(3):
            values = f"'{uuid.uuid4()}', 'u{n}@example.com', 'U', true, '{CREATED}', '{CREATED}'"
            insert = f"INSERT INTO users ({USER_COLUMNS}) VALUES ({values})"  # noqa: S608
            await conn.execute_script(insert)
    await apply_migrations(url)
    async with TortoiseContext() as ctx:
        await ctx.init(config=config)
        rows = await connections.get("default").execute_query_dict(
            "SELECT security_stamp FROM users"
        )
    stamps = [row["security_stamp"] for row in rows]
    assert len(stamps) == 3
    assert len(set(stamps)) == 3
    assert all(re.fullmatch(r"[0-9a-f]{32}", s) for s in stamps)
