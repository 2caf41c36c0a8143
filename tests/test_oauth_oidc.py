"""Signing in through an OpenID Connect provider, end to end against a real provider on loopback.

authorize -> the provider logs the test account in and consents -> callback -> 302 to the
frontend with a one-time code -> exchangeOAuthCode -> ``me``.
"""

from __future__ import annotations

import hashlib

import httpx
import pytest

from staffgraph.models import AuditAction, AuditEvent, OAuthAccount, OAuthLoginCode, Session, User
from tests.conftest import error_codes, gql, make_user
from tests.oidc_provider import Account, FakeProvider, harness, serving
from tests.oidc_provider.harness import (
    ALLOWLIST,
    FRONTEND,
    OIDC_CLIENT,
    PUBLIC_URL,
    query_of,
    redirect_target,
)

ME = "{ me { id email displayName } }"

# the harness's fixtures, used by name below
oidc_provider = harness.oidc_provider
github_provider = harness.github_provider
provider_env = harness.provider_env
oauth = harness.oauth


async def _no_sign_in_happened() -> None:
    assert await OAuthLoginCode.all().count() == 0
    assert await Session.all().count() == 0


async def test_sign_in_end_to_end(oauth, oidc_provider):
    user = await make_user("ada@example.com")
    oidc_provider.knobs.account = Account("sub-ada", "ada@example.com", name="Ada L.")
    browser = await oauth.browser()

    authorize = await browser.authorize()
    assert authorize.status_code == 302
    assert authorize.headers["cache-control"] == "no-store"
    sent = query_of(authorize.headers["location"])
    assert authorize.headers["location"].startswith(oidc_provider.issuer + "/authorize?")
    assert sent["response_type"] == "code"
    assert sent["client_id"] == OIDC_CLIENT[0]
    assert sent["redirect_uri"] == f"{PUBLIC_URL}/auth/oauth/corp/callback"
    assert sent["scope"].split() == ["openid", "email", "profile"]
    assert sent["code_challenge_method"] == "S256"
    assert len(sent["code_challenge"]) == 43
    assert len(sent["state"]) >= 20
    assert len(sent["nonce"]) >= 20
    cookie = authorize.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "path=/auth/oauth" in cookie
    assert (
        sent["code_challenge"] not in authorize.headers["set-cookie"]
    )  # verifier stays server-side

    location = await browser.at_provider(authorize)
    response = await browser.callback(location)
    target, params = redirect_target(response)
    assert target == FRONTEND
    assert set(params) == {"code"}  # a one-time code, never a token in the URL
    assert response.headers["cache-control"] == "no-store"
    stored = await OAuthLoginCode.get(user_id=user.id)
    assert stored.code_hash == hashlib.sha256(params["code"].encode()).hexdigest()
    assert 55 <= (stored.expires_at - stored.created_at).total_seconds() <= 65

    body = await browser.exchange(params["code"])
    payload = body["data"]["exchangeOAuthCode"]
    assert payload["user"] == {"id": str(user.id), "email": "ada@example.com"}
    assert payload["tokenType"] == "Bearer"
    assert payload["refreshToken"]
    me = await gql(browser.client, ME, token=payload["accessToken"])
    assert me["data"]["me"]["id"] == str(user.id)

    session = await Session.get(user_id=user.id)
    assert session.revoked_at is None
    login = await AuditEvent.get(action=AuditAction.LOGIN_SUCCEEDED)
    assert login.actor_id == user.id
    assert "oauth:corp" in (login.detail or "")
    account = await OAuthAccount.get(provider="corp", subject="sub-ada")
    assert account.user_id == user.id


async def test_pkce_the_provider_refuses_a_wrong_verifier(oauth, oidc_provider):
    await make_user("ada@example.com")
    oidc_provider.knobs.account = Account("sub-ada", "ada@example.com")
    browser = await oauth.browser()
    location = await browser.at_provider(await browser.authorize())
    code = query_of(location)["code"]

    token_url = oidc_provider.issuer + "/token"
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": f"{PUBLIC_URL}/auth/oauth/corp/callback",
    }
    async with httpx.AsyncClient(auth=OIDC_CLIENT) as web:
        wrong = await web.post(token_url, data=form | {"code_verifier": "x" * 64})
        missing = await web.post(token_url, data=form)
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_grant"
    assert missing.status_code == 400

    # the app holds the right verifier: the same code goes through
    response = await browser.callback(location)
    _, params = redirect_target(response)
    assert "code" in params
    assert oidc_provider.token_requests[-1]["code_verifier"]


