"""Every GraphQL operation spends ``RATE_LIMIT``, not only every HTTP request.

The :class:`~staffgraph.ratelimits.request_limits.RateLimit` middleware counts a request once,
before its body is read. Two ways to run more operations than requests are closed here:

- a batch (``BATCHING=true``) of N operations spends N: the N-1 beyond the first are counted
  once the body is parsed, all or none; over the limit the whole batch gets the 429;
- every ``subscribe`` message on a graphql-transport-ws socket spends one, checked before the
  operation is parsed. Over the limit the operation gets an ``error`` message (the protocol's
  answer for an operation that could not start) holding one ``RATE_LIMITED`` error with
  ``retryAfter``; the socket and its other operations stay open. Clients such as graphql-ws
  hand that error to the operation's sink, while closing the socket (4429) would be fatal to
  every subscription of the connection, and graphql-ws does not reconnect after it.
"""

from __future__ import annotations

from typing import Any

from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import SubscribeMessage

from staffgraph.errors import RateLimited
from staffgraph.ratelimits.request_limits import RequestRateLimiter, limit_key


class BatchRateLimited(Exception):
    """A batch that would spend more than what is left of its client's budget."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


async def count_batch(limiter: RequestRateLimiter, scope_state: dict[str, Any], size: int) -> None:
    """Spend the operations of a batch beyond the first (which its request spent already);
    raises :class:`BatchRateLimited` when they do not fit."""
    key = scope_state.get("rate_limit_key")
    if size <= 1 or key is None:
        return
    retry_after = await limiter.hit(key, cost=size - 1)
    if retry_after is not None:
        raise BatchRateLimited(retry_after)


class RateLimitedTransportWSHandler(BaseGraphQLTransportWSHandler[Any, Any]):
    """graphql-transport-ws with every ``subscribe`` counted against its client's budget."""

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        """Count the operation first; over the limit answer it with an ``error`` message."""
        if self.connection_acknowledged and message.get("id") not in self.operations:
            # (before the acknowledgement, or for a duplicate id, the protocol closes the socket)
            limiter: RequestRateLimiter = self.view.limiter  # type: ignore[attr-defined]
            context = self.context
            key = limit_key(getattr(context, "viewer", None), getattr(context, "client_ip", None))
            retry_after = await limiter.hit(key)
            if retry_after is not None:
                error = RateLimited(retry_after, "Too many requests; try again later")
                await self.send_message(
                    {"id": message["id"], "type": "error", "payload": [error.formatted]}
                )
                return
        await super().handle_subscribe(message)
