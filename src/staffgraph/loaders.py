"""Per-request DataLoaders: one query per relation per request, whatever the page size."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, TypeVar

from strawberry.dataloader import AbstractCache, DataLoader

from staffgraph.db_reads import rows_by
from staffgraph.models import Department, Review, Role, Session, User, UserRole
from staffgraph.resolvers.members import MembersCount, MembersPage, load_counts, load_pages

K = TypeVar("K")
T = TypeVar("T")


async def load_alone(loader: DataLoader[K, T], key: K) -> T:
    """``await loader.load(key)`` for a key a request asks for on its own (the viewer's row for
    ``me``): the loader's function called for it at once, in this task, with its answer (or
    its failure) in the loader's cache as if the loader had loaded it, so that every other
    field asking for the key waits for this one statement.

    ``load`` puts the key in a batch that a task of its own runs on the event loop's next turn,
    which is worth it for keys that arrive together (a page's managers), not for one: for
    ``me`` on PostgreSQL the batch's task and its turn cost about 5% of the request.
    """
    known = loader.cache_map.get(key)
    if known is not None and not known.cancelled():
        return await known
    future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
    loader.cache_map.set(key, future)
    try:
        values = list(await loader.load_fn([key]))
        if len(values) != 1:
            raise ValueError(f"the loader answered {len(values)} values for one key")
        [value] = values
        if isinstance(value, BaseException):
            raise value
    except Exception as exc:  # as strawberry's batch: every wait on the key fails with it
        future.set_exception(exc)
        future.exception()  # retrieved here: asyncio would log one nobody else awaited
        raise
    except BaseException:  # cancelled: nothing is remembered for the key
        future.cancel()
        loader.cache_map.delete(key)
        raise
    future.set_result(value)
    return value


async def _users_by_id(ids: list[uuid.UUID]) -> list[User | None]:
    found = {u.id: u for u in await rows_by(User, "id", ids)}
    return [found.get(i) for i in ids]


async def _departments_by_id(ids: list[uuid.UUID]) -> list[Department | None]:
    found = {d.id: d for d in await rows_by(Department, "id", ids)}
    return [found.get(i) for i in ids]


async def _reviews_by_id(ids: list[uuid.UUID]) -> list[Review | None]:
    found = {r.id: r for r in await rows_by(Review, "id", ids)}
    return [found.get(i) for i in ids]


async def _roles_by_user(ids: list[uuid.UUID]) -> list[list[Role]]:
    grouped: dict[uuid.UUID, list[Role]] = defaultdict(list)
    for row in await rows_by(UserRole, "user_id", ids, order_by=["role"]):
        grouped[row.user_id].append(Role(row.role))
    return [grouped[i] for i in ids]


async def _reports_by_manager(ids: list[uuid.UUID]) -> list[list[User]]:
    grouped: dict[uuid.UUID, list[User]] = defaultdict(list)
    # deactivated ones too: whether the viewer may see them is decided where they are read
    for user in await rows_by(User, "manager_id", ids):
        if user.manager_id is not None:
            grouped[user.manager_id].append(user)
    return [grouped[i] for i in ids]


async def _reviews_by_subject(ids: list[uuid.UUID]) -> list[list[Review]]:
    grouped: dict[uuid.UUID, list[Review]] = defaultdict(list)
    for review in await rows_by(Review, "subject_id", ids):
        grouped[review.subject_id].append(review)
    return [grouped[i] for i in ids]


async def _sessions_by_user(ids: list[uuid.UUID]) -> list[list[Session]]:
    grouped: dict[uuid.UUID, list[Session]] = defaultdict(list)
    open_sessions = Session.filter(
        user_id__in=ids, revoked_at__isnull=True, expires_at__gt=datetime.now(UTC)
    )
    for session in await open_sessions:
        grouped[session.user_id].append(session)
    return [grouped[i] for i in ids]


class PrimedRows(AbstractCache[uuid.UUID, User | None]):
    """The user loader's cache: strawberry's, with the rows of a page primed as they are.

    ``DataLoader.prime`` makes a finished future for each row at once (about 3 us each, a
    tenth of a 50-user page's resolution); most of a page's rows are never asked for again.
    Here a primed row waits as it is and gets its future when first asked for.
    """

    def __init__(self) -> None:
        self.futures: dict[uuid.UUID, asyncio.Future[User | None]] = {}
        self.rows: dict[uuid.UUID, User] = {}

    def get(self, key: uuid.UUID) -> asyncio.Future[User | None] | None:
        """The key's future (made now for a primed row)."""
        future = self.futures.get(key)
        if future is None:
            row = self.rows.pop(key, None)
            if row is not None:
                future = self.futures[key] = asyncio.get_running_loop().create_future()
                future.set_result(row)
        return future

    def set(self, key: uuid.UUID, value: asyncio.Future[User | None]) -> None:
        """Remember the key's future (in place of a primed row)."""
        self.rows.pop(key, None)
        self.futures[key] = value

    def delete(self, key: uuid.UUID) -> None:
        """Forget the key."""
        self.futures.pop(key, None)
        self.rows.pop(key, None)

    def clear(self) -> None:
        """Forget everything."""
        self.futures.clear()
        self.rows.clear()

    def prime(self, users: Iterable[User]) -> None:
        """What ``DataLoader.prime`` does for each user, keeping what is known already."""
        futures, rows = self.futures, self.rows
        for user in users:
            key = user.id
            if key not in futures:
                rows.setdefault(key, user)


class Loaders:
    """The loaders of one request; never shared between requests (they cache).

    Each is made when first used: most requests use one or two of them, and a DataLoader costs
    about as much to make as a cheap field costs to resolve.
    """

    @cached_property
    def user(self) -> DataLoader[uuid.UUID, User | None]:
        """Users by id."""
        return DataLoader(load_fn=_users_by_id, cache_map=PrimedRows())

    @cached_property
    def department(self) -> DataLoader[uuid.UUID, Department | None]:
        """Departments by id."""
        return DataLoader(load_fn=_departments_by_id)

    @cached_property
    def review(self) -> DataLoader[uuid.UUID, Review | None]:
        """Reviews by id."""
        return DataLoader(load_fn=_reviews_by_id)

    @cached_property
    def roles(self) -> DataLoader[uuid.UUID, list[Role]]:
        """A user's roles, by user id."""
        return DataLoader(load_fn=_roles_by_user)

    @cached_property
    def reports(self) -> DataLoader[uuid.UUID, list[User]]:
        """A manager's direct reports, deactivated ones included, by manager id."""
        return DataLoader(load_fn=_reports_by_manager)

    @cached_property
    def reviews(self) -> DataLoader[uuid.UUID, list[Review]]:
        """The reviews of a subject, by user id."""
        return DataLoader(load_fn=_reviews_by_subject)

    @cached_property
    def sessions(self) -> DataLoader[uuid.UUID, list[Session]]:
        """A user's open sessions, by user id."""
        return DataLoader(load_fn=_sessions_by_user)

    @cached_property
    def member_pages(self) -> DataLoader[MembersPage, list[User]]:
        """Pages of department members."""
        return DataLoader(load_fn=load_pages)

    @cached_property
    def member_counts(self) -> DataLoader[MembersCount, int]:
        """Member counts of departments."""
        return DataLoader(load_fn=load_counts)

    def _made(self, *names: str) -> list[DataLoader[Any, Any]]:
        """The loaders of ``names`` that this request has used (nothing to forget in others)."""
        return [self.__dict__[name] for name in names if name in self.__dict__]

    def prime_users(self, users: Iterable[User]) -> None:
        """Seed the user loader with rows already fetched (a page, a mutation result)."""
        loader = self.user
        batch = loader.batch
        if batch is not None and not batch.dispatched and batch.tasks:
            # keys waiting in a batch not yet sent get these rows: strawberry's own prime
            for user in users:
                loader.prime(user.id, user)
            return
        cache = loader.cache_map
        assert isinstance(cache, PrimedRows)
        cache.prime(users)

    def forget_user(self, user_id: uuid.UUID) -> None:
        """Drop what is cached about one user after a write that changed it."""
        for loader in self._made("user", "roles", "reports", "reviews", "sessions"):
            with contextlib.suppress(KeyError):  # strawberry raises for a key never loaded
                loader.clear(user_id)
        self._forget_members()

    def forget_people(self) -> None:
        """Drop cached users, roles and reports after a write that changed them."""
        for loader in self._made("user", "roles", "reports"):
            loader.clear_all()
        self._forget_members()

    def _forget_members(self) -> None:
        # pages and counts are keyed by department: any user's change may move them
        for loader in self._made("member_pages", "member_counts"):
            loader.clear_all()