async def test_a_replayed_callback_fails(oauth, oidc_provider):
    await make_user("ada@example.com")
    oidc_provider.knobs.account = Account("sub-ada", "ada@example.com")
    browser = await oauth.browser()
    location = await browser.at_provider(await browser.authorize())
    cookies_before = dict(browser.client.cookies)
    first = await browser.callback(location)
    assert "code" in redirect_target(first)[1]

    again = await browser.callback(location)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_state"
    # even with the cookie as it was before the first callback: the state is spent server-side
    browser.client.cookies.clear()
    for name, value in cookies_before.items():
        browser.client.cookies.set(name, value)
    replay = await browser.callback(location)
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_state"
    assert await OAuthLoginCode.all().count() == 1


async def test_a_head_request_spends_no_state(oauth, oidc_provider):
    """A link prefetcher's HEAD must not break the sign-in the user is in the middle of."""
    await make_user("ada@example.com")
    oidc_provider.knobs.account = Account("sub-ada", "ada@example.com")
    browser = await oauth.browser()
    location = await browser.at_provider(await browser.authorize())
    for path in (location.removeprefix(PUBLIC_URL), "/auth/oauth/corp/authorize"):
        head = await browser.client.head(path)
        assert head.status_code == 405
        assert head.headers["allow"] == "GET"

    response = await browser.callback(location)
    assert "code" in redirect_target(response)[1]


async def test_a_callback_in_another_browser_fails(oauth, oidc_provider):
    """Login CSRF: a code and state from the attacker's own sign-in, delivered to a victim."""
    await make_user("mallory@example.com")
    oidc_provider.knobs.account = Account("sub-mallory", "mallory@example.com")
    app = await oauth.app()
    attacker = await oauth.browser(app)
    victim = await oauth.browser(app)
    location = await attacker.at_provider(await attacker.authorize())

    response = await victim.callback(location)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_state"
    await _no_sign_in_happened()


async def test_another_browsers_callback_leaves_the_sign_in_to_its_owner(oauth, oidc_provider):
    """Only the browser that started a sign-in may end it: a callback carrying its state from
    another browser fails and leaves the pending sign-in intact."""
    await make_user("ada@example.com")
    oidc_provider.knobs.account = Account("sub-ada", "ada@example.com")
    app = await oauth.app()
    owner = await oauth.browser(app)
    other = await oauth.browser(app)
    location = await owner.at_provider(await owner.authorize())

    stolen = await other.callback(location)
    assert stolen.status_code == 400
    assert stolen.json()["error"] == "invalid_state"
    await _no_sign_in_happened()

    response = await owner.callback(location)
    assert "code" in redirect_target(response)[1]
    assert await OAuthLoginCode.all().count() == 1


async def test_missing_or_unknown_state(oauth, oidc_provider):
    browser = await oauth.browser()
    missing = await browser.client.get("/auth/oauth/corp/callback", params={"code": "abc"})
    unknown = await browser.client.get(
        "/auth/oauth/corp/callback", params={"code": "abc", "state": "made-up"}
    )
    for response in (missing, unknown):
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_state"


async def test_a_state_is_bound_to_its_provider(oauth, oidc_provider):
    await make_user("ada@example.com")
    oidc_provider.knobs.account = Account("sub-ada", "ada@example.com")
    browser = await oauth.browser()
    location = await browser.at_provider(await browser.authorize("corp"))
    response = await browser.callback(location.replace("/auth/oauth/corp/", "/auth/oauth/gh/"))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_state"


async def test_id_token_with_another_nonce_is_refused(oauth, oidc_provider):
    await make_user("ada@example.com")
    oidc_provider.knobs.account = Account("sub-ada", "ada@example.com")
    oidc_provider.knobs.id_token_nonce = "not-the-nonce-we-sent"
    browser = await oauth.browser()
    target, params = redirect_target(await browser.sign_in())
    assert (target, params) == (FRONTEND, {"error": "invalid_id_token"})
    await _no_sign_in_happened()
    assert await OAuthAccount.all().count() == 0


