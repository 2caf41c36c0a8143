"""Fixtures and a browser stand-in for the OAuth tests.

The providers run for the whole session on loopback; each test gets a fresh staffgraph app
configured for them through the real ``STAFFGRAPH_OAUTH_<NAME>_*`` variables. The "browser"
is two clients sharing one journey: the app in process (with its cookie jar) and a plain HTTP
client for the provider's authorize endpoint.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from staffgraph.app import create_app
from tests.conftest import test_settings
from tests.oidc_provider.runner import serving
from tests.oidc_provider.server import FakeProvider

PUBLIC_URL = "http://testserver"
FRONTEND = "https://app.example.com/signed-in"
ALLOWLIST = ["https://app.example.com/signed-in", "http://localhost:5173/"]
OIDC_CLIENT = ("staffgraph-test", "oidc-client-secret")
GITHUB_CLIENT = ("staffgraph-gh", "github-client-secret")

EXCHANGE = """
mutation Exchange($code: String!) {
  exchangeOAuthCode(code: $code) {
    accessToken refreshToken tokenType expiresIn user { id email }
  }
}
"""


@pytest.fixture(scope="session")
def oidc_provider() -> Iterator[FakeProvider]:
    """The OpenID provider, up for the whole test session."""
    provider = FakeProvider("oidc")
    with serving(provider.app) as url:
        provider.issuer = url
        provider.register_client(*OIDC_CLIENT, f"{PUBLIC_URL}/auth/oauth/corp/callback")
        yield provider


@pytest.fixture(scope="session")
def github_provider() -> Iterator[FakeProvider]:
    """The GitHub look-alike (GitHub Enterprise paths), up for the whole test session."""
    provider = FakeProvider("github")
    with serving(provider.app) as url:
        provider.issuer = url
        provider.register_client(*GITHUB_CLIENT, f"{PUBLIC_URL}/auth/oauth/gh/callback")
        yield provider


@pytest.fixture
def provider_env(
    oidc_provider: FakeProvider, github_provider: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """``corp`` (OpenID) and ``gh`` (GitHub) configured in the environment; knobs reset."""
    for provider in (oidc_provider, github_provider):
        provider.reset()
    variables = {
        "CORP_KIND": "oidc",
        "CORP_ISSUER": oidc_provider.issuer,
        "CORP_CLIENT_ID": OIDC_CLIENT[0],
        "CORP_CLIENT_SECRET": OIDC_CLIENT[1],
        "CORP_SCOPES": "openid email profile",
        "GH_KIND": "github",
        "GH_ISSUER": github_provider.issuer,
        "GH_CLIENT_ID": GITHUB_CLIENT[0],
        "GH_CLIENT_SECRET": GITHUB_CLIENT[1],
        "GH_SCOPES": "read:user user:email",
    }
    for name, value in variables.items():
        monkeypatch.setenv(f"STAFFGRAPH_OAUTH_{name}", value)
    yield
    for provider in (oidc_provider, github_provider):
        provider.reset()


class Browser:
    """One user agent going through sign-ins against one app instance."""

    def __init__(self, app: Any) -> None:
        self.app = app
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        self.client = httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL)
        self.web = httpx.AsyncClient(timeout=10)

    async def close(self) -> None:
        """Close both clients."""
        await self.client.aclose()
        await self.web.aclose()

    async def authorize(
        self, provider: str = "corp", redirect_to: str = FRONTEND
    ) -> httpx.Response:
        """``GET /auth/oauth/{provider}/authorize``."""
        return await self.client.get(
            f"/auth/oauth/{provider}/authorize", params={"redirect_to": redirect_to}
        )

    async def at_provider(self, authorize_response: httpx.Response) -> str:
        """Follow the app's redirect to the provider; return where the provider sends us back."""
        assert authorize_response.status_code == 302, authorize_response.text
        response = await self.web.get(authorize_response.headers["location"])
        assert response.status_code == 302, response.text
        location = response.headers["location"]
        assert location.startswith(PUBLIC_URL + "/auth/oauth/"), location
        return location

    async def callback(self, location: str) -> httpx.Response:
        """Deliver the provider's redirect to the app."""
        return await self.client.get(location.removeprefix(PUBLIC_URL))

    async def sign_in(self, provider: str = "corp", redirect_to: str = FRONTEND) -> httpx.Response:
        """The whole browser journey up to the app's final redirect."""
        location = await self.at_provider(await self.authorize(provider, redirect_to))
        return await self.callback(location)

    async def exchange(self, code: str) -> dict[str, Any]:
        """``exchangeOAuthCode`` over HTTP."""
        response = await self.client.post(
            "/graphql", json={"query": EXCHANGE, "variables": {"code": code}}
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


class Harness:
    """Builds apps with OAuth settings on this test's database, and browsers for them."""

    def __init__(self, database_url: str, redis_url: str | None) -> None:
        self.database_url = database_url
        self.redis_url = redis_url
        self._apps: list[Any] = []
        self._browsers: list[Browser] = []

    async def app(self, **overrides: Any) -> Any:
        """A started app: ``corp`` and ``gh`` configured, linking by email on, provisioning off."""
        values: dict[str, Any] = {
            "database_url": self.database_url,
            "redis_url": self.redis_url,
            "public_url": PUBLIC_URL,
            "oauth_providers": ["corp", "gh"],
            "oauth_redirect_allowlist": ALLOWLIST,
            "oauth_link_by_email": True,
            "oauth_auto_provision": False,
        }
        values.update(overrides)
        app = create_app(test_settings(**values), manage_orm=False)
        await app.state.services.start()
        self._apps.append(app)
        return app

    async def browser(self, app: Any = None, **overrides: Any) -> Browser:
        """A browser for ``app`` (a new app with ``overrides`` when not given)."""
        browser = Browser(app if app is not None else await self.app(**overrides))
        self._browsers.append(browser)
        return browser

    async def close(self) -> None:
        """Close every browser and stop every app."""
        for browser in self._browsers:
            await browser.close()
        for app in self._apps:
            await app.state.services.stop()


@pytest.fixture
async def oauth(
    db: Any, database_url: str, redis_url: str | None, provider_env: None
) -> AsyncIterator[Harness]:
    """The harness of one test."""
    harness = Harness(database_url, redis_url)
    yield harness
    await harness.close()


def query_of(url: str) -> dict[str, str]:
    """A URL's query parameters (each expected once)."""
    parsed = parse_qs(urlsplit(url).query, keep_blank_values=True)
    assert all(len(v) == 1 for v in parsed.values()), url
    return {k: v[0] for k, v in parsed.items()}


def redirect_target(response: httpx.Response) -> tuple[str, dict[str, str]]:
    """(URL without query, query parameters) of a 302."""
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    parts = urlsplit(location)
    return f"{parts.scheme}://{parts.netloc}{parts.path}", query_of(location)
