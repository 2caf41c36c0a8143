"""``node`` and ``nodes``: any object by its id, as Relay refetches it.

Ids stay the rows' UUIDs, which do not say their type: a batch of ids is looked up in users,
then the ids still unknown in departments, then in reviews (at most three ``IN`` queries, in
the order of how often each is asked for, and none for a table once every id is found). An
object is returned only when the viewer could read it another way: a user as ``user(id:)``
shows them (deactivated users to HR and ADMIN only), any department, a review as
``User.reviews`` of its subject shows it. Anything else is null, like an id that does not exist.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING, Any

from staffgraph.models import Department, Review, User
from staffgraph.resolvers import directory, reviews

if TYPE_CHECKING:
    from staffgraph.context import Context

#: the most ids one ``nodes`` call may ask for
MAX_NODES = 100


async def _find(ctx: Context, ids: list[uuid.UUID]) -> dict[uuid.UUID, Any]:
    found: dict[uuid.UUID, Any] = {}
    for loader in (ctx.loaders.user, ctx.loaders.department, ctx.loaders.review):
        unknown = list(dict.fromkeys(i for i in ids if i not in found))
        if not unknown:
            break
        for key, row in zip(unknown, await loader.load_many(unknown), strict=True):
            if row is not None:
                found[key] = row
    return found


async def _readable(ctx: Context, row: Any) -> Any:
    if isinstance(row, User):
        return await directory.get_user(ctx, row.id)
    if isinstance(row, Department):
        return row
    if isinstance(row, Review) and await reviews.readable(ctx, row):
        return row
    return None


async def get_nodes(ctx: Context, ids: list[uuid.UUID]) -> list[Any]:
    """The object of each id, in order; None where absent or not readable by the viewer."""
    found = await _find(ctx, ids)
    # gathered, so that the reviews' subjects load in one batch
    return list(
        await asyncio.gather(*(_readable(ctx, found[i]) if i in found else _none() for i in ids))
    )


async def _none() -> None:
    return None
