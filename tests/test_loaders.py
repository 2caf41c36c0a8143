"""The user loader with primed rows answers as strawberry's DataLoader with ``prime`` would:
a primed row is the answer without a statement, never replaces what was loaded, settles a key
already waiting in the batch, and is forgotten with the key."""

from __future__ import annotations

from staffgraph.loaders import Loaders
from staffgraph.models import User
from tests.conftest import make_user


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
