"""Which resolver results must be awaited: never a row or a plain value.

graphql-core treats any object with ``__await__`` as awaitable and schedules a task to await it.
Tortoise makes every model instance awaitable (awaiting one returns itself), so each field that
returned a row cost a task and a gather for nothing. Rows and the plain values of this schema
are never awaitable; everything else is judged as graphql-core judges it.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from datetime import date, datetime
from typing import Any, TypeGuard

from strawberry.execution.is_awaitable import optimized_is_awaitable
from tortoise.models import Model

from staffgraph import models
from staffgraph.resolvers.pagination import Connection, Edge, PageInfo

_PLAIN = frozenset(
    {
        type(None), bool, int, float, str, bytes, list, tuple, dict, set, frozenset,
        uuid.UUID, datetime, date, Connection, Edge, PageInfo,
    }
)  # fmt: skip


#: the model classes: every one is awaitable in Tortoise, none is a resolver's pending answer
_ROWS = frozenset(
    value for value in vars(models).values() if isinstance(value, type) and issubclass(value, Model)
)
NEVER_AWAITABLE: frozenset[type] = _PLAIN | _ROWS


def is_awaitable(value: Any) -> TypeGuard[Awaitable[Any]]:
    """Whether ``value`` must be awaited: never for a row or a plain value."""
    return type(value) not in NEVER_AWAITABLE and optimized_is_awaitable(value)
