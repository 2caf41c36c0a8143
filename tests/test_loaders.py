"""The user loader with primed rows answers as strawberry's DataLoader with ``prime`` would:
a primed row is the answer without a statement, never replaces what was loaded, settles a key
already waiting in the batch, and is forgotten with the key. A key asked for alone
(``load_alone``, the viewer's row for ``me``) is read at once in the asking task, and shares
its one statement and its answer or failure with every other ask of the key."""

from __future__ import annotations

import asyncio
import gc
import uuid

import pytest
from strawberry.dataloader import DataLoader

from staffgraph.loaders import Loaders, load_alone
from staffgraph.models import User
from tests.conftest import gql, make_user, token_for
from tests.test_n_plus_one import statements


async def _stand_in(user: User) -> User:
    """The same row with another name: an answer that cannot have come from the database."""
    copy = (await User.filter(id=user.id))[0]
    copy.display_name = "Primed"
    return copy


async def test_a_primed_row_is_the_answer(db):
    user = await make_user("one@example.com", password=None)
    primed = await _stand_in(user)
    loaders = Loaders()
    loaders.prime_users([primed])
    assert await loaders.user.load(user.id) is primed
    assert await loaders.user.load_many([user.id, user.id]) == [primed, primed]


async def test_priming_keeps_what_was_loaded(db):
    user = await make_user("one@example.com", password=None)
    loaders = Loaders()
    loaded = await loaders.user.load(user.id)
    loaders.prime_users([await _stand_in(user)])
    assert await loaders.user.load(user.id) is loaded
    assert loaded is not None
    assert loaded.display_name != "Primed"


async def test_a_key_waiting_in_the_batch_gets_the_primed_row(db):
    user = await make_user("one@example.com", password=None)
    other = await make_user("two@example.com", password=None)
    primed = await _stand_in(user)
    loaders = Loaders()
    waiting = loaders.user.load(user.id)  # in a batch not yet sent
    also = loaders.user.load(other.id)
    loaders.prime_users([primed])
    assert await waiting is primed
    found = await also
    assert found is not None
    assert found.id == other.id


async def test_a_forgotten_user_is_read_again(db):
    user = await make_user("one@example.com", password=None)
    loaders = Loaders()
    loaders.prime_users([await _stand_in(user)])
    loaders.forget_user(user.id)
    again = await loaders.user.load(user.id)
    assert again is not None
    assert again.display_name != "Primed"
    loaders.prime_users([await _stand_in(user)])
    loaders.forget_people()
    assert (await loaders.user.load(user.id)).display_name != "Primed"  # type: ignore[union-attr]


async def test_a_key_asked_for_alone_is_read_in_the_asking_task(db):
    user = await make_user("one@example.com", password=None)
    tasks: list[asyncio.Task[object] | None] = []

    async def by_id(ids: list[uuid.UUID]) -> list[User | None]:
        tasks.append(asyncio.current_task())
        return [await User.get_or_none(id=i) for i in ids]

    loader: DataLoader[uuid.UUID, User | None] = DataLoader(load_fn=by_id)
    found = await load_alone(loader, user.id)
    assert found is not None
    assert found.id == user.id
    # DataLoader.load runs its batch in a task of its own, on a later turn of the loop
    assert tasks == [asyncio.current_task()]
    assert await loader.load(user.id) is found  # remembered: no second read
    assert await load_alone(loader, user.id) is found
    assert len(tasks) == 1


async def test_asks_of_one_key_together_share_its_one_statement(db, monkeypatch):
    user = await make_user("one@example.com", password=None)
    loaders = Loaders()
    with statements(monkeypatch) as sent:
        alone, batched, again = await asyncio.gather(
            load_alone(loaders.user, user.id),
            loaders.user.load(user.id),
            load_alone(loaders.user, user.id),
        )
    assert alone is batched is again
    assert alone is not None
    assert len(sent) == 1
    # the other order: the key waiting in a batch first
    loaders = Loaders()
    with statements(monkeypatch) as sent:
        waiting = loaders.user.load(user.id)
        alone = await load_alone(loaders.user, user.id)
        assert await waiting is alone
    assert len(sent) == 1


async def test_a_failed_read_fails_every_ask_of_the_key(db, caplog):
    failures = 0

    async def failing(ids: list[uuid.UUID]) -> list[User | None]:
        nonlocal failures
        failures += 1
        raise RuntimeError("the database is gone")

    loader: DataLoader[uuid.UUID, User | None] = DataLoader(load_fn=failing)
    key = uuid.uuid4()
    with pytest.raises(RuntimeError, match="gone"):
        await load_alone(loader, key)
    with pytest.raises(RuntimeError, match="gone"):  # as strawberry's batch remembers it
        await loader.load(key)
    assert failures == 1

    async def wrong(ids: list[uuid.UUID]) -> list[User | None]:
        return []

    with pytest.raises(ValueError, match="0 values for one key"):
        await load_alone(DataLoader(load_fn=wrong), key)
    del loader
    gc.collect()
    await asyncio.sleep(0)
    # the failure was retrieved where it was raised: asyncio has nothing to complain about
    assert "never retrieved" not in caplog.text


async def test_me_asked_twice_with_its_user_reads_one_row(app, client, monkeypatch):
    user = await make_user("one@example.com", password=None, display_name="One")
    token = await token_for(app, user)
    query = """query Q($id: ID!) { a: me { id displayName } b: me { email }
                 user(id: $id) { displayName } }"""
    with statements(monkeypatch) as sent:
        answer = await gql(client, query, {"id": str(user.id)}, token=token)
    assert answer["data"] == {
        "a": {"id": str(user.id), "displayName": "One"},
        "b": {"email": "one@example.com"},
        "user": {"displayName": "One"},
    }
    assert len([s for s in sent if 'FROM "users"' in s]) == 1, sent
