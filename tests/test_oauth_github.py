"""The GitHub preset: OAuth 2 without OpenID, the verified primary email from ``/user/emails``.

Against a small GitHub look-alike on loopback serving GitHub Enterprise's paths.
"""

from __future__ import annotations

from staffgraph.models import AuditAction, AuditEvent, OAuthAccount
from tests.conftest import make_user
from tests.oidc_provider import Account, harness
from tests.oidc_provider.harness import (
    FRONTEND,
    GITHUB_CLIENT,
    PUBLIC_URL,
    query_of,
    redirect_target,
)

# the harness's fixtures, used by name below
oidc_provider = harness.oidc_provider
github_provider = harness.github_provider
provider_env = harness.provider_env
oauth = harness.oauth


async def test_github_sign_in_links_by_verified_primary_email(oauth, github_provider):
    user = await make_user("grace@example.com")
    github_provider.knobs.account = Account("4242", "grace@example.com", name=None)
    browser = await oauth.browser()

    authorize = await browser.authorize("gh")
    assert authorize.headers["location"].startswith(
        github_provider.issuer + "/login/oauth/authorize?"
    )
    sent = query_of(authorize.headers["location"])
    assert sent["client_id"] == GITHUB_CLIENT[0]
    assert sent["scope"] == "read:user user:email"
    assert sent["redirect_uri"] == f"{PUBLIC_URL}/auth/oauth/gh/callback"
    assert sent["code_challenge_method"] == "S256"
    assert "nonce" not in sent

    response = await browser.callback(await browser.at_provider(authorize))
    target, params = redirect_target(response)
    assert target == FRONTEND
    body = await browser.exchange(params["code"])
    assert body["data"]["exchangeOAuthCode"]["user"]["id"] == str(user.id)

    account = await OAuthAccount.get(provider="gh")
    assert (account.subject, account.user_id) == ("4242", user.id)  # the numeric user id
    assert await AuditEvent.filter(action=AuditAction.OAUTH_LINKED).count() == 1
    assert github_provider.token_requests[-1]["code_verifier"]


async def test_github_unverified_or_missing_primary_email_is_refused(oauth, github_provider):
    await make_user("grace@example.com")
    browser = await oauth.browser(oauth_auto_provision=True)
    github_provider.knobs.account = Account("4242", "grace@example.com", email_verified=False)
    assert redirect_target(await browser.sign_in("gh"))[1] == {"error": "email_not_verified"}

    # a verified address that is not the primary one is not taken either
    github_provider.knobs.account = Account("4242", None)
    assert redirect_target(await browser.sign_in("gh"))[1] == {"error": "email_not_verified"}
    assert await OAuthAccount.all().count() == 0


async def test_github_auto_provisioning_uses_the_login_as_name(oauth, github_provider):
    github_provider.knobs.account = Account("77", "new@example.com", name=None)
    browser = await oauth.browser(oauth_auto_provision=True)
    code = redirect_target(await browser.sign_in("gh"))[1]["code"]
    body = await browser.exchange(code)
    assert body["data"]["exchangeOAuthCode"]["user"]["email"] == "new@example.com"
    account = await OAuthAccount.get(provider="gh", subject="77").prefetch_related("user")
    assert account.user.display_name == "user77"
    assert account.user.password_hash is None


async def test_github_bad_code_is_refused(oauth, github_provider):
    await make_user("grace@example.com")
    github_provider.knobs.account = Account("4242", "grace@example.com")
    browser = await oauth.browser()
    location = await browser.at_provider(await browser.authorize("gh"))
    response = await browser.callback(location.replace("code=", "code=bogus"))
    assert redirect_target(response)[1] == {"error": "token_exchange_failed"}
