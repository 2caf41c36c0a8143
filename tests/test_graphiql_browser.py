"""GraphiQL in a real browser: Debian's Chromium, headless, against a real ``staffgraph serve``.

The server runs in production with ``GRAPHIQL=true`` (so introspection needs a signed-in
user), the test OpenID provider configured as ``corp`` and no redirect allow-list (GraphiQL's
own URL is allowed by itself). One browser and one server serve the whole module.

Set ``STAFFGRAPH_SCREENSHOT_DIR`` to keep the signed-in screenshot (the README's is
``docs/graphiql.png``).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt
import pytest

from tests.browser import WatchedPage, chromium, skip_without_chromium
from tests.conftest import JWT_SECRET
from tests.live_server import LiveServer, live_server, staffgraph_command
from tests.oidc_provider import Account, FakeProvider, serving

skip_without_chromium()
from playwright.sync_api import TimeoutError as PlaywrightTimeout  # noqa: E402

pytestmark = pytest.mark.slow

OIDC_CLIENT = ("staffgraph-graphiql", "graphiql-client-secret")
EDITOR = ".graphiql-query-editor .CodeMirror"
RESULT = ".graphiql-response .CodeMirror"
LOOPBACK = {"127.0.0.1", "localhost", "[::1]", "::1"}


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeProvider]:
    """The test OpenID provider, on loopback."""
    provider = FakeProvider("oidc")
    with serving(provider.app) as url:
        provider.issuer = url
        yield provider


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The server's working directory."""
    return tmp_path_factory.mktemp("graphiql")


@pytest.fixture(scope="module")
def server(workdir: Path, provider: FakeProvider) -> Iterator[LiveServer]:
    """``staffgraph serve`` in production with GraphiQL on and ``corp`` configured."""
    with live_server(
        workdir,
        STAFFGRAPH_GRAPHIQL="true",
        STAFFGRAPH_OAUTH_PROVIDERS="corp",
        STAFFGRAPH_OAUTH_CORP_ISSUER=provider.issuer,
        STAFFGRAPH_OAUTH_CORP_CLIENT_ID=OIDC_CLIENT[0],
        STAFFGRAPH_OAUTH_CORP_CLIENT_SECRET=OIDC_CLIENT[1],
    ) as server:
        provider.register_client(*OIDC_CLIENT, f"{server.base_url}/auth/oauth/corp/callback")
        yield server


@pytest.fixture(scope="module")
def people(server: LiveServer, workdir: Path) -> dict[str, str]:
    """``staffgraph seed`` against the server's database: email -> password."""
    done = subprocess.run(
        [staffgraph_command(), "seed"],
        env={**server.env, "STAFFGRAPH_PUBLIC_URL": server.base_url},
        cwd=workdir,
        capture_output=True,
        text=True,
        check=True,
    )
    found = {}
    for line in done.stdout.splitlines():
        words = line.split()
        if words and words[0].endswith("@example.com"):
            found[words[0]] = words[1]
    assert "katherine@example.com" in found, done.stdout
    return found


@pytest.fixture(scope="module")
def browser(server: LiveServer) -> Iterator[Any]:
    """One headless Chromium for the module, started after the server and closed before it:
    Playwright's sync API keeps an event loop running on this thread, where the server's
    database set-up and clean-up (``asyncio.run``) could not run."""
    with chromium() as context:
        yield context


@pytest.fixture
def tab(browser: Any) -> Iterator[WatchedPage]:
    """A fresh tab (its own sessionStorage), closed after the test."""
    watched = WatchedPage.open(browser)
    yield watched
    watched.page.close()


def open_graphiql(tab: WatchedPage, server: LiveServer) -> None:
    """Load GraphiQL and wait until its editor is up."""
    tab.page.goto(f"{server.base_url}/graphql")
    tab.page.wait_for_selector(EDITOR, timeout=20_000)


def sign_in(tab: WatchedPage, email: str, password: str) -> None:
    """Sign in through the panel's form and wait until it shows who is signed in."""
    tab.page.fill("#sg-email", email)
    tab.page.fill("#sg-password", password)
    tab.page.click("#sg-sign-in")
    tab.page.wait_for_selector("#sg-who:not([hidden])", timeout=20_000)


