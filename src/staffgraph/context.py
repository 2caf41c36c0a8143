"""The typed per-request context and the ``Info`` alias resolvers receive."""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

from strawberry.types import Info as StrawberryInfo

from staffgraph.models import Role

if TYPE_CHECKING:
    from staffgraph.loaders import Loaders
    from staffgraph.realtime.sockets import Socket
    from staffgraph.services import Services


@dataclass(frozen=True, slots=True)
class Viewer:
    """The signed-in user behind a verified access token."""

    user_id: uuid.UUID
    session_id: uuid.UUID
    roles: frozenset[Role]
    token_id: str = ""
    #: the access token's ``exp`` (Unix time); a viewer past it is signed out
    expires_at: float = math.inf

    def has_role(self, role: Role) -> bool:
        """Whether the viewer holds ``role``."""
        return role in self.roles


@dataclass(slots=True)
class Context:
    """Everything a resolver may know about the request; built once per request."""

    services: Services
    loaders: Loaders
    viewer: Viewer | None = None
    #: why a presented token was refused (``token_expired``, ``invalid_token``, ``token_revoked``)
    auth_error: str | None = None
    client_ip: str | None = None
    user_agent: str | None = None
    request_id: str = ""
    request: Any = None
    response: Any = None
    #: the graphql-transport-ws ``connection_init`` payload (strawberry fills it in only
    #: when the context has this attribute)
    connection_params: dict[str, Any] | None = None
    #: ids (``UUID.int``) of everyone below the viewer in the management tree, loaded on
    #: first need
    _subordinates: frozenset[int] | None = None
    _subordinates_task: asyncio.Task[frozenset[int]] | None = None
    #: the subtree is needed, and is read by the operation's page of users in the page's own
    #: statement (see :func:`~staffgraph.permissions.prefetch.prefetch_chain`)
    subtree_with_page: bool = False
    #: ACCESS_DENIED events waiting to be written when the operation ends
    pending_denials: list[dict[str, Any]] = field(default_factory=list)
    denials_dropped: int = 0
    operations: int = 0
    #: audit events written by this operation, published once it ends (if they committed)
    outbox: list[Any] = field(default_factory=list)
    #: the WebSocket connection's live state (subscriptions end with its session)
    socket: Socket | None = None
    #: every field name the running query selects (fragments included), set before it
    #: executes: resolvers of lists load what their items will need in one batch
    selected: frozenset[str] = frozenset()

    def begin_operation(self) -> None:
        """Start one operation: fresh per-operation state, and a viewer still signed in.

        An HTTP request runs one operation on a new context. A WebSocket connection keeps one
        context for all its operations, so from the second on, the loaders' caches and the
        management subtree are dropped (they would serve stale rows), and a token revoked or
        expired since the connection opened stops counting, exactly as on its next HTTP request.
        """
        if self.operations:
            self.fresh_reads()
        self.operations += 1
        self.selected = frozenset()
        viewer = self.viewer
        if viewer is None:
            return
        if self.services.revocations.is_revoked(viewer.session_id):
            self.viewer, self.auth_error = None, "token_revoked"
        elif viewer.expires_at <= time.time():
            self.viewer, self.auth_error = None, "token_expired"

    def fresh_reads(self) -> None:
        """Forget what was read so far: the next reads (an operation, a subscription's event)
        see the database as it is now."""
        self.loaders = type(self.loaders)()
        self._subordinates = None
        self._subordinates_task = None
        self.subtree_with_page = False

    @property
    def viewer_id(self) -> uuid.UUID | None:
        """The viewer's user id, or None when anonymous."""
        return self.viewer.user_id if self.viewer else None

    def subordinates_if_loaded(self) -> frozenset[int] | None:
        """The viewer's management subtree when it was loaded already, else None."""
        return self._subordinates

    def know_subordinates(self, ids: frozenset[int]) -> None:
        """The viewer's subtree, read by another statement (a page's): kept unless one was
        loaded already."""
        if self._subordinates is None:
            self._subordinates = ids

    async def subordinates(self) -> frozenset[int]:
        """Ids (``UUID.int``) of every user the viewer manages directly or indirectly (one
        query per request): ask ``user.id.int in ...``."""
        if self._subordinates is not None:
            return self._subordinates
        if self.viewer is None:
            return frozenset()
        if self._subordinates_task is None:
            from staffgraph.resolvers.hierarchy import load_subordinate_ids

            self._subordinates_task = asyncio.ensure_future(
                load_subordinate_ids(self.viewer.user_id)
            )
        self._subordinates = await self._subordinates_task
        return self._subordinates


Info: TypeAlias = StrawberryInfo[Context, None]