async def test_id_token_signed_by_a_foreign_key_is_refused(oauth, oidc_provider):
    await make_user("ada@example.com")
    oidc_provider.knobs.account = Account("sub-ada", "ada@example.com")
    oidc_provider.knobs.foreign_key = True
    browser = await oauth.browser()
    assert redirect_target(await browser.sign_in())[1] == {"error": "invalid_id_token"}
    await _no_sign_in_happened()


async def test_id_token_with_wrong_issuer_audience_or_expiry_is_refused(oauth, oidc_provider):
    await make_user("ada@example.com")
    browser = await oauth.browser()
    for knob, value in [
        ("id_token_issuer", "https://evil.example.com"),
        ("id_token_audience", "some-other-client"),
        ("id_token_ttl", -600),
    ]:
        oidc_provider.reset()
        oidc_provider.knobs.account = Account("sub-ada", "ada@example.com")
        setattr(oidc_provider.knobs, knob, value)
        params = redirect_target(await browser.sign_in())[1]
        assert params == {"error": "invalid_id_token"}, knob
    await _no_sign_in_happened()


async def test_callback_from_another_issuer_is_refused(oauth, oidc_provider):
    """Mix-up defence (RFC 9207): the callback's iss must be the provider's issuer."""
    await make_user("ada@example.com")
    browser = await oauth.browser()
    for callback_iss in ("https://evil.example.com", ""):  # wrong, then left out
        oidc_provider.reset()
        oidc_provider.knobs.account = Account("sub-ada", "ada@example.com")
        oidc_provider.knobs.callback_iss = callback_iss
        params = redirect_target(await browser.sign_in())[1]
        assert params == {"error": "issuer_mismatch"}
    # the code was never exchanged
    assert oidc_provider.token_requests == []
    await _no_sign_in_happened()


async def test_provider_error_and_bad_code(oauth, oidc_provider):
    browser = await oauth.browser()
    oidc_provider.knobs.account = None  # the user declines at the provider
    assert redirect_target(await browser.sign_in())[1] == {"error": "access_denied"}

    await make_user("ada@example.com")
    oidc_provider.knobs.account = Account("sub-ada", "ada@example.com")
    location = await browser.at_provider(await browser.authorize())
    tampered = location.replace("code=", "code=x")
    assert redirect_target(await browser.callback(tampered))[1] == {
        "error": "token_exchange_failed"
    }
    await _no_sign_in_happened()


async def test_unverified_email_neither_links_nor_provisions(oauth, oidc_provider):
    await make_user("ada@example.com")
    oidc_provider.knobs.account = Account("sub-x", "ada@example.com", email_verified=False)
    for auto_provision in (False, True):
        browser = await oauth.browser(oauth_auto_provision=auto_provision)
        assert redirect_target(await browser.sign_in())[1] == {"error": "email_not_verified"}
    assert await OAuthAccount.all().count() == 0
    assert await User.all().count() == 1
    await _no_sign_in_happened()


async def test_an_existing_link_signs_in_whatever_the_email(oauth, oidc_provider):
    """Users are keyed by (provider, subject): the email at the provider may change."""
    user = await make_user("ada@example.com")
    await OAuthAccount.create(user=user, provider="corp", subject="sub-ada", email=user.email)
    oidc_provider.knobs.account = Account("sub-ada", "ada.new@elsewhere.example", False)
    browser = await oauth.browser()
    code = redirect_target(await browser.sign_in())[1]["code"]
    body = await browser.exchange(code)
    assert body["data"]["exchangeOAuthCode"]["user"]["id"] == str(user.id)
    assert await AuditEvent.filter(action=AuditAction.OAUTH_LINKED).count() == 0


async def test_same_email_at_another_subject_does_not_take_over(oauth, oidc_provider):
    user = await make_user("ada@example.com")
    await OAuthAccount.create(user=user, provider="corp", subject="sub-ada", email=user.email)
    oidc_provider.knobs.account = Account("sub-impostor", "ada@example.com")
    browser = await oauth.browser()
    assert redirect_target(await browser.sign_in())[1] == {"error": "account_not_linked"}
    await _no_sign_in_happened()