def run_query(tab: WatchedPage, query: str, expect: str) -> dict[str, Any]:
    """Type ``query`` into GraphiQL, run it, and return the result it shows once it holds
    ``expect``."""
    page = tab.page
    page.evaluate(
        "([editor, result, query]) => {"
        " document.querySelector(editor).CodeMirror.setValue(query);"
        " document.querySelector(result).CodeMirror.setValue(''); }",
        [EDITOR, RESULT, query],
    )
    page.click(".graphiql-execute-button")
    read = "(result) => document.querySelector(result).CodeMirror.getValue()"
    try:
        page.wait_for_function(
            "([result, expect]) => document.querySelector(result).CodeMirror.getValue()"
            ".includes(expect)",
            arg=[RESULT, expect],
            timeout=20_000,
        )
    except PlaywrightTimeout:
        raise AssertionError(
            f"no {expect!r} in the result: {page.evaluate(read, RESULT)!r}; "
            f"panel: {page.text_content('#sg-message')!r}"
        ) from None
    shown: dict[str, Any] = json.loads(page.evaluate(read, RESULT))
    return shown


def assert_clean(tab: WatchedPage) -> None:
    """No request left loopback, no console error or CSP violation, nothing in localStorage."""
    foreign = [url for url in tab.requests if urlsplit(url).hostname not in LOOPBACK]
    assert not foreign, foreign
    assert not tab.errors, tab.errors
    assert tab.local_storage() == {}


def no_token_in_local_storage(tab: WatchedPage) -> None:
    """Neither an access nor a refresh token anywhere in localStorage."""
    stored = json.dumps(tab.local_storage())
    assert "eyJ" not in stored  # a JWT's header
    assert "refreshToken" not in stored
    assert "accessToken" not in stored


def stored_session(tab: WatchedPage) -> dict[str, Any]:
    """The panel's session in sessionStorage."""
    session: dict[str, Any] = json.loads(tab.session_storage()["staffgraph:session"])
    return session


def test_page_renders_from_loopback_only_without_errors(
    tab: WatchedPage, server: LiveServer
) -> None:
    open_graphiql(tab, server)
    tab.page.wait_for_selector("button.sg-provider")
    assert tab.page.text_content("button.sg-provider") == "Sign in with corp"
    assert tab.page.is_visible("#sg-login")
    loaded = [urlsplit(url).path for url in tab.requests]
    assert any(path.endswith("/graphiql.min.js") for path in loaded), loaded
    assert all(path.startswith("/graphql") for path in loaded), loaded
    assert_clean(tab)


def test_sign_in_query_denied_field_and_sign_out(
    tab: WatchedPage, server: LiveServer, people: dict[str, str]
) -> None:
    open_graphiql(tab, server)
    sign_in(tab, "katherine@example.com", people["katherine@example.com"])
    assert tab.page.text_content("#sg-name") == "Katherine Johnson"
    assert tab.page.text_content("#sg-roles") == "EMPLOYEE"
    no_token_in_local_storage(tab)
    assert stored_session(tab)["accessToken"].startswith("eyJ")

    shown = run_query(tab, "{ me { displayName salary } }", "salary")
    assert shown == {"data": {"me": {"displayName": "Katherine Johnson", "salary": 120000}}}

    denied = run_query(tab, "{ me { displayName isActive } }", "FORBIDDEN")
    (error,) = denied["errors"]
    assert error["path"] == ["me", "isActive"]
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert error["extensions"]["rule"] == "HR | ADMIN"
    assert "HR | ADMIN" in error["message"]
    assert denied["data"]["me"] == {"displayName": "Katherine Johnson", "isActive": None}

    run_query(tab, "{ me { displayName salary } }", "salary")
    # the docs explorer tells who may read a field
    tab.page.click("button[aria-label='Show Documentation Explorer']")
    tab.page.click(".graphiql-doc-explorer-search-input")
    tab.page.keyboard.type("salary")
    tab.page.click(".graphiql-doc-explorer-search-field >> text=salary")
    tab.page.wait_for_selector(".graphiql-doc-explorer-content >> text=Readable by")
    docs = tab.page.text_content(".graphiql-doc-explorer-content") or ""
    assert "Readable by: self | HR | (MANAGER & management chain)" in docs, docs
    _keep_screenshot(tab)
    no_token_in_local_storage(tab)

    tab.page.click("#sg-sign-out")
    tab.page.wait_for_selector("#sg-login:not([hidden])")
    assert "staffgraph:session" not in tab.session_storage()
    after = run_query(tab, "{ me { displayName salary } }", "null")
    assert after == {"data": {"me": None}}
    assert_clean(tab)


