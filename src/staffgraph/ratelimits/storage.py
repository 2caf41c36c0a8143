"""The counter storage every limit shares: process memory, or Redis shared by every instance."""

from __future__ import annotations

from limits.aio.storage import MemoryStorage, RedisStorage, Storage

#: a Redis command of the counters taking longer than this has failed
REDIS_TIMEOUT_SECONDS = 2


def limits_storage(redis_url: str | None) -> Storage:
    """In-process counters, or Redis ones shared by every instance.

    The ``async+`` scheme selects the asyncio storage (plain ``redis://`` would give the
    synchronous one) and ``implementation="redispy"`` the ``redis`` package we already use.
    """
    if redis_url is None:
        return MemoryStorage()
    return RedisStorage(
        f"async+{redis_url}",
        implementation="redispy",
        key_prefix="staffgraph",
        socket_timeout=REDIS_TIMEOUT_SECONDS,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
    )


async def close_storage(storage: Storage) -> None:
    """Close the Redis client behind a :func:`limits_storage` (nothing to do in memory)."""
    # limits exposes no close(); its redis-py bridge keeps the client as ``storage``
    client = getattr(getattr(storage, "bridge", None), "storage", None)
    if client is not None and hasattr(client, "aclose"):
        await client.aclose()
