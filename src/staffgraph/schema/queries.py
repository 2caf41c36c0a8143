"""The Query type."""

from __future__ import annotations

import strawberry

from staffgraph.context import Info
from staffgraph.errors import BadUserInput, Unauthenticated
from staffgraph.permissions import ANYONE, AUTHENTICATED, guarded
from staffgraph.permissions import policy as p
from staffgraph.resolvers import directory
from staffgraph.resolvers import nodes as lookup
from staffgraph.resolvers.pagination import page_request
from staffgraph.schema.connections import After, Before, First20, First50, Last
from staffgraph.schema.inputs import UserFilter
from staffgraph.schema.scalars import parse_id
from staffgraph.schema.types import (
    AuditAction,
    AuditEventConnection,
    Department,
    Node,
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
    return await directory.get_viewer_user(info.context, viewer_id)  # type: ignore[return-value]


async def _user(info: Info, id: strawberry.ID) -> User | None:
    return await directory.get_user(info.context, parse_id(id, "id"))  # type: ignore[return-value]


async def _users(
    info: Info,
    first: First20 = None,
    after: After = None,
    last: Last = None,
    before: Before = None,
    filter: UserFilter | None = None,
) -> UserConnection:
    page = page_request(first, after, last, before, default=20)
    f = filter or UserFilter()
    return await directory.list_users(  # type: ignore[return-value]
        info.context,
        page,
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
    info: Info,
    first: First50 = None,
    after: After = None,
    last: Last = None,
    before: Before = None,
    action: AuditAction | None = None,
) -> AuditEventConnection:
    page = page_request(first, after, last, before, default=50)
    return await directory.list_audit_events(info.context, page, action)  # type: ignore[return-value]


async def _node(info: Info, id: strawberry.ID) -> Node | None:
    [found] = await lookup.get_nodes(info.context, [parse_id(id, "id")])
    return found


async def _nodes(info: Info, ids: list[strawberry.ID]) -> list[Node | None]:
    if len(ids) > lookup.MAX_NODES:
        raise BadUserInput(f"ids may name at most {lookup.MAX_NODES} objects", field="ids")
    return await lookup.get_nodes(info.context, [parse_id(i, "ids") for i in ids])


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
        AUTHENTICATED,
        "Users, oldest account first, a page at a time (`first` or `last` at most 100).",
        resolver=_users,
    )
    department: Department | None = guarded(
        AUTHENTICATED, "A department by id; null when absent.", resolver=_department
    )
    departments: list[Department] = guarded(
        AUTHENTICATED, "Every department.", resolver=_departments
    )
    audit_events: AuditEventConnection = guarded(
        p.READ_AUDIT, "The audit trail, newest first, a page at a time.", resolver=_audit_events
    )
    node: Node | None = guarded(
        AUTHENTICATED,
        "A user, department or review by id; null when absent or not readable by the viewer.",
        resolver=_node,
    )
    nodes: list[Node | None] = guarded(
        AUTHENTICATED,
        f"Objects by id (at most {lookup.MAX_NODES}), in the order asked; null for each one "
        "absent or not readable by the viewer.",
        resolver=_nodes,
    )
