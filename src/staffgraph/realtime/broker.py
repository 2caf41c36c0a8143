"""Fan-out of events to subscribers: in process memory, and through Redis pub/sub to every
instance when ``REDIS_URL`` is set.

Publishing never waits for a subscriber: each has a bounded queue, and one that falls behind by
more than :data:`MAX_PENDING` events is cut off (its stream ends with an error) instead of
slowing the publisher or anyone else. An instance delivers its own events locally at once and
sends them to Redis for the others; while Redis is down it keeps delivering its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections import deque
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError

from staffgraph.background import stop_tasks
from staffgraph.realtime.events import Event, event_from_json

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger("staffgraph.realtime")

#: events a subscriber may have waiting before it is cut off
MAX_PENDING = 256
#: channel names are global to a Redis server, so the database number is part of ours
CHANNEL = "staffgraph:{db}:events"
RETRY_SECONDS = 0.5


class Ended:
    """Why a subscriber's stream stops: it fell behind, or its connection's session ended."""

    __slots__ = ("auth_reason", "session_reason")

    def __init__(self, session_reason: str | None = None, auth_reason: str | None = None) -> None:
        self.session_reason = session_reason
        self.auth_reason = auth_reason

    @property
    def overflowed(self) -> bool:
        """True when the subscriber fell behind (not a session end)."""
        return self.auth_reason is None


class Subscriber:
    """One subscription's queue of events."""

    __slots__ = ("_broker", "_items", "_ready", "ended", "topic")

    def __init__(self, broker: Broker, topic: str) -> None:
        self._broker = broker
        self.topic = topic
        self._items: deque[Event] = deque()
        self._ready = asyncio.Event()
        self.ended: Ended | None = None

    def offer(self, event: Event) -> None:
        """Queue ``event``; past :data:`MAX_PENDING` waiting, the subscriber is cut off."""
        if self.ended is not None:
            return
        if len(self._items) >= MAX_PENDING:
            self._items.clear()
            self.ended = Ended()
        else:
            self._items.append(event)
        self._ready.set()

    def end(self, ended: Ended) -> None:
        """Stop the stream at its next wait (the session ended)."""
        if self.ended is None or self.ended.overflowed:
            self.ended = ended
        self._ready.set()

    async def next(self) -> Event | Ended:
        """The next event, or why the stream ends."""
        while not self._items and self.ended is None:
            self._ready.clear()
            await self._ready.wait()
        if self.ended is not None:
            return self.ended
        return self._items.popleft()

    def close(self) -> None:
        """Stop receiving events."""
        self._broker._subscribers.get(self.topic, set()).discard(self)


class Broker:
    """Delivers each published event to every subscriber of its topic, on every instance."""

    def __init__(self, redis: Redis | None = None) -> None:
        self._redis = redis
        db = redis.connection_pool.connection_kwargs.get("db", 0) if redis is not None else 0
        self.channel = CHANNEL.format(db=db)
        self.instance = uuid.uuid4().hex
        self._subscribers: dict[str, set[Subscriber]] = {}
        self._listener: asyncio.Task[None] | None = None
        #: set by stop(): the listener ends even if a cancellation was lost on its way
        self._stopping = False
        self._sending: set[asyncio.Task[None]] = set()
        self.shared = redis is None  # whether Redis fan-out works right now (trivially alone)

    def subscribe(self, topic: str) -> Subscriber:
        """A new subscriber to ``topic``."""
        subscriber = Subscriber(self, topic)
        self._subscribers.setdefault(topic, set()).add(subscriber)
        return subscriber

    def subscriber_count(self) -> int:
        """How many subscribers this instance has."""
        return sum(len(s) for s in self._subscribers.values())

    def publish(self, event: Event) -> None:
        """Deliver ``event`` here at once and send it to the other instances (never waits)."""
        self._deliver(event)
        if self._redis is not None:
            task = asyncio.get_running_loop().create_task(self._send(event))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    def _deliver(self, event: Event) -> None:
        for subscriber in list(self._subscribers.get(event.topic, ())):
            subscriber.offer(event)

    async def _send(self, event: Event) -> None:
        assert self._redis is not None
        message = json.dumps({"from": self.instance, **event.to_json()})
        try:
            await self._redis.publish(self.channel, message)
        except (RedisError, OSError):
            log.warning("could not share an event through Redis; delivered on this instance only")

    async def start(self) -> None:
        """Listen to the other instances' events (with Redis)."""
        if self._redis is not None:
            self._stopping = False
            self._listener = asyncio.create_task(self._listen(), name="event-listener")

    async def stop(self) -> None:
        """Stop listening; events still being sent are given a moment."""
        if self._listener is not None:
            self._stopping = True
            await stop_tasks([self._listener])
            self._listener = None
        if self._sending:
            await asyncio.wait(self._sending, timeout=1.0)

    async def _listen(self) -> None:
        assert self._redis is not None
        while not self._stopping:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self.shared = True
                while not self._stopping:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None and message.get("type") == "message":
                        self._receive(message.get("data"))
            except (RedisError, OSError):
                if self.shared:
                    log.warning("event channel lost: delivering this instance's events only")
                self.shared = False
                await asyncio.sleep(RETRY_SECONDS)
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()

    def _receive(self, data: Any) -> None:
        try:
            decoded = json.loads(data)
        except (TypeError, ValueError):
            return
        if not isinstance(decoded, dict) or decoded.get("from") == self.instance:
            return  # delivered here already when it was published
        event = event_from_json(decoded)
        if event is not None:
            self._deliver(event)
