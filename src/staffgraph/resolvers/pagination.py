"""Keyset pagination: opaque cursors over (timestamp, id), stable under inserts.

Connections follow the Relay cursor connections spec: ``first`` with ``after`` pages forward,
``last`` with ``before`` backward (both cursors may bound either). A page is one query in the
direction of travel (reversed for ``last``, then put back in connection order), fetching one row
more than asked to know whether the page is followed (``first``) or preceded (``last``). The
cursor on the near side is fetched inclusively: when its own row comes back, something lies
beyond the page on that side too, which answers the spec's optional half of ``hasPreviousPage``
(with ``after``) and ``hasNextPage`` (with ``before``) at no extra statement. When that row no
longer matches (a user deactivated since), the answer is ``false``, as the spec allows.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise.expressions import Q

from staffgraph.db_reads import models_of
from staffgraph.errors import BadUserInput

MAX_PAGE_SIZE = 100
#: the page size of a connection asked for neither ``first`` nor ``last``
DEFAULT_PAGE_SIZE = 20

Position = tuple[datetime, uuid.UUID]


@dataclass(slots=True)
class PageInfo:
    """Where a page starts and ends, and whether more items lie on either side."""

    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


class Edge:
    """One node and its cursor, written the first time it is read (a page whose query asks for
    no cursor writes none)."""

    __slots__ = ("_cursor", "_stamp", "node")

    def __init__(self, node: Any, stamp: str) -> None:
        self.node = node
        self._stamp = stamp
        self._cursor: str | None = None

    @property
    def cursor(self) -> str:
        """The opaque cursor of the node (see :func:`encode_cursor`)."""
        if self._cursor is None:
            self._cursor = encode_cursor(*_position(self.node, self._stamp))
        return self._cursor


class Connection:
    """A page of nodes; ``total_count`` runs its count query only when selected."""

    __slots__ = ("_count", "edges", "page_info")

    def __init__(
        self, edges: list[Edge], page_info: PageInfo, count: Callable[[], Awaitable[int]]
    ) -> None:
        self.edges = edges
        self.page_info = page_info
        self._count = count

    @property
    def total_count(self) -> Awaitable[int]:
        """How many nodes match over all pages (the resolver awaits it)."""
        return self._count()


@dataclass(frozen=True, slots=True)
class PageRequest:
    """A connection's arguments, checked: how many rows, which way, between which cursors."""

    size: int
    #: True for ``last``: the page ends at ``before`` (or the end) and reaches back
    backward: bool = False
    after: Position | None = None
    before: Position | None = None


def encode_cursor(at: datetime, row_id: uuid.UUID) -> str:
    """The opaque cursor of a row."""
    raw = f"{at.isoformat()}|{row_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, field: str = "after") -> tuple[datetime, uuid.UUID]:
    """The position a cursor names, in UTC, or BAD_USER_INPUT.

    Cursors are only ever issued with a UTC timestamp: one without a time zone, or one that
    leaves the range of a timestamp once moved to UTC (year 9999 at -14:00, year 1 at +14:00),
    was crafted, and would otherwise reach the database.
    """
    refused = BadUserInput(f"{field} is not a cursor this API issued", field=field)
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        at_text, id_text = base64.urlsafe_b64decode(padded.encode()).decode().split("|")
        at, row_id = datetime.fromisoformat(at_text), uuid.UUID(id_text)
        if at.tzinfo is None or at.utcoffset() is None:
            raise refused
        return at.astimezone(UTC), row_id
    except (ValueError, UnicodeError, binascii.Error, OverflowError):
        raise refused from None


def check_page_size(first: int, field: str = "first") -> int:
    """``first`` if it is between 0 and :data:`MAX_PAGE_SIZE`, else BAD_USER_INPUT."""
    if not 0 <= first <= MAX_PAGE_SIZE:
        raise BadUserInput(f"{field} must be between 0 and {MAX_PAGE_SIZE}", field=field)
    return first


def page_request(
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    *,
    default: int = DEFAULT_PAGE_SIZE,
) -> PageRequest:
    """The page a connection field's arguments ask for, or BAD_USER_INPUT.

    ``first`` and ``last`` together are refused (the spec calls them "strongly discouraged");
    neither gives the first ``default`` items. A cursor that is given must be one this API
    issued (an empty string is not).
    """
    if first is not None and last is not None:
        raise BadUserInput("Pass first or last, not both", field="last")
    if last is not None:
        size, backward = check_page_size(last, "last"), True
    else:
        size, backward = check_page_size(default if first is None else first, "first"), False
    # an empty string names no position, as before cursors were two-way: the end of the list
    return PageRequest(
        size,
        backward,
        decode_cursor(after, field="after") if after else None,
        decode_cursor(before, field="before") if before else None,
    )


