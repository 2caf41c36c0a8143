"""The graphql-core executor the schema runs with: strawberry's, told which values are rows.

graphql-core treats any object with ``__await__`` as awaitable and schedules a task to await
it. Tortoise makes every model instance awaitable (awaiting one returns itself), so each field
that returns a row (``node`` of every edge, ``manager``, ``department``, ``me``) cost a task,
a gather and their callbacks: on a page of 50 users, some 150 tasks for nothing. Rows and the
plain values of this schema are never awaitable; everything else is judged as before.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from datetime import date, datetime
from typing import Any, TypeGuard

from strawberry.execution.is_awaitable import optimized_is_awaitable
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
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
    """Whether graphql-core must await ``value``: never for a row or a plain value."""
    return type(value) not in NEVER_AWAITABLE and optimized_is_awaitable(value)


class StaffExecutor(StrawberryGraphQLCoreExecutionContext):
    """strawberry's executor with :func:`is_awaitable`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.is_awaitable = is_awaitable
