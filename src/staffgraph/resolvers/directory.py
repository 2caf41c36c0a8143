"""Reading the directory: users, departments and the audit trail."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Hashable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from graphql import FieldNode, OperationDefinitionNode
from tortoise.expressions import Q

from staffgraph.db_reads import Once, models_of, models_with
from staffgraph.errors import Forbidden
from staffgraph.loaders import load_alone
from staffgraph.models import AuditAction, AuditEvent, Department, Role, User
from staffgraph.resolvers.hierarchy import subtree_expression, subtree_ids
from staffgraph.resolvers.members import STAMP, MembersCount, MembersPage
from staffgraph.resolvers.pagination import Connection, PageRequest, connect, fetch_page
from staffgraph.resolvers.validation import clean_text

if TYPE_CHECKING:
    from strawberry.dataloader import DataLoader

    from staffgraph.context import Context

T = TypeVar("T")


def sees_inactive(ctx: Context) -> bool:
    """HR and ADMIN see deactivated users; everyone else sees active users only."""
    viewer = ctx.viewer
    return viewer is not None and bool(viewer.roles & {Role.HR, Role.ADMIN})


def visible(ctx: Context, user: User | None) -> bool:
    """Whether the viewer may see ``user``: the one rule for deactivated users, on every path
    that reaches a user (``user``, ``users``, manager, reports, department head and members,
    review subject and reviewer, audit actor)."""
    return user is not None and (user.is_active or sees_inactive(ctx))


def now_or_later(loader: DataLoader[Any, T], key: Hashable) -> T | Awaitable[T]:
    """What ``loader`` holds for ``key`` when it has loaded it already, else its awaitable.

    A resolver that returns a value rather than an awaitable spares graphql-core a task and a
    gather per field: on a page whose relations were loaded beforehand, every one of them.
    """
    future = loader.cache_map.get(key)
    # a failed load is not remembered as an answer: loading again raises it where it belongs
    if (
        future is not None
        and future.done()
        and not future.cancelled()
        and future.exception() is None
    ):
        return future.result()
    return loader.load(key)


def user_now_or_later(ctx: Context, user_id: uuid.UUID) -> User | Awaitable[User | None] | None:
    """:func:`get_user`, answered at once when the user was loaded already."""
    found = now_or_later(ctx.loaders.user, user_id)
    # not inspect.isawaitable: Tortoise makes every row awaitable, the loaded one included
    if found is None or isinstance(found, User):
        return found if visible(ctx, found) else None
    return _visible_later(ctx, found)


async def _visible_later(ctx: Context, found: Awaitable[User | None]) -> User | None:
    user = await found
    return user if visible(ctx, user) else None


async def get_user(ctx: Context, user_id: uuid.UUID) -> User | None:
    """The user with this id, if it exists and the viewer may see it."""
    user = await ctx.loaders.user.load(user_id)
    return user if visible(ctx, user) else None


def _reads_wait_for_a_server() -> bool:
    """Whether a read of the directory waits for a database server's answer (PostgreSQL's),
    rather than running on the event loop's own thread (SQLite's,
    :attr:`~staffgraph.sqlite_client.ImmediateSqliteClient.reads_on_the_loop`): a round trip
    saved is worth more there than the statement's own cost."""
    return not getattr(User._choose_db(), "reads_on_the_loop", False)


def subtree_read_with_page(operation: OperationDefinitionNode | None) -> bool:
    """Whether the viewer's management subtree, when the operation's rules need it, is read by
    the operation's page of users in the page's own statement rather than before it: where the
    operation is that page alone (``users``) and a read waits for a server, whose round trip
    cost a MANAGER's page 7% (bench/README.md). SQLite, whose reads run on the event loop's
    thread and which has no arrays, reads the subtree first.
    """
    if operation is None:
        return False
    selections = operation.selection_set.selections
    return (
        len(selections) == 1
        and isinstance(selections[0], FieldNode)
        and selections[0].name.value == "users"
        and _reads_wait_for_a_server()
    )


async def get_viewer_user(ctx: Context, user_id: uuid.UUID) -> User | None:
    """:func:`get_user` for the viewer's own row (``me``), read at once rather than batched
    (:func:`~staffgraph.loaders.load_alone`) where the read waits for a server.

    A connection that reads on the event loop's own thread (SQLite's,
    :attr:`~staffgraph.sqlite_client.ImmediateSqliteClient.reads_on_the_loop`) keeps the
    loader's batch: there ``me`` cost 2.4-4.5% more CPU read at once (bench/README.md), where
    PostgreSQL's cost 5% less.
    """
    if not _reads_wait_for_a_server():
        return await get_user(ctx, user_id)
    user = await load_alone(ctx.loaders.user, user_id)
    return user if visible(ctx, user) else None


