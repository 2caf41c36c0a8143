"""The event fan-out on its own: bounded queues, and nothing published that did not commit."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from tortoise.transactions import in_transaction

from staffgraph.context import Context
from staffgraph.loaders import Loaders
from staffgraph.models import AuditAction
from staffgraph.realtime.broker import MAX_PENDING, Broker, Ended
from staffgraph.realtime.events import DirectoryEventKind, UserChanged
from staffgraph.realtime.publishing import publish_committed
from staffgraph.resolvers.audit import record
from tests.conftest import make_user


async def test_a_subscriber_that_falls_behind_is_cut_off_alone():
    broker = Broker()
    slow, fast = broker.subscribe("users"), broker.subscribe("users")
    received = []

    async def read_fast() -> None:
        while len(received) < MAX_PENDING + 10:
            item = await fast.next()
            assert not isinstance(item, Ended)
            received.append(item)

    reader = asyncio.create_task(read_fast())
    for _ in range(MAX_PENDING + 10):
        broker.publish(UserChanged(uuid.uuid4(), DirectoryEventKind.UPDATED))
        await asyncio.sleep(0)  # the fast reader keeps up
    await asyncio.wait_for(reader, 5)
    ended = await slow.next()
    assert isinstance(ended, Ended)
    assert ended.overflowed
    assert len(received) == MAX_PENDING + 10


async def test_only_committed_changes_are_published(services, db):
    ctx = Context(services=services, loaders=Loaders())
    subscriber = services.broker.subscribe("users")
    kept, dropped = await make_user("kept@example.com"), await make_user("dropped@example.com")

    async def failing_change() -> None:
        async with in_transaction():
            await record(ctx, AuditAction.USER_UPDATED, target_id=dropped.id)
            raise RuntimeError("the change fails after its audit row was written")

    with pytest.raises(RuntimeError):
        await failing_change()
    async with in_transaction():
        await record(ctx, AuditAction.USER_UPDATED, target_id=kept.id)
    await publish_committed(ctx)
    first = await asyncio.wait_for(subscriber.next(), 1)
    assert first == UserChanged(kept.id, DirectoryEventKind.UPDATED)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(subscriber.next(), 0.2)
