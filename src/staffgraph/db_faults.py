"""Whether an exception means the database is down or did not answer in time.

Such a failure is not a bug of the request: it answers HTTP 503 with ``Retry-After`` and one
``SERVICE_UNAVAILABLE`` error (API.md §6), and the log gets one line, not a traceback.
"""

from __future__ import annotations

import sqlite3

import asyncpg  # type: ignore[import-untyped]
from tortoise.exceptions import DBConnectionError

#: PostgreSQL's answers that mean "not now": connection failures, query cancelled (our
#: ``statement_timeout``), shutting down or starting up, too many connections
_POSTGRES_UNAVAILABLE: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
)
#: SQLite messages of a database another process holds (past ``busy_timeout``) or cannot open
_SQLITE_UNAVAILABLE = ("database is locked", "unable to open database", "disk i/o error")
#: exceptions of these libraries concern another service, whatever their causes say
_OTHER_SERVICES = ("redis", "httpx", "httpcore", "authlib")


def _unavailable(exc: BaseException) -> bool:
    if isinstance(exc, (DBConnectionError, *_POSTGRES_UNAVAILABLE)):
        return True
    if isinstance(exc, asyncpg.InterfaceError):
        return "closed" in str(exc) or "closing" in str(exc)
    if isinstance(exc, sqlite3.OperationalError):
        return any(fragment in str(exc).lower() for fragment in _SQLITE_UNAVAILABLE)
    # asyncpg's command_timeout and pool acquisition raise TimeoutError; refused or reset
    # connections are OSErrors (ConnectionError among them)
    return isinstance(exc, TimeoutError | OSError)


def is_database_unavailable(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or what caused it, or the error a GraphQL error wraps) says the
    database is down, refused us, or did not answer within ``DATABASE_TIMEOUT``."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if type(exc).__module__.split(".")[0] in _OTHER_SERVICES:
            return False
        if _unavailable(exc):
            return True
        exc = getattr(exc, "original_error", None) or exc.__cause__ or exc.__context__
    return False
