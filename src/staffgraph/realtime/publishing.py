"""Publishing what an operation changed, once it has ended: only what committed.

Every change to a user writes an audit event in the same transaction (:func:`record`), so the
audit events an operation wrote say both what changed and, by still being in the database once
the operation is over, that it committed: a rolled-back change publishes nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from staffgraph.models import AuditEvent
from staffgraph.realtime.events import USER_CHANGES, AuditEventAdded, UserChanged

if TYPE_CHECKING:
    from staffgraph.context import Context


async def publish_committed(ctx: Context) -> None:
    """Publish the events of the audit rows this operation wrote that are committed."""
    written, ctx.outbox = ctx.outbox, []
    if not written:
        return
    broker = ctx.services.broker
    committed = set(
        await AuditEvent.filter(id__in=[e.id for e in written]).values_list("id", flat=True)
    )
    for event in written:
        if event.id not in committed:
            continue
        kind = USER_CHANGES.get(event.action)
        if kind is not None and event.target_id is not None:
            broker.publish(UserChanged(event.target_id, kind))
        broker.publish(AuditEventAdded(event.id, event.action))
