"""The Query type."""

from __future__ import annotations

import strawberry

from staffgraph.context import Info
from staffgraph.errors import Unauthenticated
from staffgraph.permissions import ANYONE, AUTHENTICATED, guarded
from staffgraph.permissions import policy as p
from staffgraph.resolvers import directory
from staffgraph.schema.inputs import UserFilter
from staffgraph.schema.scalars import parse_id
from staffgraph.schema.types import (
    AuditAction,
    AuditEventConnection,
    Department,
    User,
    UserConnection,
)


async def _me(info: Info) -> User | None:
    viewer_id = info.context.viewer_id
    if viewer_id is None:
        # anonymous is null; a token that was refused is null with its reason, so a client's
        # refresh logic fires on `me` as on any field that needs a user (API.md §9)
        if info.context.auth_error is not None:
            raise Unauthenticated("Authentication required", reason=info.context.auth_error)
        return None
    return await directory.get_user(info.context, viewer_id)  # type: ignore[return-value]


async def _user(info: Info, id: strawberry.ID) -> User | None:
    return await directory.get_user(info.context, parse_id(id, "id"))  # type: ignore[return-value]


async def _users(
    info: Info, first: int = 20, after: str | None = None, filter: UserFilter | None = None
) -> UserConnection:
    f = filter or UserFilter()
    return await directory.list_users(  # type: ignore[return-value]
        info.context,
        first,
        after,
        search=f.search,
        department_id=parse_id(f.department_id, "filter.departmentId") if f.department_id else None,
        manager_id=parse_id(f.manager_id, "filter.managerId") if f.manager_id else None,
        is_active=f.is_active,
    )


async def _department(info: Info, id: strawberry.ID) -> Department | None:
    return await directory.get_department(info.context, parse_id(id, "id"))  # type: ignore[return-value]


async def _departments(info: Info) -> list[Department]:
    return await directory.list_departments(info.context)  # type: ignore[return-value]


async def _audit_events(
    info: Info, first: int = 50, after: str | None = None, action: AuditAction | None = None
) -> AuditEventConnection:
    return await directory.list_audit_events(info.context, first, after, action)  # type: ignore[return-value]


@strawberry.type(description="Reading the directory.")
class Query:
    me: User | None = guarded(
        ANYONE,
        "The signed-in user; null when anonymous, null with UNAUTHENTICATED (and its `reason`) "
        "when the access token was refused.",
        resolver=_me,
    )
    user: User | None = guarded(AUTHENTICATED, "A user by id; null when absent.", resolver=_user)
    users: UserConnection = guarded(
        AUTHENTICATED, "Users, a page at a time (`first` at most 100).", resolver=_users
    )
    department: Department | None = guarded(
        AUTHENTICATED, "A department by id; null when absent.", resolver=_department
    )
    departments: list[Department] = guarded(
        AUTHENTICATED, "Every department.", resolver=_departments
    )
    audit_events: AuditEventConnection = guarded(
        p.READ_AUDIT, "The audit trail, newest first.", resolver=_audit_events
    )
