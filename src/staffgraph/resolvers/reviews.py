"""Which reviews a viewer reads: the rule of ``User.reviews``, then what the subject sees."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING

from staffgraph.models import Review
from staffgraph.permissions import allows
from staffgraph.permissions import policy as p
from staffgraph.resolvers import directory

if TYPE_CHECKING:
    from staffgraph.context import Context


def shown(ctx: Context, subject_id: uuid.UUID, reviews: Iterable[Review]) -> list[Review]:
    """The reviews of ``subject_id`` the viewer sees once ``READ_REVIEWS`` allowed them: the
    subject sees only what was shared with them, whatever roles they hold."""
    if subject_id == ctx.viewer_id:
        return [r for r in reviews if r.shared]
    return list(reviews)


async def readable(ctx: Context, review: Review) -> bool:
    """Whether the viewer could read ``review`` through ``User.reviews`` of its subject: the
    subject is visible to them, the field's rule allows, and the review is shown."""
    subject = await directory.get_user(ctx, review.subject_id)
    if subject is None or not await allows(ctx, p.READ_REVIEWS, subject):
        return False
    return bool(shown(ctx, subject.id, [review]))
