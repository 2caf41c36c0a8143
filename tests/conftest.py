"""Shared fixtures: a real database per test (SQLite, or PostgreSQL when
``STAFFGRAPH_TEST_DATABASE_URL`` names one), the ASGI app, users and tokens.

Both use the project's own migrations. PostgreSQL: the database named by the variable is
migrated once per run and every table is truncated before each test. SQLite: a template file is
migrated once per run and each test gets its own copy.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from tortoise.context import TortoiseContext
from tortoise.contrib.test import truncate_all_models

from staffgraph.app import create_app
from staffgraph.configuration import load_configuration
from staffgraph.context import Viewer
from staffgraph.db import apply_migrations, tortoise_config
from staffgraph.models import Role, Session, User, UserRole
from staffgraph.services import Services
from staffgraph.settings import Settings

TEST_DATABASE_URL = os.environ.get("STAFFGRAPH_TEST_DATABASE_URL", "sqlite")
TEST_REDIS_URL = os.environ.get("STAFFGRAPH_TEST_REDIS_URL") or None
ON_POSTGRES = TEST_DATABASE_URL.startswith(("postgres", "asyncpg"))
TEST_PASSWORD = "correct horse battery staple"
JWT_SECRET = "test-secret-" + "x" * 40


def test_settings(**overrides: Any) -> Settings:
    """Settings for tests: no .env, fast bcrypt, the test database."""
    values: dict[str, Any] = {
        "_env_file": None,
        "database_url": TEST_DATABASE_URL,
        "jwt_secret": JWT_SECRET,
        "bcrypt_rounds": 4,
    }
    values.update(overrides)
    return load_configuration(**values)


@pytest.fixture(scope="session", autouse=True)
def _no_development_secret_left_behind() -> Iterator[None]:
    """Tests that let development generate its secret run in temp dirs: the directory the suite
    runs from (the repository) must not gain a ``.staffgraph-secret``."""
    kept = Path.cwd() / ".staffgraph-secret"
    existed = kept.exists()
    yield
    if not existed and kept.exists():
        kept.unlink()
        pytest.fail("a test wrote .staffgraph-secret into the working directory")


@pytest.fixture(scope="session")
def _migrated_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The URL of a database with every migration applied: the template of each test's."""
    if ON_POSTGRES:
        url = TEST_DATABASE_URL
    else:
        url = f"sqlite://{tmp_path_factory.mktemp('db') / 'template.db'}"
    asyncio.run(apply_migrations(url))
    return url


@pytest.fixture
def database_url(_migrated_database: str, tmp_path: Path) -> str:
    """This test's database URL: a copy of the template on SQLite, the shared one on PostgreSQL."""
    if ON_POSTGRES:
        return _migrated_database
    path = tmp_path / "test.db"
    shutil.copyfile(_migrated_database.removeprefix("sqlite://"), path)
    return f"sqlite://{path}"


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[TortoiseContext]:
    """An empty, migrated database for this test, with the ORM up."""
    ctx = TortoiseContext()
    async with ctx:
        await ctx.init(config=tortoise_config(database_url))
        if ON_POSTGRES:
            await truncate_all_models()
        yield ctx


@pytest.fixture
async def redis_url() -> AsyncIterator[str | None]:
    """``STAFFGRAPH_TEST_REDIS_URL``, its database emptied for this test; None when unset."""
    if TEST_REDIS_URL is None:
        yield None
        return
    from redis.asyncio import Redis

    client = Redis.from_url(TEST_REDIS_URL)
    await client.flushdb()
    await client.aclose()
    yield TEST_REDIS_URL


@pytest.fixture
def settings(database_url: str, redis_url: str | None) -> Settings:
    """Test settings (Redis-backed when the test Redis is set); override with ``test_settings``."""
    return test_settings(database_url=database_url, redis_url=redis_url)


@pytest.fixture
async def services(db: TortoiseContext, settings: Settings) -> AsyncIterator[Services]:
    """Started services for code that runs outside HTTP."""
    services = Services.build(settings)
    await services.start()
    yield services
    await services.stop()


@pytest.fixture
async def app(db: TortoiseContext, settings: Settings) -> AsyncIterator[Any]:
    """The ASGI app on the test database, its services started."""
    application = create_app(settings, manage_orm=False)
    await application.state.services.start()
    yield application
    await application.state.services.stop()


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the app in process."""
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def make_user(
    email: str,
    roles: Iterable[Role] = (Role.EMPLOYEE,),
    *,
    password: str | None = TEST_PASSWORD,
    services: Services | None = None,
    **fields: Any,
) -> User:
    """A user row with its roles (password hashed at the test cost)."""
    from staffgraph.auth.passwords import PasswordHasher

    hasher = services.passwords if services else PasswordHasher(4, workers=1)
    fields.setdefault("display_name", email.split("@")[0].title())
    user = await User.create(
        email=email.lower(),
        password_hash=hasher.hash_sync(password) if password else None,
        **fields,
    )
    await UserRole.bulk_create([UserRole(user=user, role=r) for r in set(roles)])
    return user


async def token_for(app_or_services: Any, user: User) -> str:
    """An access token for ``user`` in a fresh session, as login would issue."""
    services: Services = getattr(
        getattr(app_or_services, "state", None), "services", app_or_services
    )
    session = await Session.create(
        user=user, expires_at=datetime.now(UTC) + timedelta(days=1), ip_address="127.0.0.1"
    )
    roles = frozenset(
        Role(r) for r in await UserRole.filter(user=user).values_list("role", flat=True)
    )
    return services.tokens.issue(user.id, session.id, roles)


def viewer_of(user: User, roles: Iterable[Role]) -> Viewer:
    """A Viewer for unit tests of rules."""
    return Viewer(user.id, uuid.uuid4(), frozenset(roles))


async def gql(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    token: str | None = None,
    *,
    expect_status: int = 200,
) -> dict[str, Any]:
    """POST a GraphQL operation and return the decoded body, asserting the HTTP status."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    assert response.status_code == expect_status, response.text
    body: dict[str, Any] = response.json()
    return body


def error_codes(body: dict[str, Any]) -> list[str]:
    """The ``extensions.code`` of every error in a response body."""
    return [e.get("extensions", {}).get("code") for e in body.get("errors") or []]