async def test_linking_by_verified_email_is_audited(oauth, oidc_provider):
    user = await make_user("Ada@Example.com")
    oidc_provider.knobs.account = Account("sub-ada", "ADA@example.com")
    browser = await oauth.browser()
    assert "code" in redirect_target(await browser.sign_in())[1]
    account = await OAuthAccount.get(provider="corp", subject="sub-ada")
    assert account.user_id == user.id
    linked = await AuditEvent.get(action=AuditAction.OAUTH_LINKED)
    assert linked.actor_id == user.id
    assert linked.target_id == user.id
    assert linked.detail == "corp subject sub-ada"

    # seen through the API by an admin
    admin = await make_user("root@example.com", roles=["ADMIN"])
    from tests.conftest import token_for

    token = await token_for(browser.app, admin)
    body = await gql(
        browser.client,
        "{ auditEvents(action: OAUTH_LINKED) { edges { node { action actor { id } } } } }",
        token=token,
    )
    edges = body["data"]["auditEvents"]["edges"]
    assert edges == [{"node": {"action": "OAUTH_LINKED", "actor": {"id": str(user.id)}}}]


async def test_linking_by_email_can_be_turned_off(oauth, oidc_provider):
    await make_user("ada@example.com")
    oidc_provider.knobs.account = Account("sub-ada", "ada@example.com")
    browser = await oauth.browser(oauth_link_by_email=False)
    assert redirect_target(await browser.sign_in())[1] == {"error": "account_not_linked"}
    assert await OAuthAccount.all().count() == 0
    await _no_sign_in_happened()


async def test_auto_provisioning_off_refuses_unknown_people(oauth, oidc_provider):
    oidc_provider.knobs.account = Account("sub-new", "newcomer@example.com")
    browser = await oauth.browser(oauth_auto_provision=False)
    assert redirect_target(await browser.sign_in())[1] == {"error": "account_not_found"}
    assert await User.all().count() == 0
    await _no_sign_in_happened()


async def test_auto_provisioning_on_creates_an_oauth_only_employee(oauth, oidc_provider):
    oidc_provider.knobs.account = Account("sub-new", "Newcomer@Example.com", name="New Comer")
    browser = await oauth.browser(oauth_auto_provision=True)
    code = redirect_target(await browser.sign_in())[1]["code"]
    body = await browser.exchange(code)
    user = await User.get(email="newcomer@example.com").prefetch_related("roles")
    assert body["data"]["exchangeOAuthCode"]["user"]["id"] == str(user.id)
    assert user.password_hash is None
    assert user.display_name == "New Comer"
    assert [r.role for r in user.roles] == ["EMPLOYEE"]
    actions = sorted(e.action for e in await AuditEvent.filter(target_id=user.id))
    assert actions == ["LOGIN_SUCCEEDED", "OAUTH_LINKED", "USER_CREATED"]
    # an OAuth-only account has no password to sign in with
    login = await gql(
        browser.client,
        'mutation { login(email: "newcomer@example.com", password: "") { accessToken } }',
    )
    assert error_codes(login) == ["UNAUTHENTICATED"]


async def test_deactivated_users_are_refused(oauth, oidc_provider):
    linked = await make_user("gone@example.com", is_active=False)
    await OAuthAccount.create(user=linked, provider="corp", subject="sub-gone", email=linked.email)
    await make_user("left@example.com", is_active=False)
    browser = await oauth.browser(oauth_auto_provision=True)
    for account in (Account("sub-gone", "gone@example.com"), Account("sub-l", "left@example.com")):
        oidc_provider.knobs.account = account
        assert redirect_target(await browser.sign_in())[1] == {"error": "account_disabled"}
    await _no_sign_in_happened()
    failed = await AuditEvent.filter(action=AuditAction.LOGIN_FAILED).count()
    assert failed == 2


async def test_email_from_userinfo_when_the_id_token_has_none(oauth, oidc_provider):
    user = await make_user("ada@example.com")
    oidc_provider.knobs.account = Account("sub-ada", "ada@example.com")
    oidc_provider.knobs.email_only_in_userinfo = True
    browser = await oauth.browser()
    code = redirect_target(await browser.sign_in())[1]["code"]
    body = await browser.exchange(code)
    assert body["data"]["exchangeOAuthCode"]["user"]["id"] == str(user.id)


