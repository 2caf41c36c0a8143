"""Keyset pagination: opaque cursors over (timestamp, id), stable under inserts."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from staffgraph.errors import BadUserInput

MAX_PAGE_SIZE = 100


@dataclass(slots=True)
class PageInfo:
    """Whether another page follows, and the cursor to ask for it."""

    has_next_page: bool
    end_cursor: str | None


@dataclass(slots=True)
class Edge:
    """One node and its cursor."""

    node: Any
    cursor: str


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


def build_connection(
    rows: list[Any], first: int, stamp: str, count: Callable[[], Awaitable[int]]
) -> Connection:
    """A connection from ``first + 1`` fetched rows (the extra one tells if more follow)."""
    has_next = len(rows) > first
    rows = rows[:first]
    edges = [Edge(node=row, cursor=encode_cursor(getattr(row, stamp), row.id)) for row in rows]
    return Connection(edges, PageInfo(has_next, edges[-1].cursor if edges else None), count)
