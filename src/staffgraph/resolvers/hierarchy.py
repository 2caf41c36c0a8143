"""The management tree: who is below whom, in one recursive query."""

from __future__ import annotations

import uuid

from tortoise import connections

# Both SQLite and PostgreSQL run this recursive CTE. UNION (not UNION ALL) stops a cycle
# in bad data from looping forever.
_SUBORDINATES_SQL = """
WITH RECURSIVE subordinates(id) AS (
    SELECT id FROM users WHERE manager_id = {param}
    UNION
    SELECT u.id FROM users u JOIN subordinates s ON u.manager_id = s.id
)
SELECT id FROM subordinates
"""


def _param_style() -> str:
    dialect = connections.get("default").capabilities.dialect
    return "$1" if dialect == "postgres" else "?"


async def load_subordinate_ids(manager_id: uuid.UUID) -> frozenset[uuid.UUID]:
    """Ids of every user managed by ``manager_id`` directly or through others."""
    conn = connections.get("default")
    sql = _SUBORDINATES_SQL.format(param=_param_style())
    arg: object = manager_id if conn.capabilities.dialect == "postgres" else str(manager_id)
    rows = await conn.execute_query_dict(sql, [arg])
    return frozenset(uuid.UUID(str(row["id"])) for row in rows)


async def is_in_chain_of(viewer_id: uuid.UUID, target_id: uuid.UUID) -> bool:
    """Whether ``viewer_id`` manages ``target_id`` directly or indirectly."""
    return target_id in await load_subordinate_ids(viewer_id)


async def would_create_cycle(user_id: uuid.UUID, new_manager_id: uuid.UUID) -> bool:
    """Whether making ``new_manager_id`` the manager of ``user_id`` closes a loop."""
    return new_manager_id == user_id or new_manager_id in await load_subordinate_ids(user_id)
