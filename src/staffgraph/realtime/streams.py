"""The subscriptions' event streams: each event is read again for its subscriber, at delivery.

A stream yields the root of one result per event: the user as it is now (read with fresh
loaders, so through the same field rules as a query, and skipped when the subscriber may not
see it), the audit row, the directory event. When the connection's session ends, a
``sessionEnded`` stream yields that event first; every stream then yields the error that
becomes its last result (``UNAUTHENTICATED`` with the reason), and stops.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from staffgraph.errors import SUBSCRIPTION_OVERFLOW, ApiError, Unauthenticated
from staffgraph.models import AuditAction, AuditEvent
from staffgraph.observability import metrics
from staffgraph.realtime.broker import Ended, Subscriber
from staffgraph.realtime.events import (
    AuditEventAdded,
    DirectoryEventKind,
    Event,
    SessionEndReason,
    UserChanged,
)
from staffgraph.resolvers.audit import flush_denials
from staffgraph.resolvers.directory import get_user

if TYPE_CHECKING:
    from staffgraph.context import Context


class SubscriptionOverflow(ApiError):
    """The subscriber fell too far behind; it should subscribe again."""

    code = SUBSCRIPTION_OVERFLOW


@dataclass(frozen=True, slots=True)
class DirectoryChange:
    """The root of a ``directoryChanged`` result."""

    kind: DirectoryEventKind
    user: Any


@dataclass(frozen=True, slots=True)
class SessionEnd:
    """The root of a ``sessionEnded`` result."""

    session_id: uuid.UUID
    reason: SessionEndReason


Resolve = Callable[["Context", Event], Awaitable[Any]]


@contextlib.contextmanager
def _subscribed(ctx: Context, topic: str) -> Iterator[Subscriber]:
    """A subscriber to ``topic`` for one subscription, tied to its connection (it ends with the
    connection's session) and counted as open while it lives."""
    socket = ctx.socket
    subscriber = ctx.services.broker.subscribe(topic)
    if socket is not None:
        socket.join(subscriber)
    metrics.subscription_opened()
    try:
        yield subscriber
    finally:
        metrics.subscription_closed()
        subscriber.close()
        if socket is not None:
            socket.leave(subscriber)


async def _stream(ctx: Context, topic: str, resolve: Resolve) -> AsyncIterator[Any]:
    with _subscribed(ctx, topic) as subscriber:
        while True:
            item = await subscriber.next()
            if isinstance(item, Ended):
                yield _last_result(item)
                return
            ctx.fresh_reads()
            root = await resolve(ctx, item)
            if root is not None:
                yield root
                # ACCESS_DENIED of the last delivery (its guarded fields ran by now)
                if ctx.pending_denials:
                    await flush_denials(ctx)


def _last_result(ended: Ended) -> ApiError:
    if ended.auth_reason is None:
        return SubscriptionOverflow(
            "This subscriber fell too far behind its events and was cut off; subscribe again"
        )
    return Unauthenticated("The session ended", reason=ended.auth_reason)


def user_updated(ctx: Context, user_id: uuid.UUID) -> AsyncIterator[Any]:
    """The user after each change to them, as the subscriber may read it."""

    async def resolve(ctx: Context, event: Event) -> Any:
        if not isinstance(event, UserChanged) or event.user_id != user_id:
            return None
        return await get_user(ctx, user_id)

    return _stream(ctx, UserChanged.topic, resolve)


def directory_changed(ctx: Context) -> AsyncIterator[Any]:
    """Every user created, updated or deactivated that the subscriber may see."""

    async def resolve(ctx: Context, event: Event) -> Any:
        if not isinstance(event, UserChanged):
            return None
        user = await get_user(ctx, event.user_id)
        return DirectoryChange(event.kind, user) if user is not None else None

    return _stream(ctx, UserChanged.topic, resolve)


def audit_event_added(ctx: Context, action: AuditAction | None) -> AsyncIterator[Any]:
    """Every audit event written, or those of one action."""

    async def resolve(ctx: Context, event: Event) -> Any:
        if not isinstance(event, AuditEventAdded) or action not in (None, event.action):
            return None
        return await AuditEvent.get_or_none(id=event.event_id)

    return _stream(ctx, AuditEventAdded.topic, resolve)


async def session_ended(ctx: Context) -> AsyncIterator[Any]:
    """One event when the subscriber's own session ends, then the end of the stream."""
    viewer = ctx.viewer
    if ctx.socket is None or viewer is None:
        return
    with _subscribed(ctx, "sessions") as subscriber:  # nothing is published there
        while True:
            item = await subscriber.next()
            if isinstance(item, Ended):
                if item.session_reason is not None:
                    yield SessionEnd(viewer.session_id, SessionEndReason(item.session_reason))
                yield _last_result(item)
                return