async def test_redirect_to_outside_the_allow_list_is_refused(oauth, oidc_provider):
    browser = await oauth.browser()
    for redirect_to in (
        "https://app.example.com.evil.com/signed-in",
        "https://app.example.com@evil.com/signed-in",
        "//evil.com/signed-in",
        "https://app.example.com\\@evil.com/signed-in",
        "https://app.example.com:8443/signed-in",
        "http://app.example.com/signed-in",
        "https://app.example.com/signed-in-elsewhere",
        "https://app.example.com/signed-in/../admin",
        "javascript:alert(1)",
        "",
    ):
        response = await browser.authorize(redirect_to=redirect_to)
        assert response.status_code == 400, redirect_to
        assert response.json()["error"] == "invalid_redirect"
        assert "location" not in response.headers
    missing = await browser.client.get("/auth/oauth/corp/authorize")
    assert missing.status_code == 400
    assert oidc_provider.authorize_requests == []


async def test_redirect_to_keeps_its_own_query(oauth, oidc_provider):
    await make_user("ada@example.com")
    oidc_provider.knobs.account = Account("sub-ada", "ada@example.com")
    browser = await oauth.browser()
    response = await browser.sign_in(redirect_to="http://localhost:5173/welcome?tab=2&code=old")
    target, params = redirect_target(response)
    assert target == "http://localhost:5173/welcome"
    assert params["tab"] == "2"
    assert params["code"] != "old"
    assert ALLOWLIST[1] == "http://localhost:5173/"


async def test_unknown_provider_is_404(oauth):
    browser = await oauth.browser()
    authorize = await browser.authorize("nope")
    callback = await browser.client.get("/auth/oauth/nope/callback", params={"state": "x"})
    for response in (authorize, callback):
        assert response.status_code == 404
        assert response.json()["error"] == "unknown_provider"


async def test_provider_unreachable(oauth, oidc_provider, monkeypatch):
    monkeypatch.setenv("STAFFGRAPH_OAUTH_CORP_ISSUER", "http://127.0.0.1:9")  # discard port
    browser = await oauth.browser()
    response = await browser.authorize()
    assert redirect_target(response) == (FRONTEND, {"error": "provider_unavailable"})


async def test_provider_going_down_mid_sign_in(oauth, monkeypatch):
    await make_user("ada@example.com")
    short_lived = FakeProvider("oidc")
    with serving(short_lived.app) as url:
        short_lived.issuer = url
        short_lived.register_client(*OIDC_CLIENT, f"{PUBLIC_URL}/auth/oauth/corp/callback")
        short_lived.knobs.account = Account("sub-ada", "ada@example.com")
        monkeypatch.setenv("STAFFGRAPH_OAUTH_CORP_ISSUER", url)
        browser = await oauth.browser()
        location = await browser.at_provider(await browser.authorize())
    response = await browser.callback(location)  # the token endpoint is gone now
    assert redirect_target(response)[1] == {"error": "provider_unavailable"}
    await _no_sign_in_happened()


async def test_unexpected_errors_become_a_redirect_not_a_500(oauth, oidc_provider, monkeypatch):
    from staffgraph.resolvers import oauth as oauth_resolvers

    async def broken(*args, **kwargs):
        raise RuntimeError("database on fire")

    monkeypatch.setattr(oauth_resolvers, "sign_in", broken)
    oidc_provider.knobs.account = Account("sub-ada", "ada@example.com")
    browser = await oauth.browser()
    response = await browser.sign_in()
    assert redirect_target(response) == (FRONTEND, {"error": "server_error"})


async def test_pending_sign_ins_live_in_redis_when_configured(oauth, oidc_provider, redis_url):
    if redis_url is None:
        pytest.skip("STAFFGRAPH_TEST_REDIS_URL is not set")
    from redis.asyncio import Redis

    await make_user("ada@example.com")
    oidc_provider.knobs.account = Account("sub-ada", "ada@example.com")
    first, second = await oauth.app(), await oauth.app()  # two instances sharing Redis
    browser = await oauth.browser(first)
    location = await browser.at_provider(await browser.authorize())
    async with Redis.from_url(redis_url) as redis:
        assert len(await redis.keys("staffgraph:oauth-state:*")) == 1
        # the callback lands on the other instance, with the same browser cookie
        other = await oauth.browser(second)
        other.client.cookies = browser.client.cookies
        assert "code" in redirect_target(await other.callback(location))[1]
        assert await redis.keys("staffgraph:oauth-state:*") == []
