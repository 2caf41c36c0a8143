"""The Tortoise configuration shared by the app, the CLI, migrations and the tests."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from tortoise import Tortoise, connections
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.migrations.api import migrate
from tortoise.migrations.executor import MigrationExecutor, MigrationTarget

from staffgraph.db_engine import bounded_connection
from staffgraph.sqlite_client import BUSY_TIMEOUT_MS

MODELS_MODULE = "staffgraph.models"
MIGRATIONS_MODULE = "staffgraph.migrations"
APP_LABEL = "models"


class DatabaseUnavailable(ConnectionError):
    """The database cannot be reached or opened."""


def connection_config(database_url: str, timeout: float | None = None) -> str | dict[str, Any]:
    """Tortoise's connection entry for ``database_url``.

    ``timeout`` (``DATABASE_TIMEOUT``, seconds) bounds every wait on the database (see
    :mod:`staffgraph.db_engine`); None leaves them unbounded, as migrations need. SQLite files
    go through :mod:`staffgraph.sqlite_client` (write transactions several processes can share).
    """
    if timeout is None and not database_url.startswith("sqlite"):
        return database_url
    config = (
        expand_db_url(database_url)
        if timeout is None
        else bounded_connection(database_url, timeout)
    )
    if config["engine"] == "tortoise.backends.sqlite":
        config["engine"] = "staffgraph.sqlite_client"
        config["credentials"].setdefault("busy_timeout", BUSY_TIMEOUT_MS)
    return config


def tortoise_config(database_url: str, timeout: float | None = None) -> dict[str, Any]:
    """The Tortoise config dict for ``database_url``, with our models and migrations (see
    :func:`connection_config` for ``timeout``)."""
    return {
        "connections": {"default": connection_config(database_url, timeout)},
        "apps": {
            APP_LABEL: {
                "models": [MODELS_MODULE],
                "migrations": MIGRATIONS_MODULE,
                "default_connection": "default",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


def check_sqlite_file(database_url: str) -> None:
    """Raise :class:`DatabaseUnavailable` when a SQLite URL names a file that cannot be opened.

    Tortoise keeps its connection lock when a SQLite file fails to open, so the next query
    waits forever: opening the file here first turns that hang into an error.
    """
    if not database_url.startswith("sqlite"):
        return
    path = expand_db_url(database_url)["credentials"].get("file_path", "")
    if not path or path == ":memory:":
        return
    if not Path(path).parent.is_dir():
        raise DatabaseUnavailable(f"the directory of the SQLite file {path} does not exist")
    try:
        sqlite3.connect(path).close()
    except sqlite3.Error as exc:
        raise DatabaseUnavailable(f"cannot open the SQLite file {path}: {exc}") from None


async def apply_migrations(database_url: str) -> None:
    """Apply every pending migration to ``database_url``, then close the connections."""
    check_sqlite_file(database_url)
    try:
        await migrate(config=tortoise_config(database_url))
    finally:
        await Tortoise.close_connections()


async def pending_migrations(database_url: str) -> list[str]:
    """The migrations not yet applied to ``database_url`` (``app.name``), changing nothing."""
    check_sqlite_file(database_url)
    config = tortoise_config(database_url)
    await Tortoise.init(config=config)
    try:
        executor = MigrationExecutor(connections.get("default"), config["apps"])
        steps = await executor.plan([MigrationTarget(APP_LABEL, "__latest__")])
    finally:
        await Tortoise.close_connections()
    return [f"{step.migration.app_label}.{step.migration.name}" for step in steps]