def test_an_expired_token_is_refreshed_and_the_query_retried(
    tab: WatchedPage, server: LiveServer, people: dict[str, str]
) -> None:
    open_graphiql(tab, server)
    sign_in(tab, "dennis@example.com", people["dennis@example.com"])
    session = stored_session(tab)
    # the same session's token, expired an hour ago; the panel still believes it fresh
    claims = jwt.decode(session["accessToken"], options={"verify_signature": False})
    claims.update(iat=claims["iat"] - 7200, exp=claims["iat"] - 3600)
    header = jwt.get_unverified_header(session["accessToken"])
    expired = jwt.encode(claims, JWT_SECRET, algorithm=header["alg"], headers=header)
    session.update(accessToken=expired, expiresAt=session["expiresAt"] + 3_600_000)
    tab.page.evaluate(
        "(s) => window.sessionStorage.setItem('staffgraph:session', s)", json.dumps(session)
    )
    tab.page.reload()
    tab.page.wait_for_selector(EDITOR)

    # a field that needs a user answers UNAUTHENTICATED/token_expired: refreshed, run again
    shown = run_query(tab, "{ users(first: 1) { totalCount } me { displayName } }", "Dennis")
    assert shown["data"]["me"] == {"displayName": "Dennis Ritchie"}
    assert shown["data"]["users"]["totalCount"] >= 6
    assert "errors" not in shown
    refreshed = stored_session(tab)
    assert refreshed["accessToken"] != expired
    assert refreshed["refreshToken"] != session["refreshToken"]
    assert_clean(tab)


def test_tokens_are_refreshed_before_they_expire(
    tab: WatchedPage, server: LiveServer, people: dict[str, str]
) -> None:
    open_graphiql(tab, server)
    sign_in(tab, "grace@example.com", people["grace@example.com"])
    session = stored_session(tab)
    # due for its refresh (within the margin before expiry) when the page loads
    session.update(expiresAt=int(time.time() * 1000) + 1_000)
    tab.page.evaluate(
        "(s) => window.sessionStorage.setItem('staffgraph:session', s)", json.dumps(session)
    )
    tab.page.reload()
    tab.page.wait_for_function(
        "(old) => JSON.parse(window.sessionStorage.getItem('staffgraph:session'))"
        ".refreshToken !== old",
        arg=session["refreshToken"],
        timeout=20_000,
    )
    assert stored_session(tab)["expiresAt"] > session["expiresAt"]
    shown = run_query(tab, "{ me { displayName } }", "Grace")
    assert shown == {"data": {"me": {"displayName": "Grace Hopper"}}}
    assert_clean(tab)


def test_the_provider_button_signs_in(
    tab: WatchedPage, server: LiveServer, people: dict[str, str], provider: FakeProvider
) -> None:
    provider.knobs.account = Account(subject="corp-frances", email="frances@example.com")
    open_graphiql(tab, server)
    tab.page.click("button.sg-provider[data-provider='corp']")
    tab.page.wait_for_selector("#sg-who:not([hidden])", timeout=20_000)
    assert tab.page.text_content("#sg-name") == "Frances Allen"
    assert "HR" in (tab.page.text_content("#sg-roles") or "")
    assert urlsplit(tab.page.url).path == "/graphql"
    assert "code=" not in tab.page.url  # spent, and taken off the address bar
    assert any(url.startswith(provider.issuer) for url in tab.requests)
    shown = run_query(tab, "{ me { email } }", "frances")
    assert shown == {"data": {"me": {"email": "frances@example.com"}}}
    no_token_in_local_storage(tab)
    assert_clean(tab)


def _keep_screenshot(tab: WatchedPage) -> None:
    """Screenshot the signed-in page; copied into ``STAFFGRAPH_SCREENSHOT_DIR`` when set."""
    target = os.environ.get("STAFFGRAPH_SCREENSHOT_DIR")
    image = tab.page.screenshot()
    assert image.startswith(b"\x89PNG")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        (Path(target) / "graphiql.png").write_bytes(image)