def _beyond(stamp: str, position: Position, later: bool, inclusive: bool = False) -> Q:
    """Rows after ``position`` in (stamp, id) order, or before it when not ``later``."""
    at, row_id = position
    op = "gt" if later else "lt"
    id_op = f"{op}e" if inclusive else op
    # (stamp op at) OR (stamp = at AND id id_op row_id), written with a bound on the stamp
    # alone first: an index on (stamp, id) is then read from the cursor on, not from its start
    from_cursor: dict[str, Any] = {f"{stamp}__{op}e": at}
    strictly: dict[str, Any] = {f"{stamp}__{op}": at}
    level: dict[str, Any] = {f"id__{id_op}": row_id}
    return Q(**from_cursor) & (Q(**strictly) | Q(**level))


def _position(row: Any, stamp: str) -> Position:
    return getattr(row, stamp), row.id


@dataclass(frozen=True, slots=True)
class PagePlan:
    """How to fetch a page: the rows within its cursors, in the direction of travel, at most
    ``limit`` of them (0: fetch nothing). What :func:`connect` then makes a page of."""

    bounds: tuple[Q, ...]
    #: True when the rows are read in ascending (``stamp``, id) order
    ascending: bool
    limit: int


def plan_page(request: PageRequest, stamp: str, *, descending: bool = False) -> PagePlan:
    """The rows to fetch for ``request`` in (``stamp``, id) order (newest first when
    ``descending``): those between its cursors, one more than asked to know whether more lie
    beyond the page, and the near cursor's own row, inclusive."""
    forward = not request.backward
    # in storage order, `after` means greater unless the connection is newest first; the
    # cursor the page starts from (after going forward, before going back) is inclusive
    after_is_later = not descending
    bounds = []
    if request.after is not None:
        bounds.append(_beyond(stamp, request.after, after_is_later, inclusive=forward))
    if request.before is not None:
        bounds.append(_beyond(stamp, request.before, not after_is_later, inclusive=not forward))
    near = request.after if forward else request.before
    limit = request.size + 1 + (near is not None) if request.size else 0
    return PagePlan(tuple(bounds), ascending=forward == after_is_later, limit=limit)


def connect(
    rows: list[Any], request: PageRequest, stamp: str, count: Callable[[], Awaitable[int]]
) -> tuple[Connection, list[Any]]:
    """The page of ``rows`` fetched as :func:`plan_page` planned, and the rows on it."""
    forward = not request.backward
    near = request.after if forward else request.before
    # the near cursor's own row, when it still matches, comes first
    beyond_near = near is not None and bool(rows) and _position(rows[0], stamp) == near
    if beyond_near:
        rows = rows[1:]
    beyond_far = len(rows) > request.size
    rows = rows[: request.size]
    if not forward:
        rows.reverse()
    edges = [Edge(row, stamp) for row in rows]
    has_next, has_previous = (beyond_far, beyond_near) if forward else (beyond_near, beyond_far)
    info = PageInfo(
        has_next_page=has_next,
        has_previous_page=has_previous,
        start_cursor=edges[0].cursor if edges else None,
        end_cursor=edges[-1].cursor if edges else None,
    )
    return Connection(edges, info, count), rows


async def fetch_page(
    query: Any,
    request: PageRequest,
    stamp: str,
    count: Callable[[], Awaitable[int]],
    *,
    descending: bool = False,
    read: Callable[[Any], Awaitable[list[Any]]] = models_of,
) -> tuple[Connection, list[Any]]:
    """One page of ``query`` in (``stamp``, id) order (newest first when ``descending``),
    as a connection and its rows; one statement, none for a page of size 0. ``read`` runs
    the page's query set (:func:`~staffgraph.db_reads.models_of` unless told otherwise)."""
    plan = plan_page(request, stamp, descending=descending)
    rows: list[Any] = []
    if plan.limit:
        order = (stamp, "id") if plan.ascending else (f"-{stamp}", "-id")
        rows = await read(query.filter(*plan.bounds).order_by(*order).limit(plan.limit))
    return connect(rows, request, stamp, count)
