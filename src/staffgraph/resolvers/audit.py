"""Writing the audit trail."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from staffgraph.models import AuditAction, AuditEvent

if TYPE_CHECKING:
    from staffgraph.context import Context


async def record(
    ctx: Context | None,
    action: AuditAction,
    *,
    actor_id: uuid.UUID | None = None,
    target_id: uuid.UUID | None = None,
    detail: str | None = None,
) -> AuditEvent:
    """Write one audit event with the request's client address and user agent."""
    if actor_id is None and ctx is not None:
        actor_id = ctx.viewer_id
    event = await AuditEvent.create(
        action=action,
        actor_id=actor_id,
        target_id=target_id,
        ip_address=ctx.client_ip if ctx else None,
        user_agent=(ctx.user_agent or "")[:500] or None if ctx else None,
        detail=detail[:1000] if detail else None,
    )
    if ctx is not None:
        ctx.outbox.append(event)  # published when the operation ends, if it committed
    return event


async def flush_denials(ctx: Context) -> None:
    """Write the ACCESS_DENIED events one operation queued, in one statement."""
    if not ctx.pending_denials:
        return
    denials, ctx.pending_denials = ctx.pending_denials, []
    events = []
    for index, denial in enumerate(denials):
        detail = f"{denial['field']} requires {denial['rule']}"
        if index == len(denials) - 1 and ctx.denials_dropped:
            detail += f" (and {ctx.denials_dropped} more denials in this request)"
        events.append(
            AuditEvent(
                action=AuditAction.ACCESS_DENIED,
                actor_id=ctx.viewer_id,
                target_id=denial["target_id"],
                ip_address=ctx.client_ip,
                user_agent=(ctx.user_agent or "")[:500] or None,
                detail=detail,
            )
        )
    ctx.denials_dropped = 0
    await AuditEvent.bulk_create(events)
    ctx.outbox.extend(events)
