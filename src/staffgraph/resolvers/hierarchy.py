"""The management tree: who is below whom, in one recursive query."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from tortoise import connections

from staffgraph.models.hydration import uuid_of
from staffgraph.resolvers.locks import hold_lock

# Both SQLite and PostgreSQL run this recursive CTE. UNION (not UNION ALL) stops a cycle
# in bad data from looping forever.
_SUBORDINATES_SQL = """
WITH RECURSIVE subordinates(id) AS (
    SELECT id FROM users WHERE manager_id = {param}
    UNION
    SELECT u.id FROM users u JOIN subordinates s ON u.manager_id = s.id
)
SELECT {select} FROM subordinates
"""


_POSTGRES_SQL = _SUBORDINATES_SQL.format(param="$1", select="id")
# a UUID's text holds no comma
_SQLITE_SQL = _SUBORDINATES_SQL.format(param="?", select="group_concat(id)")


async def load_subordinate_ids(manager_id: uuid.UUID) -> frozenset[int]:
    """Ids of every user managed by ``manager_id`` directly or through others, as their 128-bit
    numbers (``UUID.int``): ask ``user_id.int in ids``.

    A page as a MANAGER asks about a hundred times; a set of numbers answers in C, where a set of
    UUIDs calls ``UUID.__hash__`` and ``__eq__`` in Python. SQLite's text ids are the UUIDs the
    rows' hydration remembers (the same people's), so most cost a dictionary lookup; they come
    as one text, PostgreSQL's as rows read by position.
    Runs on the current connection, so inside a transaction it sees that transaction's writes.
    """
    conn = connections.get("default")
    if conn.capabilities.dialect == "postgres":
        _, rows = await conn.execute_query(_POSTGRES_SQL, [manager_id])
        return subtree_ids([row[0] for row in rows])
    # SQLite: one text of every id, which costs less than a row for each (a Python tuple and
    # a text each, a third of the statement's cost)
    _, rows = await conn.execute_query(_SQLITE_SQL, [str(manager_id)])
    joined = rows[0][0] if rows else None
    return subtree_ids(joined.split(",") if joined else ())


def subtree_ids(values: Iterable[uuid.UUID | str]) -> frozenset[int]:
    """The ids the subtree's statement read (:func:`load_subordinate_ids`, or
    :func:`subtree_expression`'s array), as :func:`load_subordinate_ids` gives them."""
    # asyncpg's UUIDs are uuid.UUIDs already; SQLite's are their text (str(uuid))
    return frozenset(
        value.int if isinstance(value, uuid.UUID) else uuid_of(value).int for value in values
    )


def subtree_expression(dialect: str) -> str | None:
    """An SQL expression of one argument, a manager's id at ``{}``: the array of the ids of
    everyone below them, for a statement that reads it beside rows of its own (a page's,
    :class:`~staffgraph.db_reads.Once`). None where the database has no arrays (SQLite)."""
    if dialect != "postgres":
        return None
    return "ARRAY(" + _SUBORDINATES_SQL.format(param="{}", select="id").strip() + ")"


async def lock_tree() -> None:
    """Inside a transaction, keep other changes of the management tree out until it ends.

    Two concurrent moves (A under B, B under A) would each pass the cycle check alone.
    """
    await hold_lock("staffgraph.management-tree")


async def would_create_cycle(user_id: uuid.UUID, new_manager_id: uuid.UUID) -> bool:
    """Whether making ``new_manager_id`` the manager of ``user_id`` closes a loop."""
    if new_manager_id == user_id:
        return True
    return new_manager_id.int in await load_subordinate_ids(user_id)
