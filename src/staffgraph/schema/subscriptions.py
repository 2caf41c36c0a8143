"""The Subscription type: live changes, each event resolved for its subscriber."""

from __future__ import annotations

from collections.abc import AsyncIterator

import strawberry

from staffgraph.context import Info
from staffgraph.permissions import AUTHENTICATED, guarded
from staffgraph.permissions import policy as p
from staffgraph.realtime import streams
from staffgraph.realtime.events import DirectoryEventKind, SessionEndReason
from staffgraph.schema.scalars import parse_id, to_id
from staffgraph.schema.types import AuditAction, AuditEvent, User

strawberry.enum(DirectoryEventKind, description="How a user changed.")
strawberry.enum(SessionEndReason, description="Why a session ended.")


@strawberry.type(description="A user created, updated or deactivated.")
class DirectoryEvent:
    kind: DirectoryEventKind = guarded(p.VIA_PARENT, "How the user changed.")
    user: User = guarded(p.VIA_PARENT, "The user as they are now.")


@strawberry.type(description="The subscriber's own session ended.")
class SessionEndedEvent:
    session_id: strawberry.ID = guarded(
        p.VIA_PARENT, "The session (UUID).", attr="session_id", convert=to_id
    )
    reason: SessionEndReason = guarded(p.VIA_PARENT, "Why it ended.")


async def _user_updated(info: Info, id: strawberry.ID) -> AsyncIterator[User]:
    async for root in streams.user_updated(info.context, parse_id(id, "id")):
        yield root


async def _directory_changed(info: Info) -> AsyncIterator[DirectoryEvent]:
    async for root in streams.directory_changed(info.context):
        yield root


async def _session_ended(info: Info) -> AsyncIterator[SessionEndedEvent]:
    async for root in streams.session_ended(info.context):
        yield root


async def _audit_event_added(
    info: Info, action: AuditAction | None = None
) -> AsyncIterator[AuditEvent]:
    async for root in streams.audit_event_added(info.context, action):
        yield root


@strawberry.type(description="Live changes over WebSocket (graphql-transport-ws).")
class Subscription:
    user_updated: User = guarded(
        AUTHENTICATED,
        "That user after any change to them, with the fields the subscriber may read.",
        resolver=_user_updated,
        subscription=True,
    )
    directory_changed: DirectoryEvent = guarded(
        AUTHENTICATED,
        "Any user created, updated or deactivated that the subscriber may see.",
        resolver=_directory_changed,
        subscription=True,
    )
    session_ended: SessionEndedEvent = guarded(
        AUTHENTICATED,
        "The subscriber's own session ended (then every subscription of the connection ends).",
        resolver=_session_ended,
        subscription=True,
    )
    audit_event_added: AuditEvent = guarded(
        p.READ_AUDIT,
        "Each audit event as it is written, or those of one action.",
        resolver=_audit_event_added,
        subscription=True,
    )