async def load_relations(
    ctx: Context, users: list[User], *, departments_read: bool = False
) -> None:
    """Load the managers and departments of ``users`` in one batch each, when the query
    selects them: their fields then resolve without awaiting (see :func:`now_or_later`).
    ``departments_read``: the departments are in the loader already."""
    loads: list[Awaitable[Any]] = []
    if "manager" in ctx.selected:
        managers = {u.manager_id for u in users if u.manager_id is not None}
        loads.append(ctx.loaders.user.load_many(list(managers)))
    if "department" in ctx.selected and not departments_read:
        departments = {u.department_id for u in users if u.department_id is not None}
        loads.append(ctx.loaders.department.load_many(list(departments)))
    if loads:
        await asyncio.gather(*loads)


async def get_reports(ctx: Context, manager_id: uuid.UUID) -> list[User]:
    """The direct reports of ``manager_id`` the viewer may see."""
    return [u for u in await ctx.loaders.reports.load(manager_id) if visible(ctx, u)]


async def list_users(
    ctx: Context,
    page: PageRequest,
    *,
    search: str | None = None,
    department_id: uuid.UUID | None = None,
    manager_id: uuid.UUID | None = None,
    is_active: bool | None = None,
) -> Connection:
    """A page of users, oldest account first, matching every given condition; the managers
    and departments of its users loaded with it, if selected."""
    query = User.all()
    if is_active is not None:
        if not sees_inactive(ctx):
            raise Forbidden(
                "Not allowed: filter.isActive requires HR | ADMIN", field="filter.isActive"
            )
        query = query.filter(is_active=is_active)
    elif not sees_inactive(ctx):
        query = query.filter(is_active=True)
    term = clean_text(search, "filter.search", max_length=100)
    if term:
        query = query.filter(
            Q(display_name__icontains=term)
            | Q(email__icontains=term)
            | Q(job_title__icontains=term)
        )
    if department_id is not None:
        query = query.filter(department_id=department_id)
    if manager_id is not None:
        query = query.filter(manager_id=manager_id)
    # a page and its users' departments in one statement where that saves a round trip to a
    # server (10-12% of PostgreSQL's page); SQLite's own statement for the departments costs
    # less than the join (1-3% of its page, bench/README.md)
    joined = "department" in ctx.selected and _reads_wait_for_a_server()
    # and the viewer's subtree, when its rules need it (see subtree_read_with_page)
    subtree = _subtree_with_page(ctx)
    if subtree is None and ctx.subtree_with_page:
        await ctx.subordinates()  # no statement reads it with the page: as the prefetch would

    async def read(page_query: Any) -> list[User]:
        nonlocal joined
        found = None
        if joined or subtree is not None:
            found = await models_with(page_query, "department" if joined else None, subtree)
        if found is None:
            joined = False
            if subtree is not None:
                await ctx.subordinates()  # as the prefetch would have, before any check
            return await models_of(page_query)
        if found.once is not None:
            ctx.know_subordinates(subtree_ids(found.once))
        loader = ctx.loaders.department
        for department in cast(list[Department], found.related):
            loader.prime(department.id, department)
        return found.rows

    connection, rows = await fetch_page(query, page, "created_at", query.count, read=read)
    ctx.loaders.prime_users(rows)
    await load_relations(ctx, rows, departments_read=joined)
    return connection


def _subtree_with_page(ctx: Context) -> Once | None:
    """The viewer's subtree as a page's statement reads it, when the operation asked for that
    (:attr:`~staffgraph.context.Context.subtree_with_page`), it is not loaded yet and the
    database can (:func:`~staffgraph.resolvers.hierarchy.subtree_expression`)."""
    viewer = ctx.viewer
    if not ctx.subtree_with_page or viewer is None or ctx.subordinates_if_loaded() is not None:
        return None
    expression = subtree_expression(User._choose_db().capabilities.dialect)
    return None if expression is None else Once("subtree", expression, viewer.user_id)


async def list_members(ctx: Context, department_id: uuid.UUID, page: PageRequest) -> Connection:
    """A page of a department's members: the page ``users`` filtered by the department gives
    (active members only, but for HR and ADMIN), loaded with those of every other department
    the request asks the same page of."""
    inactive_too = sees_inactive(ctx)
    rows = await ctx.loaders.member_pages.load(MembersPage(department_id, page, inactive_too))
    count_key = MembersCount(department_id, inactive_too)
    connection, shown = connect(
        rows, page, STAMP, lambda: ctx.loaders.member_counts.load(count_key)
    )
    ctx.loaders.prime_users(shown)
    await load_relations(ctx, shown)
    return connection


async def get_department(ctx: Context, department_id: uuid.UUID) -> Department | None:
    """The department with this id, or None."""
    return await ctx.loaders.department.load(department_id)


async def list_departments(ctx: Context) -> list[Department]:
    """Every department, by name."""
    departments = await Department.all().order_by("name")
    for department in departments:
        ctx.loaders.department.prime(department.id, department)
    return list(departments)


async def list_audit_events(
    ctx: Context, page: PageRequest, action: AuditAction | None
) -> Connection:
    """A page of audit events, newest first."""
    query = AuditEvent.all()
    if action is not None:
        query = query.filter(action=action)
    connection, _ = await fetch_page(query, page, "at", query.count, descending=True)
    return connection
