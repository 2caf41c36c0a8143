"""Department members for every department of a request at once: a page, and a count.

``departments { members { ... } }`` asks one page per department. Each page is the one
:func:`~staffgraph.resolvers.pagination.fetch_page` would fetch for ``users`` filtered by that
department; here the pages of all departments asking the same page come from one statement,
numbering each department's rows in the direction of travel with ``ROW_NUMBER() OVER
(PARTITION BY department_id ...)`` (SQLite 3.25+ and PostgreSQL) and keeping as many of each as
the page plans to fetch. Their counts come from one ``GROUP BY department_id``.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import NamedTuple

from pypika_tortoise.analytics import RowNumber
from pypika_tortoise.enums import Order
from pypika_tortoise.terms import Field
from tortoise import connections
from tortoise.functions import Count
from tortoise.queryset import QuerySet

from staffgraph.models import User
from staffgraph.resolvers.pagination import PageRequest, plan_page

#: the stamp member pages are ordered by, with the id, as ``users`` is
STAMP = "created_at"


class MembersPage(NamedTuple):
    """One department's page of members, as the viewer may see them."""

    department_id: uuid.UUID
    request: PageRequest
    #: whether deactivated members count (HR and ADMIN)
    inactive_too: bool


class MembersCount(NamedTuple):
    """How many members one department has, as the viewer may see them."""

    department_id: uuid.UUID
    inactive_too: bool


def _members(department_ids: list[uuid.UUID], inactive_too: bool) -> QuerySet[User]:
    """The members of these departments the viewer may see (``directory.sees_inactive``)."""
    query = User.filter(department_id__in=department_ids)
    return query if inactive_too else query.filter(is_active=True)


async def _pages(
    request: PageRequest, inactive_too: bool, department_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[User]]:
    """The rows :func:`plan_page` plans for ``request``, for each department, in one statement."""
    plan = plan_page(request, STAMP)
    found: dict[uuid.UUID, list[User]] = defaultdict(list)
    if not plan.limit:
        return found
    order = Order.asc if plan.ascending else Order.desc
    row_number = (
        RowNumber()
        .over(Field("department_id"))
        .orderby(Field(STAMP), order=order)
        .orderby(Field("id"), order=order)
    )
    numbered = (
        _members(department_ids, inactive_too).filter(*plan.bounds).annotate(page_row=row_number)
    )
    # Tortoise builds the numbered rows' query (filters and their values in the dialect's
    # placeholders); the row number may only be filtered on around it, in an outer query
    numbered.sql()
    inner = numbered.query.as_("numbered")
    page_row = Field("page_row", table=inner)
    db = connections.get("default")
    outer = db.query_class.from_(inner).select("*").where(page_row <= plan.limit)
    sql, params = outer.orderby(page_row).get_parameterized_sql()
    for row in await db.execute_query_dict(sql, params):
        user = User._init_from_db(**row)
        assert user.department_id is not None
        found[user.department_id].append(user)
    return found


async def load_pages(keys: list[MembersPage]) -> list[list[User]]:
    """For each key, the rows of its department that ``fetch_page`` would fetch (in the
    direction of travel, for :func:`~staffgraph.resolvers.pagination.connect`): one
    statement for every department asking the same page."""
    asking: dict[tuple[PageRequest, bool], set[uuid.UUID]] = defaultdict(set)
    for key in keys:
        asking[key.request, key.inactive_too].add(key.department_id)
    pages = {
        (request, inactive_too): await _pages(request, inactive_too, sorted(ids))
        for (request, inactive_too), ids in asking.items()
    }
    return [list(pages[k.request, k.inactive_too].get(k.department_id, ())) for k in keys]


async def load_counts(keys: list[MembersCount]) -> list[int]:
    """For each key, how many members its department has: one statement per visibility."""
    asking: dict[bool, set[uuid.UUID]] = defaultdict(set)
    for key in keys:
        asking[key.inactive_too].add(key.department_id)
    counts: dict[tuple[uuid.UUID, bool], int] = {}
    for inactive_too, ids in asking.items():
        rows = (
            await _members(sorted(ids), inactive_too)
            .annotate(members=Count("id"))
            .group_by("department_id")
            .values_list("department_id", "members")
        )
        for department_id, members in rows:
            counts[uuid.UUID(str(department_id)), inactive_too] = members
    return [counts.get((k.department_id, k.inactive_too), 0) for k in keys]
